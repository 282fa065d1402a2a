/**
 * A consumer of the packed `@polysaga/saga` alone: a two-step saga whose second step fails, so the first is
 * compensated. Exits 1 when the outcome is not the expected one.
 */
import { Saga, Step } from "@polysaga/saga"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"

class Declined extends Data.TaggedError("Declined")<{ readonly reason: string }> {}

const ledger: Array<string> = []

const reserve = Step.make({
  name: "reserve",
  action: Effect.sync(() => {
    ledger.push("reserved")
    return { sku: "apple", quantity: 2 }
  }),
  compensate: (reservation) => Effect.sync(() => void ledger.push(`released ${reservation.quantity}`))
})

const charge = Step.make({
  name: "charge",
  action: Effect.fail(new Declined({ reason: "card declined" }))
})

const placeOrder = Saga.make(
  "placeOrder",
  Effect.gen(function*() {
    yield* Saga.step(reserve)
    yield* Saga.step(charge)
  })
)

const result = await Effect.runPromise(Saga.execute(placeOrder))
const expected = ["reserved", "released 2"]
if (result.status !== "compensated" || JSON.stringify(ledger) !== JSON.stringify(expected)) {
  console.error(`saga-alone: expected compensated with ${JSON.stringify(expected)}, got`, result.status, ledger)
  process.exit(1)
}
console.log(`saga-alone: ${result.status}, compensated ${JSON.stringify(result.compensatedSteps)}`)
