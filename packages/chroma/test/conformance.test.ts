import { Conformance } from "@polysaga/testing/conformance"
import * as Effect from "effect/Effect"
import * as ChromaStore from "../src/index.js"
import { config, fieldOf, fromRow, rawClient, reset, snapshot, toRow } from "./harness.js"

Conformance.run({
  name: "chroma",
  sourceType: "vector",
  schemaful: false,
  // Chroma has no conditional writes: an undo's relative inverse is a read-modify-write that another process
  // can interleave with (within one Store instance, writes to a record are serialized)
  atomicRelativeUndo: false,
  make: Effect.gen(function*() {
    const store = yield* ChromaStore.make(config())
    const client = rawClient()
    return {
      store,
      reset: (entity) => reset(client, entity),
      snapshot: (entity) => snapshot(client, entity),
      toRow,
      fromRow,
      fieldOf
    }
  })
})
