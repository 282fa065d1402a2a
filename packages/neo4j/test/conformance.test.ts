import { Conformance } from "@polysaga/testing/conformance"
import * as Effect from "effect/Effect"
import * as Neo4j from "../src/index.js"
import { config, fromRow, nodes, rawDriver, reset } from "./utils.js"

Conformance.run({
  name: "neo4j",
  sourceType: "graph",
  schemaful: false,
  atomicRelativeUndo: true,
  numRuns: 25,
  make: Effect.gen(function*() {
    const store = yield* Neo4j.make(config(20))
    const driver = yield* rawDriver
    return {
      store,
      reset: (entity) => Effect.asVoid(reset(driver, entity)),
      snapshot: (entity) => nodes(driver, entity),
      fromRow
    }
  })
})
