/**
 * `@polysaga/neo4j`'s README, "In a saga" (kept here, where `@polysaga/saga` and the adapter are both at hand): run by
 * `tools/readme` against the stack (`.stack/env`); the card is declined, so the node is deleted again, and it exits.
 */
// #region readme
import * as Neo4j from "@polysaga/neo4j"
import { Saga, Step } from "@polysaga/saga"
import { Operation, type Store } from "@polysaga/store"
import { Data, Effect, Redacted } from "effect"

class CardDeclined extends Data.TaggedError("CardDeclined")<{ readonly reason: string }> {}

const graphStep = (store: Store, op: Operation.Operation) =>
  Step.make({ name: "graph", action: store.execute(op), compensate: (outcome) => store.undo(outcome.undo) })

const chargeCard = Step.make({ name: "charge-card", action: Effect.fail(new CardDeclined({ reason: "expired" })) })

const checkout = Saga.make(
  "checkout",
  Effect.gen(function*() {
    const store = yield* Neo4j.Neo4jStore
    const op = yield* Operation.parse({
      operation: "insert",
      from: { type: "graph", tag: "graph", entity: "ReadmeCheckout" },
      data: { id: "checkout-1", at: new Date() }
    })
    const outcome = yield* Saga.step(graphStep(store, op)) // undone if a later step fails
    yield* Saga.step(chargeCard)
    return outcome.records
  })
)

const result = await Saga.execute(checkout).pipe(
  Effect.provide(Neo4j.layer({ url: Redacted.make(process.env.POLYSAGA_NEO4J_URL!) })),
  Effect.runPromise
)
console.log(result.status, result.compensatedSteps) // compensated [ 'graph' ]
// #endregion readme

if (result.status !== "compensated") throw new Error(`expected compensated, got ${result.status}`)
