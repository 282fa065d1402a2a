import type { Transaction } from "../src/index.js"

/** The seed's order processing, as its `processOrder` writes it, on entities the test names. */
export interface Order {
  readonly id: string
  readonly userId: string
  readonly items: ReadonlyArray<{ readonly productId: string; readonly quantity: number }>
  readonly total: number
  readonly paymentMethod: string
}

export const processOrderOperations = (
  order: Order,
  entities: { readonly orders: string; readonly inventory: string; readonly payments: string; readonly events?: string }
): ReadonlyArray<Transaction.Operation> => [
  // 1. Create order record
  {
    operation: "insert",
    from: { type: "database", tag: "orders-db", entity: entities.orders },
    data: { id: order.id, userId: order.userId, items: order.items, total: order.total, status: "processing" }
  },
  // 2. Decrement inventory for each item
  ...order.items.map((item) => ({
    operation: "update" as const,
    from: { type: "database", tag: "inventory-db", entity: entities.inventory },
    data: { quantity: { $decrement: item.quantity } },
    where: { productId: { $eq: item.productId }, quantity: { $gte: item.quantity } }
  })),
  // 3. Create payment record
  {
    operation: "insert",
    from: { type: "database", tag: "payments-db", entity: entities.payments },
    data: { orderId: order.id, amount: order.total, status: "pending", method: order.paymentMethod }
  },
  // 4. Log order event in graph
  ...(entities.events === undefined ? [] : [{
    operation: "insert" as const,
    from: { type: "graph", tag: "events-neo4j", entity: entities.events },
    data: { orderId: order.id, userId: order.userId, type: "ORDER_CREATED", timestamp: new Date().toISOString() }
  }])
]

/** An insert into `wh_table1` then a decrement of one inventory row: two steps that can be held up by a lock. */
export const insertThenDecrement = (id: number, productId: string): ReadonlyArray<Transaction.Operation> => [
  { operation: "insert", from: { type: "database", tag: "db1", entity: "wh_table1" }, data: { id } },
  {
    operation: "update",
    from: { type: "database", tag: "inventory-db", entity: "wh_inventory" },
    data: { quantity: { $decrement: 1 } },
    where: { productId }
  }
]
