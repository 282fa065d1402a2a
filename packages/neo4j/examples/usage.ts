/**
 * The README's examples of the store alone, run by `tools/readme` against the stack (`.stack/env`): a product with
 * stock, one sold (update, undone), and a relationship between two nodes inserted (then undone). Exits by itself.
 */
import neo4j from "neo4j-driver"

// what the example needs: a product with stock, a customer and an order
const driver = neo4j.driver(process.env.POLYSAGA_NEO4J_URL!)
await driver.executeQuery("MATCH (n) WHERE n:ReadmeProduct OR n:ReadmeCustomer OR n:ReadmeOrder DETACH DELETE n")
await driver.executeQuery(
  "CREATE (:ReadmeProduct { sku: 'A-1', stock: 3, tags: [] }), (:ReadmeCustomer { id: 'c1' }), (:ReadmeOrder { id: 'o1' })"
)
await driver.close()

// #region readme:alone
import * as Neo4j from "@polysaga/neo4j"
import { Operation } from "@polysaga/store"
import { Effect, Redacted } from "effect"

const Neo4jLive = Neo4j.layer({ url: Redacted.make(process.env.POLYSAGA_NEO4J_URL!) })
// or: Neo4j.layerConfig({ url: Config.redacted("NEO4J_URL"), user: Config.string("NEO4J_USER"),
//                         password: Config.redacted("NEO4J_PASSWORD") })

const program = Effect.gen(function*() {
  const store = yield* Neo4j.Neo4jStore
  const op = yield* Operation.parse({
    operation: "update",
    from: { type: "graph", tag: "graph", entity: "ReadmeProduct" },
    data: { stock: { $decrement: 1 }, tags: { $push: "sold" } },
    where: { sku: "A-1", stock: { $gte: 1 } }
  })
  yield* store.validate(op) // capabilities and identifiers, nothing written
  const { records, undo } = yield* store.execute(op)
  // `undo` is plain JSON: journal it, and later (in any process):
  yield* store.undo(undo)
  return records
})

console.log(await program.pipe(Effect.provide(Neo4jLive), Effect.runPromise))
// #endregion readme:alone

// #region readme:relationship
const placed = {
  operation: "insert",
  from: { type: "graph", tag: "g", entity: "README_PLACED" },
  data: {
    from: { label: "ReadmeCustomer", match: { id: "c1" } },
    to: { label: "ReadmeOrder", match: { id: "o1" } },
    at: new Date()
  }
}
// #endregion readme:relationship

await Effect.gen(function*() {
  const store = yield* Neo4j.Neo4jStore
  const { records, undo } = yield* store.execute(yield* Operation.parse(placed))
  console.log("relationship", records)
  yield* store.undo(undo)
}).pipe(Effect.provide(Neo4jLive), Effect.runPromise)
