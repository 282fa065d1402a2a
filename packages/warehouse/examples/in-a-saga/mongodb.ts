/**
 * `@polysaga/mongodb`'s README, "In a saga" (kept here, where `@polysaga/saga` and the adapter are both at hand): run
 * by `tools/readme` against the stack (`.stack/env`); the card is declined, so the reservation is undone, and it
 * exits.
 */
import { MongoClient } from "mongodb"

// what the example needs: a product with stock
const client = await new MongoClient(process.env.POLYSAGA_MONGO_URL!).connect()
await client.db("readme_shop").collection("inventory").deleteMany({ productId: "p2" })
await client.db("readme_shop").collection("inventory").insertOne({ productId: "p2", quantity: 5 })

// #region readme
import * as MongoStore from "@polysaga/mongodb"
import { Saga, Step } from "@polysaga/saga"
import { Operation, type Store } from "@polysaga/store"
import { Data, Effect, Redacted } from "effect"

class CardDeclined extends Data.TaggedError("CardDeclined")<{ readonly reason: string }> {}

const reserve = (store: Store, op: Operation.Operation) =>
  Step.make({
    name: "reserve-stock",
    action: store.execute(op),
    compensate: (outcome) => store.undo(outcome.undo)
  })

const chargeCard = Step.make({ name: "charge-card", action: Effect.fail(new CardDeclined({ reason: "expired" })) })

const order = Saga.make(
  "order",
  Effect.gen(function*() {
    const store = yield* MongoStore.MongoStore
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
  Effect.provide(MongoStore.layer({ url: Redacted.make(process.env.POLYSAGA_MONGO_URL!), database: "readme_shop" })),
  Effect.runPromise
)
console.log(result.status, result.compensatedSteps) // compensated [ 'reserve-stock' ]
// #endregion readme

const left = await client.db("readme_shop").collection("inventory").findOne({ productId: "p2" })
await client.close()
if (result.status !== "compensated" || left?.quantity !== 5) {
  throw new Error(`expected compensated with 5 left, got ${result.status} with ${left?.quantity}`)
}
