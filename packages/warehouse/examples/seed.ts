/**
 * The warehouse README's first example (the seed's basic transaction, as written), run by `tools/readme` against
 * the stack (`.stack/env`): it creates its table; the Chroma collection `behaviors` (4 dimensions, like the
 * service's demo) is created by the first write.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { ChromaClient } from "chromadb"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

// what the example needs: a table `orders` in the schema `seed_example` (Neo4j needs nothing); the collection
// `behaviors` is dropped first, in case an earlier run of something else made it with another dimension
await new ChromaClient({ path: process.env.POLYSAGA_CHROMA_URL! }).deleteCollection({ name: "behaviors" }).catch(
  () => undefined
)
await Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  yield* sql`CREATE SCHEMA IF NOT EXISTS seed_example`
  yield* sql`CREATE TABLE IF NOT EXISTS seed_example.orders (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "userId" text NOT NULL, total numeric(10, 2) NOT NULL, status text NOT NULL)`
}).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(process.env.POLYSAGA_PG_URL!) })), Effect.runPromise)

// #region readme
import { createWarehouse } from "@polysaga/warehouse"

const ductape = {
  warehouse: await createWarehouse({
    sources: [
      {
        tag: "orders-postgres",
        type: "database",
        engine: "postgres",
        url: process.env.POLYSAGA_PG_URL!,
        schema: "seed_example"
      },
      { tag: "activity-neo4j", type: "graph", engine: "neo4j", url: process.env.POLYSAGA_NEO4J_URL! },
      { tag: "user-behavior", type: "vector", engine: "chroma", url: process.env.POLYSAGA_CHROMA_URL!, dimension: 4 }
    ]
  })
}
const purchaseBehaviorVector = [0.12, 0.56, 0.33, 0.91]

const result = await ductape.warehouse.transaction([
  // Step 1: Create order in PostgreSQL
  {
    operation: "insert",
    from: { type: "database", tag: "orders-postgres", entity: "orders" },
    data: { userId: "user_123", total: 99.99, status: "pending" }
  },
  // Step 2: Create event in Neo4j graph
  {
    operation: "insert",
    from: { type: "graph", tag: "activity-neo4j", entity: "OrderEvent" },
    data: { type: "ORDER_PLACED", userId: "user_123", timestamp: new Date().toISOString() }
  },
  // Step 3: Update user behavior vector
  {
    operation: "upsert",
    from: { type: "vector", tag: "user-behavior", entity: "behaviors" },
    data: { id: "user_123_purchase", vector: purchaseBehaviorVector, metadata: { action: "purchase", amount: 99.99 } }
  }
])

if (result.status === "completed") {
  console.log("Transaction successful")
} else if (result.status === "compensated") {
  console.log("Transaction rolled back:", result.error)
}

await ductape.warehouse.close()
// #endregion readme

if (result.status !== "completed") process.exitCode = 1
