/**
 * The root README's example, run by `tools/readme` against the stack (`.stack/env`): it creates its table, writes
 * one order to PostgreSQL and one event to Neo4j in one transaction, prints the status and exits.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

// what the example needs: a table `orders` in the schema `quickstart` (Neo4j needs nothing)
await Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  yield* sql`CREATE SCHEMA IF NOT EXISTS quickstart`
  yield* sql`CREATE TABLE IF NOT EXISTS quickstart.orders (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "userId" text NOT NULL, total numeric(10, 2) NOT NULL, status text NOT NULL)`
}).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(process.env.POLYSAGA_PG_URL!) })), Effect.runPromise)

// #region readme
import { createWarehouse } from "@polysaga/warehouse"

const warehouse = await createWarehouse({
  sources: [
    {
      tag: "orders-postgres",
      type: "database",
      engine: "postgres",
      url: process.env.POLYSAGA_PG_URL!,
      schema: "quickstart"
    },
    { tag: "activity-neo4j", type: "graph", engine: "neo4j", url: process.env.POLYSAGA_NEO4J_URL! }
  ]
})
const result = await warehouse.transaction([
  {
    operation: "insert",
    from: { type: "database", tag: "orders-postgres", entity: "orders" },
    data: { userId: "user_123", total: 99.99, status: "pending" }
  },
  {
    operation: "insert",
    from: { type: "graph", tag: "activity-neo4j", entity: "OrderEvent" },
    data: { type: "ORDER_PLACED", userId: "user_123", timestamp: new Date().toISOString() }
  }
])
console.log(result.status) // "completed" | "compensated" | "failed"
await warehouse.close() // closes the stores' connections; Node exits
// #endregion readme

if (result.status !== "completed") process.exitCode = 1
