/**
 * The README's example of the store alone, run by `tools/readme` against the stack (`.stack/env`): it creates the
 * table `readme_shop.inventory` with one product, reserves two (update, undone) and exits.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

// what the example needs: a table with a product in stock
await Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  yield* sql`CREATE SCHEMA IF NOT EXISTS readme_shop`
  yield* sql`CREATE TABLE IF NOT EXISTS readme_shop.inventory ("productId" text PRIMARY KEY, quantity integer NOT NULL)`
  yield* sql`INSERT INTO readme_shop.inventory VALUES ('p1', 5) ON CONFLICT ("productId") DO UPDATE SET quantity = 5`
}).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(process.env.POLYSAGA_PG_URL!) })), Effect.runPromise)

// #region readme
import * as Postgres from "@polysaga/postgres"
import { Operation } from "@polysaga/store"

const PostgresLive = Postgres.layer({ url: Redacted.make(process.env.POLYSAGA_PG_URL!), schema: "readme_shop" })
// or: Postgres.layerConfig({ url: Config.redacted("DATABASE_URL"), schema: Config.withDefault(Config.string("SCHEMA"), "public") })

const program = Effect.gen(function*() {
  const store = yield* Postgres.PostgresStore
  const op = yield* Operation.parse({
    operation: "update",
    from: { type: "database", tag: "inventory-db", entity: "inventory" },
    data: { quantity: { $decrement: 2 } },
    where: { productId: { $eq: "p1" }, quantity: { $gte: 2 } } // no stock, no match: NoMatch, nothing written
  })
  yield* store.validate(op) // table and columns checked against the catalog, nothing written
  const { records, undo } = yield* store.execute(op, { sagaId: "order-42", stepId: "step_1" })
  yield* store.undo(undo) // `undo` is plain JSON: journal it and apply it later, in any process
  return records
})

console.log(await program.pipe(Effect.provide(PostgresLive), Effect.runPromise))
// #endregion readme
