/**
 * A consumer of the packed `@polysaga/warehouse` + `@polysaga/postgres`: creates its table in a schema of its own,
 * runs the seed's insert as a transaction against `POLYSAGA_PG_URL`, reads the row back, and exits.
 */
import { PgClient } from "@effect/sql-pg"
import { createWarehouse } from "@polysaga/warehouse"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

const url = process.env["POLYSAGA_PG_URL"]
if (url === undefined) throw new Error("seed-postgres: POLYSAGA_PG_URL is not set (run `pnpm stack:up`)")

const sql = (statements: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const client = yield* PgClient.PgClient
    const rows: Array<unknown> = []
    for (const statement of statements) rows.push(...(yield* client.unsafe(statement)))
    return rows
  }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url) })), Effect.scoped, Effect.runPromise)

await sql([
  "CREATE SCHEMA IF NOT EXISTS polysaga_consumer",
  "DROP TABLE IF EXISTS polysaga_consumer.orders",
  "CREATE TABLE polysaga_consumer.orders (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), \"userId\" text NOT NULL, " +
  "total numeric(10,2) NOT NULL, status text NOT NULL)"
])

const warehouse = await createWarehouse({
  sources: [{ tag: "orders-postgres", type: "database", engine: "postgres", url, schema: "polysaga_consumer" }]
})
try {
  const result = await warehouse.transaction([
    {
      operation: "insert",
      from: { type: "database", tag: "orders-postgres", entity: "orders" },
      data: { userId: "user_123", total: 99.99, status: "pending" }
    }
  ])
  const rows = await sql(["SELECT \"userId\", total::text AS total FROM polysaga_consumer.orders"])
  if (
    result.status !== "completed" || JSON.stringify(rows) !== JSON.stringify([{ userId: "user_123", total: "99.99" }])
  ) {
    console.error("seed-postgres: expected a completed transaction and one row, got", result.status, rows)
    process.exitCode = 1
  } else {
    console.log(`seed-postgres: ${result.status} in ${result.executionTime} ms, row ${JSON.stringify(rows[0])}`)
  }
} finally {
  await warehouse.close()
}
