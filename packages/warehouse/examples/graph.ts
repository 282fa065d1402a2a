// dprint-ignore-file: the region keeps the seed's example as the seed writes it
/**
 * The warehouse README's graph example (the seed's order, its payment and event carrying the order's generated id),
 * run by `tools/readme` against the stack (`.stack/env`): `seed-setup.ts` creates the stores and `ductape`; this file
 * defines the `order`, then checks that the payment row and the Neo4j event carry the id the order insert generated.
 */
import { ductape, query } from "./seed-setup.js"

const order = { userId: "user_graph", total: 30, items: [{ productId: "p1", quantity: 1 }] }

// #region readme
const result = await ductape.warehouse.transaction([
  { id: 'createOrder', operation: 'insert', from: { type: 'database', tag: 'orders-db', entity: 'orders' },
    data: { userId: order.userId, total: order.total, status: 'processing' } },
  ...order.items.map(item => ({
    operation: 'update' as const,
    from: { type: 'database', tag: 'inventory-db', entity: 'inventory' },
    data: { quantity: { $decrement: item.quantity } },
    where: { productId: { $eq: item.productId }, quantity: { $gte: item.quantity } }
  })),
  { id: 'payment', operation: 'insert', from: { type: 'database', tag: 'payments-db', entity: 'payments' },
    data: { orderId: { $ref: 'createOrder.data.0.id' }, amount: order.total, status: 'pending', method: 'card' } },
  { id: 'event', operation: 'insert', from: { type: 'graph', tag: 'events-neo4j', entity: 'OrderEvent' },
    data: { orderId: { $ref: 'createOrder.data.0.id' }, userId: order.userId, type: 'ORDER_CREATED' } }
]);
// result.stepResults: { createOrder, step_1, payment, event }
// #endregion readme

const orderId = String(result.stepResults.createOrder?.data?.[0]?.id)
const events = await ductape.warehouse.transaction([
  { operation: "select", from: { type: "graph", tag: "events-neo4j", entity: "OrderEvent" }, where: { orderId } }
])
await ductape.warehouse.close()
const found = {
  status: result.status,
  steps: Object.keys(result.stepResults),
  payments: await query<{ orderId: string }>(`SELECT "orderId" FROM readme_seed.payments`),
  events: events.stepResults.step_0?.data?.length
}
console.log(found)
const expected = { status: "completed", steps: ["createOrder", "step_1", "payment", "event"], payments: [{ orderId }], events: 1 }
if (JSON.stringify(found) !== JSON.stringify(expected)) throw new Error(`expected ${JSON.stringify(expected)}`)
