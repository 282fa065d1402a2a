/**
 * In-memory orders and stock for `api.ts` (the README's API in one screen): the saga engine alone, no store.
 */
import { Saga, Step } from "@polysaga/saga"
import { Data, Effect } from "effect"

export interface Item {
  readonly sku: string
  readonly quantity: number
}
export interface OrderInput {
  readonly customer: string
  readonly items: ReadonlyArray<Item>
}
export interface Order {
  readonly id: string
  readonly items: ReadonlyArray<Item>
}

export class OutOfStock extends Data.TaggedError("OutOfStock")<{ readonly sku: string }> {}

const rows = new Map<string, Order>()
const levels = new Map([["apple", 10], ["pear", 5]])

export const orders = {
  rows,
  insert: (input: OrderInput) =>
    Effect.sync(() => {
      const order = { id: `order-${rows.size + 1}`, items: input.items }
      rows.set(order.id, order)
      return order
    }),
  delete: (id: string) => Effect.sync(() => void rows.delete(id))
}

export const stock = {
  levels,
  take: (item: Item) =>
    Effect.suspend(() => {
      const left = levels.get(item.sku) ?? 0
      if (left < item.quantity) return Effect.fail(new OutOfStock({ sku: item.sku }))
      levels.set(item.sku, left - item.quantity)
      return Effect.succeed({ sku: item.sku, quantity: item.quantity })
    }),
  release: (sku: string, quantity: number) => Effect.sync(() => void levels.set(sku, (levels.get(sku) ?? 0) + quantity))
}

export const input: OrderInput = {
  customer: "ada",
  items: [{ sku: "apple", quantity: 2 }, { sku: "pear", quantity: 1 }]
}

/** A nested saga: one step that records a charge. */
export const payment = Saga.make("payment", Saga.step(Step.make({ name: "charge-card", action: Effect.succeed(10) })))

export const charge = (order: Order) => Step.make({ name: "charge", action: Effect.succeed(order.id) })

/** Anything that runs sagas: here, one saga that creates an order and fails after, so it is undone. */
export const program = Saga.execute(
  Saga.make(
    "undone",
    Effect.zipRight(
      Saga.step(
        Step.make({ name: "createOrder", action: orders.insert(input), compensate: (o) => orders.delete(o.id) })
      ),
      Effect.fail("declined")
    )
  )
)
