/**
 * The README's "API in one screen", run by `tools/readme` (in-memory orders and stock from `shop.ts`: the engine
 * alone needs no store): every value it defines is run below, and checked.
 */
import { charge, input, type Item, type OrderInput, orders, payment, program, stock } from "./shop.js"

// #region readme
import { Saga, SagaJournal, Step } from "@polysaga/saga"
import { Effect, Schedule, Schema } from "effect"

// A step: an action and the compensation that undoes it (it gets the action's result and the failure's Cause).
const createOrder = (input: OrderInput) =>
  Step.make({
    name: "createOrder",
    action: orders.insert(input), // Effect<Order, OrderError>
    compensate: (order, _cause) => orders.delete(order.id),
    retry: Schedule.exponential("50 millis").pipe(Schedule.intersect(Schedule.recurs(3))), // transient errors only
    timeout: "2 seconds", // per attempt; a timed-out attempt is a transient StepTimeout
    compensationRetry: Schedule.recurs(5) // default: exponential from 100 ms, jittered, 5 retries
  })

// A journal-able step: a named definition whose compensation depends only on the Schema-encoded result.
const reservation = Step.define({
  name: "reserve",
  result: Schema.Struct({ sku: Schema.String, quantity: Schema.Number }),
  compensate: (r) => stock.release(r.sku, r.quantity)
})
const reserve = (item: Item) => Step.fromDefinition(reservation, stock.take(item), { id: `reserve:${item.sku}` })

// A saga: later steps use earlier results; concurrent groups are plain Effect.all with a bound.
const placeOrder = (input: OrderInput) =>
  Saga.make(
    "placeOrder",
    Effect.gen(function*() {
      const order = yield* Saga.step(createOrder(input))
      yield* Effect.all(order.items.map((item) => Saga.step(reserve(item))), { concurrency: 4 })
      yield* Saga.step(payment) // a Saga is a step too: nested sagas compensate with their parent
      return order.id
    })
  )

// A dependency graph: nodes run when what they need is done, at most `concurrency` at a time.
const graph = Saga.graph()
  .add("order", [], () => Saga.step(createOrder(input)))
  .add("stock", ["order"], ({ order }) => Saga.step(reserve(order.items[0]!)))
  .add("charge", ["order"], ({ order }) => Saga.step(charge(order)))
  .run({ concurrency: 2 })

// Running
const value = Saga.run(placeOrder(input)) // Effect<string, SagaError>: the value, or StepFailed | CompensationFailed | SagaTimeout | SagaDefinitionError
const record = Saga.execute(placeOrder(input), { id: "order-42", timeout: "30 seconds", compensateOnTimeout: true })
// Effect<SagaResult<string>, never>: { id, status, executionTime, steps, completedSteps,
//   compensatedSteps, pendingCompensations, error?, compensationError?, value? }

// Journal + recovery
const journaled = program.pipe(Effect.provide(SagaJournal.layerMemory)) // or a durable journal (@polysaga/journal)
const recovery = Saga.recoverAll(Step.registry(reservation /* , … */)) // at start-up: undo what a dead process left
// #endregion readme

const results = await Effect.gen(function*() {
  const first = yield* value
  const second = yield* record
  const nodes = yield* Saga.execute(Saga.make("graph", graph))
  const undone = yield* journaled
  const recovered = yield* recovery.pipe(Effect.provide(SagaJournal.layerMemory))
  return { first, second: second.status, graph: nodes.status, undone: undone.status, recovered }
}).pipe(Effect.runPromise)
console.log(results, "stock:", Object.fromEntries(stock.levels))
if (results.second !== "completed" || results.graph !== "completed" || results.undone !== "compensated") {
  throw new Error(`unexpected: ${JSON.stringify(results)}`)
}
