/**
 * The README's example, as a test of this suite (the README's block is checked against the region by
 * `tools/readme`).
 */
// #region readme
import { assert, it } from "@effect/vitest"
import { Saga, Step } from "@polysaga/saga"
import { checkAtomicity, faultPlan, injectFaults } from "@polysaga/testing"
import { Effect, Schedule } from "effect"

it.effect.prop(
  "placing an order is atomic",
  [faultPlan(["reserve", "charge"])],
  ([plan]) =>
    Effect.gen(function*() {
      const stock = new Map([["apple", 3]])
      const charges: Array<number> = []
      // Build the saga inside the property: fault counters live in the wrapped steps.
      const inject = injectFaults(plan, { retry: Schedule.recurs(2), compensationRetry: Schedule.recurs(2) })
      const saga = Saga.make(
        "order",
        Effect.gen(function*() {
          yield* Saga.step(inject(Step.make({
            name: "reserve",
            action: Effect.sync(() => void stock.set("apple", stock.get("apple")! - 1)),
            compensate: () => Effect.sync(() => void stock.set("apple", stock.get("apple")! + 1))
          })))
          yield* Saga.step(inject(Step.make({
            name: "charge",
            action: Effect.sync(() => charges.push(10)),
            compensate: () => Effect.sync(() => void charges.pop())
          })))
        })
      )
      const result = yield* checkAtomicity({
        saga,
        state: Effect.sync(() => ({ stock: Object.fromEntries(stock), charges: [...charges] })),
        completed: (after) => after.charges.length === 1 || "the charge is missing"
      })
      assert.include(["completed", "compensated", "failed"], result.status)
    }),
  // 200 runs take seconds: more than vitest's default 5 s test timeout
  { fastCheck: { numRuns: 200 }, timeout: 60_000 }
)
// #endregion readme
