/**
 * `@polysaga/chroma`'s README, "In a saga" (kept here, where `@polysaga/saga` and the adapter are both at hand): run by
 * `tools/readme` against the stack (`.stack/env`); the card is declined, so the upsert is undone, and it exits.
 */
// #region readme
import * as ChromaStore from "@polysaga/chroma"
import { Saga, Step } from "@polysaga/saga"
import { Operation, type Store } from "@polysaga/store"
import { Data, Effect, Redacted } from "effect"

class CardDeclined extends Data.TaggedError("CardDeclined")<{ readonly reason: string }> {}

const remember = (store: Store, op: Operation.Operation) =>
  Step.make({
    name: "remember-behavior",
    action: store.execute(op),
    compensate: (outcome) => store.undo(outcome.undo)
  })

const chargeCard = Step.make({ name: "charge-card", action: Effect.fail(new CardDeclined({ reason: "expired" })) })

const flow = Saga.make(
  "purchase",
  Effect.gen(function*() {
    const store = yield* ChromaStore.ChromaStore
    const op = yield* Operation.parse({
      operation: "upsert",
      from: { type: "vector", tag: "user-behavior", entity: "readme_behaviors" },
      data: { id: "user_7_purchase", vector: [0.3, 0.1, 0.9], metadata: { action: "purchase" } }
    })
    yield* Saga.step(remember(store, op)) // undone if a later step fails
    yield* Saga.step(chargeCard)
  })
)

const result = await Saga.execute(flow).pipe(
  Effect.provide(ChromaStore.layer({ url: Redacted.make(process.env.POLYSAGA_CHROMA_URL!), dimension: 3 })),
  Effect.runPromise
)
console.log(result.status, result.compensatedSteps) // compensated [ 'remember-behavior' ]
// #endregion readme

if (result.status !== "compensated") throw new Error(`expected compensated, got ${result.status}`)
