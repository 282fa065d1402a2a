/**
 * The journal README's second example (with the warehouse), run by `tools/readme` against the stack
 * (`.stack/env`): a warehouse transaction journaled to a PostgreSQL journal in a database of its own, with the
 * recovery runner on `Warehouse.registry`; it creates the table it writes, checks the row and the journal, and exits.
 */
import * as PgClient from "@effect/sql-pg/PgClient"

// what the example needs: a database (JOURNAL_URL) with a table `orders` in the schema `readme_journal`
process.env.JOURNAL_URL = Redacted.value(
  await Effect.runPromise(PostgresJournal.createDatabase(process.env.POLYSAGA_PG_URL!, "polysaga_readme_journal"))
)
const sql = PgClient.layer({ url: Redacted.make(process.env.JOURNAL_URL) })
await Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  yield* sql`CREATE SCHEMA IF NOT EXISTS readme_journal`
  yield* sql`CREATE TABLE IF NOT EXISTS readme_journal.orders (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "userId" text NOT NULL, total numeric(10, 2) NOT NULL)`
}).pipe(Effect.provide(sql), Effect.runPromise)

// #region readme
import { Journal, PostgresJournal, Recovery } from "@polysaga/journal"
import * as Postgres from "@polysaga/postgres"
import { Warehouse } from "@polysaga/warehouse"
import { Effect, Layer, Redacted } from "effect"

const url = Redacted.make(process.env.JOURNAL_URL!)
const sources = [{
  tag: "orders-db",
  type: "database" as const,
  store: Postgres.make({ url, schema: "readme_journal" })
}]

const Base = Warehouse.layer({ sources }).pipe(Layer.provideMerge(PostgresJournal.layer({ url })))
const AppLive = Recovery.layer(Warehouse.registry).pipe(Layer.provideMerge(Base))
// or the Promise facade: createWarehouse({ sources, journal: PostgresJournal.layer({ url }) })

const program = Effect.gen(function*() {
  const result = yield* Warehouse.transaction([{
    operation: "insert",
    from: { type: "database", tag: "orders-db", entity: "orders" },
    data: { userId: "user_123", total: 42 }
  }])
  const [saga] = yield* Journal.list({ limit: 1 })
  return { result, saga }
})
const { result, saga } = await program.pipe(Effect.provide(AppLive), Effect.runPromise)
console.log(result.status, saga?.id === result.id, saga?.status) // completed true completed
// #endregion readme

const [row] = await Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  return yield* sql<{ userId: string }>`SELECT "userId" FROM readme_journal.orders WHERE id = ${
    String(result.stepResults.step_0?.data?.[0]?.id)
  }`
}).pipe(Effect.provide(sql), Effect.runPromise)
if (result.status !== "completed" || saga?.id !== result.id || row?.userId !== "user_123") {
  throw new Error(`expected the order and its completed saga ${result.id}: ${JSON.stringify({ saga, row })}`)
}
