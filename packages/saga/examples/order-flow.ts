/**
 * The order flow: create an order, reserve inventory per item (concurrently), charge the payment, log an event —
 * against in-memory services. One run completes; one is declined at payment and undoes itself.
 *
 * Run with `pnpm example` from the repository root.
 */
import { Saga, SagaJournal, Step } from "@polysaga/saga"
import { Console, Context, Data, Effect, Layer, Schedule, Schema } from "effect"

// ---- in-memory services -----------------------------------------------------------------------------------------

class PaymentDeclined extends Data.TaggedError("PaymentDeclined")<{ readonly card: string }> {}
class OutOfStock extends Data.TaggedError("OutOfStock")<{ readonly sku: string }> {}

class Store extends Context.Tag("example/Store")<Store, {
  readonly orders: Map<string, { readonly customer: string; status: string }>
  readonly stock: Map<string, number>
  readonly charges: Map<string, number>
  readonly events: Array<string>
}>() {
  static readonly layer = Layer.sync(Store, () => ({
    orders: new Map(),
    stock: new Map([["apple", 10], ["pear", 5]]),
    charges: new Map(),
    events: []
  }))
}

// ---- steps ------------------------------------------------------------------------------------------------------

interface Item {
  readonly sku: string
  readonly quantity: number
}

const createOrder = (orderId: string, customer: string) =>
  Step.make({
    name: "createOrder",
    action: Effect.gen(function*() {
      const store = yield* Store
      store.orders.set(orderId, { customer, status: "pending" })
      return { orderId }
    }),
    compensate: ({ orderId }) => Effect.map(Store, (store) => void store.orders.delete(orderId))
  })

/** A journal-able definition: its compensation depends only on the (encoded) reservation. */
const Reservation = Schema.Struct({ sku: Schema.String, quantity: Schema.Number })
const reservation = Step.define({
  name: "reserve",
  result: Reservation,
  compensate: ({ quantity, sku }) =>
    Effect.map(Store, (store) => void store.stock.set(sku, store.stock.get(sku)! + quantity))
})
const reserve = (item: Item) =>
  Step.fromDefinition(
    reservation,
    Effect.flatMap(Store, (store) => {
      const left = store.stock.get(item.sku) ?? 0
      if (left < item.quantity) return Effect.fail(new OutOfStock({ sku: item.sku }))
      store.stock.set(item.sku, left - item.quantity)
      return Effect.succeed(item)
    }),
    { id: `reserve:${item.sku}`, retry: Schedule.recurs(2) }
  )

const charge = (orderId: string, card: string, amount: number) =>
  Step.make({
    name: "charge",
    action: Effect.flatMap(Store, (store) => {
      if (card === "4000-0000-0000-0002") return Effect.fail(new PaymentDeclined({ card }))
      store.charges.set(orderId, amount)
      return Effect.succeed(amount)
    }),
    compensate: () => Effect.map(Store, (store) => void store.charges.delete(orderId)),
    retry: Schedule.exponential("10 millis").pipe(Schedule.intersect(Schedule.recurs(3))),
    timeout: "1 second"
  })

const logEvent = (message: string) =>
  Step.make({
    name: "logEvent",
    action: Effect.map(Store, (store) => void store.events.push(message))
  })

// ---- the saga ---------------------------------------------------------------------------------------------------

const placeOrder = (input: {
  readonly orderId: string
  readonly customer: string
  readonly card: string
  readonly items: ReadonlyArray<Item>
}) =>
  Saga.make(
    "placeOrder",
    Effect.gen(function*() {
      const { orderId } = yield* Saga.step(createOrder(input.orderId, input.customer))
      yield* Effect.all(input.items.map((item) => Saga.step(reserve(item))), { concurrency: 4 })
      const amount = yield* Saga.step(charge(orderId, input.card, input.items.length * 10))
      yield* Saga.step(logEvent(`order ${orderId} charged ${amount}`))
      return { orderId, amount }
    })
  )

const program = Effect.gen(function*() {
  const store = yield* Store
  const items = [{ sku: "apple", quantity: 2 }, { sku: "pear", quantity: 1 }]

  const ok = yield* Saga.execute(placeOrder({ orderId: "o-1", customer: "ada", card: "4242", items }), {
    id: "saga-1",
    timeout: "5 seconds"
  })
  yield* Console.log("completed run:", {
    status: ok.status,
    value: ok.value,
    steps: Object.keys(ok.steps),
    executionTime: `${ok.executionTime} ms`
  })
  yield* Console.log("  store:", { orders: [...store.orders.keys()], stock: Object.fromEntries(store.stock) })

  const declined = yield* Saga.execute(
    placeOrder({ orderId: "o-2", customer: "bob", card: "4000-0000-0000-0002", items }),
    { id: "saga-2" }
  )
  yield* Console.log("declined run:", {
    status: declined.status,
    error: declined.error,
    compensatedSteps: declined.compensatedSteps,
    pendingCompensations: declined.pendingCompensations
  })
  yield* Console.log("  store:", { orders: [...store.orders.keys()], stock: Object.fromEntries(store.stock) })

  const journal = yield* SagaJournal.SagaJournal
  const entries = yield* journal.entries("saga-2")
  yield* Console.log(`  journal of saga-2: ${entries.map((entry) => entry._tag).join(" → ")}`)
})

program.pipe(
  Effect.provide(Layer.merge(Store.layer, SagaJournal.layerMemory)),
  Effect.runPromise
).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
