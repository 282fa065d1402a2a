/**
 * `@polysaga/postgres`'s README, "In a saga" (kept here, where `@polysaga/saga` and the adapter are both at hand): run
 * by `tools/readme` against the stack (`.stack/env`); the card is declined, so the reservation is undone, and it exits.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

// what the example needs: a table with a product in stock
await Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  yield* sql`CREATE SCHEMA IF NOT EXISTS readme_shop`
  yield* sql`CREATE TABLE IF NOT EXISTS readme_shop.inventory ("productId" text PRIMARY KEY, quantity integer NOT NULL)`
  yield* sql`INSERT INTO readme_shop.inventory VALUES ('p2', 5) ON CONFLICT ("productId") DO UPDATE SET quantity = 5`
}).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(process.env.POLYSAGA_PG_URL!) })), Effect.runPromise)

// #region readme
import * as Postgres from "@polysaga/postgres"
import { Saga, Step } from "@polysaga/saga"
import { Operation, type Store } from "@polysaga/store"
import { Data } from "effect"

class CardDeclined extends Data.TaggedError("CardDeclined")<{ readonly reason: string }> {}

const reserve = (store: Store, op: Operation.Operation) =>
  Step.make({ name: "reserve", action: store.execute(op), compensate: (outcome) => store.undo(outcome.undo) })

const chargeCard = Step.make({ name: "charge-card", action: Effect.fail(new CardDeclined({ reason: "expired" })) })

const order = Saga.make(
  "order",
  Effect.gen(function*() {
    const store = yield* Postgres.PostgresStore
    const op = yield* Operation.parse({
      operation: "update",
      from: { type: "database", tag: "inventory-db", entity: "inventory" },
      data: { quantity: { $decrement: 2 } },
      where: { productId: "p2", quantity: { $gte: 2 } }
    })
    yield* Saga.step(reserve(store, op)) // undone if a later step fails
    yield* Saga.step(chargeCard)
  })
)

const result = await Saga.execute(order).pipe(
  Effect.provide(Postgres.layer({ url: Redacted.make(process.env.POLYSAGA_PG_URL!), schema: "readme_shop" })),
  Effect.runPromise
)
console.log(result.status, result.compensatedSteps) // compensated [ 'reserve' ]
// #endregion readme

if (result.status !== "compensated") throw new Error(`expected compensated, got ${result.status}`)
