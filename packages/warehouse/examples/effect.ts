/**
 * The warehouse README's "With Effect", run by `tools/readme` against the stack (`.stack/env`): it creates the table
 * `readme_effect.orders`, runs one transaction through `Warehouse.layer`, checks the row, and exits.
 */
import * as PgClient from "@effect/sql-pg/PgClient"

// what the example needs: a table `orders` in the schema `readme_effect`
const Sql = PgClient.layer({ url: Redacted.make(process.env.POLYSAGA_PG_URL!) })
await Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  yield* sql`CREATE SCHEMA IF NOT EXISTS readme_effect`
  yield* sql`CREATE TABLE IF NOT EXISTS readme_effect.orders (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "userId" text NOT NULL, total numeric(10, 2) NOT NULL)`
}).pipe(Effect.provide(Sql), Effect.runPromise)

// #region readme
import * as Postgres from "@polysaga/postgres"
import { Warehouse } from "@polysaga/warehouse"
import { Effect, Redacted } from "effect"

const WarehouseLive = Warehouse.layer({
  sources: [{
    tag: "orders-db",
    type: "database",
    store: Postgres.make({ url: Redacted.make(process.env.POLYSAGA_PG_URL!), schema: "readme_effect" })
  }]
})

const program = Warehouse.transaction([
  {
    operation: "insert",
    from: { type: "database", tag: "orders-db", entity: "orders" },
    data: { userId: "user_123", total: 99.99 }
  }
], { retryOnFailure: true })
// Effect<TransactionResult, WarehouseError, Warehouse>
const result = await Effect.runPromise(program.pipe(Effect.provide(WarehouseLive)))
console.log(result.status) // completed
// #endregion readme

const id = String(result.stepResults.step_0?.data?.[0]?.id)
const rows = await Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  return yield* sql<{ userId: string }>`SELECT "userId" FROM readme_effect.orders WHERE id = ${id}`
}).pipe(Effect.provide(Sql), Effect.runPromise)
if (result.status !== "completed" || rows[0]?.userId !== "user_123") {
  throw new Error(`expected the order ${id}: ${JSON.stringify({ result, rows })}`)
}
