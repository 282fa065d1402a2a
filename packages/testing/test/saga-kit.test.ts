import { assert, describe, it } from "@effect/vitest"
import { Saga, Step } from "@polysaga/saga"
import { checkAtomicity, dependencies, faultPlan, injectFaults, sagaShape, stepIds } from "@polysaga/testing"
import type { FaultPlan } from "@polysaga/testing"
import { Effect, FastCheck as FC, Schedule } from "effect"

/** A tiny inventory + ledger, the state a user saga changes. */
const makeShop = (options: { readonly leakyRefund?: boolean } = {}) => {
  const stock = new Map([["apple", 3], ["pear", 1]])
  const charges: Array<number> = []
  const snapshot = Effect.sync(() => ({ stock: Object.fromEntries(stock), charges: [...charges] }))
  const reserve = (sku: string) =>
    Step.make({
      name: "reserve",
      id: `reserve:${sku}`,
      action: Effect.sync(() => {
        stock.set(sku, stock.get(sku)! - 1)
        return sku
      }),
      compensate: (reserved) => Effect.sync(() => void stock.set(reserved, stock.get(reserved)! + 1))
    })
  const charge = Step.make({
    name: "charge",
    action: Effect.sync(() => charges.push(10) - 1),
    compensate: (index) => Effect.sync(() => void (options.leakyRefund ? undefined : charges.splice(index, 1)))
  })
  const order = (plan: FaultPlan) => {
    const inject = injectFaults(plan, { retry: Schedule.recurs(2), compensationRetry: Schedule.recurs(2) })
    return Saga.make(
      "order",
      Effect.gen(function*() {
        yield* Saga.step(inject(reserve("apple")))
        yield* Saga.step(inject(reserve("pear")))
        return yield* Saga.step(inject(charge))
      })
    )
  }
  return { snapshot, order }
}

const ids = ["reserve:apple", "reserve:pear", "charge"]

describe("saga test kit", () => {
  it.effect.prop(
    "a correct saga is atomic under any fault plan",
    [faultPlan(ids, { compensationFailures: false })],
    ([plan]) =>
      Effect.gen(function*() {
        const shop = makeShop()
        const result = yield* checkAtomicity({
          saga: shop.order(plan),
          state: shop.snapshot,
          completed: (after) => after.charges.length === 1 || "no charge"
        })
        assert.strictEqual(result.status, Object.values(plan).some((f) => f.fails) ? "compensated" : "completed")
      }),
    { fastCheck: { numRuns: 200 } }
  )

  it.effect("detects a compensation that does not restore the state", () =>
    Effect.gen(function*() {
      const shop = makeShop({ leakyRefund: true })
      const plan: FaultPlan = {
        "reserve:pear": {
          transientFailures: 0,
          fails: false,
          compensationTransientFailures: 0,
          compensationFails: false
        },
        charge: { transientFailures: 0, fails: false, compensationTransientFailures: 0, compensationFails: false }
      }
      const saga = Saga.make(
        "leaky",
        Effect.gen(function*() {
          yield* Saga.step(shop.order(plan))
          yield* Effect.fail("later failure")
        })
      )
      const violation = yield* Effect.flip(checkAtomicity({ saga, state: shop.snapshot }))
      assert.strictEqual(violation._tag, "AtomicityViolation")
      assert.include(violation.message, "state differs")
    }))

  it.effect("a compensation failing for good makes the saga failed, with what is left listed", () =>
    Effect.gen(function*() {
      const shop = makeShop()
      const none = { transientFailures: 0, fails: false, compensationTransientFailures: 0, compensationFails: false }
      const result = yield* checkAtomicity({
        saga: shop.order({
          "reserve:apple": none,
          "reserve:pear": { ...none, compensationTransientFailures: 1, compensationFails: true },
          charge: { ...none, transientFailures: 2, fails: true }
        }),
        state: shop.snapshot
      })
      assert.strictEqual(result.status, "failed")
      assert.deepStrictEqual(result.pendingCompensations, ["reserve:pear", "reserve:apple"])
      assert.strictEqual(result.steps["charge"]?.attempts, 3)
      assert.strictEqual(result.steps["reserve:pear"]?.status, "compensationFailed")
    }))

  it.prop("shapes have unique step ids and dependencies between them", [sagaShape()], ([shape]) => {
    const all = stepIds(shape)
    assert.strictEqual(new Set(all).size, all.length)
    for (const [before, after] of dependencies(shape)) {
      assert.isTrue(all.indexOf(before) < all.indexOf(after))
    }
  }, { fastCheck: { numRuns: 200 } })

  it.prop("fault plans fail at most one step", [FC.constant(ids).chain((xs) => faultPlan(xs))], ([plan]) => {
    assert.isAtMost(Object.values(plan).filter((f) => f.fails).length, 1)
    assert.sameMembers(Object.keys(plan), ids)
  }, { fastCheck: { numRuns: 200 } })
})
