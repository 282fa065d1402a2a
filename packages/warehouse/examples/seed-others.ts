// dprint-ignore-file: the region keeps the seed's examples as the seed writes them
/**
 * The warehouse README's other examples of the seed (multi-database write, order processing, handling failures,
 * idempotency), run by `tools/readme` against the stack (`.stack/env`). `seed-setup.ts` creates the stores and
 * `ductape`; this file defines the values the seed leaves to the reader (`userId`, `defaultPreferences`, `generateUserEmbedding`, `Order`,
 * `timestamp`); then checks what each example left in the stores, and exits.
 */
import { MongoClient } from "mongodb"
import { chroma, ductape, env, query } from "./seed-setup.js"

const userId = `user_${Date.now()}`
const timestamp = Date.now()
const defaultPreferences = { theme: "light", newsletter: false }
const generateUserEmbedding = async (user: { name: string; email: string }) =>
  [user.name.length / 10, user.email.length / 20, 0.5]
interface Order {
  readonly id: string
  readonly userId: string
  readonly items: ReadonlyArray<{ readonly productId: string; readonly quantity: number }>
  readonly total: number
  readonly paymentMethod: string
}

// #region readme
// Multi-database write: a user across PostgreSQL, MongoDB, Neo4j and Chroma
const result = await ductape.warehouse.transaction([
  { operation: 'insert', from: { type: 'database', tag: 'users-postgres', entity: 'users' },
    data: { id: userId, email: 'john@example.com', name: 'John Doe', createdAt: new Date() } },
  { operation: 'insert', from: { type: 'database', tag: 'profiles-mongo', entity: 'profiles' },
    data: { userId, bio: '', avatar: null, preferences: defaultPreferences } },
  { operation: 'insert', from: { type: 'graph', tag: 'social-neo4j', entity: 'User' },
    data: { id: userId, name: 'John Doe', joinedAt: new Date().toISOString() } },
  { operation: 'upsert', from: { type: 'vector', tag: 'user-search', entity: 'users' },
    data: { id: userId, vector: await generateUserEmbedding({ name: 'John Doe', email: 'john@example.com' }),
            metadata: { name: 'John Doe', email: 'john@example.com' } } }
]);

// Order processing: a guarded $decrement per item; short stock matches nothing, so the order rolls back
async function processOrder(order: Order) {
  const result = await ductape.warehouse.transaction([
    { operation: 'insert', from: { type: 'database', tag: 'orders-db', entity: 'orders' },
      data: { id: order.id, userId: order.userId, items: order.items, total: order.total, status: 'processing' } },
    ...order.items.map(item => ({
      operation: 'update' as const,
      from: { type: 'database', tag: 'inventory-db', entity: 'inventory' },
      data: { quantity: { $decrement: item.quantity } },
      where: { productId: { $eq: item.productId }, quantity: { $gte: item.quantity } }
    })),
    { operation: 'insert', from: { type: 'database', tag: 'payments-db', entity: 'payments' },
      data: { orderId: order.id, amount: order.total, status: 'pending', method: order.paymentMethod } },
    { operation: 'insert', from: { type: 'graph', tag: 'events-neo4j', entity: 'OrderEvent' },
      data: { orderId: order.id, userId: order.userId, type: 'ORDER_CREATED', timestamp: new Date().toISOString() } }
  ]);
  if (result.status !== 'completed') throw new Error(`Order failed: ${result.error}`);
  return result;
}

// Handling failures: the third insert fails at run time, the first two are deleted
const failed = await ductape.warehouse.transaction([
  { operation: 'insert', from: { type: 'database', tag: 'db1', entity: 'table1' }, data: { id: 1 } },
  { operation: 'insert', from: { type: 'database', tag: 'db2', entity: 'table2' }, data: { id: 1 } },
  { operation: 'insert', from: { type: 'database', tag: 'db3', entity: 'table3' }, data: { invalidData: true } }
]);
// failed.status === 'compensated', failed.compensatedSteps: ['step_0', 'step_1']

// Idempotency: an upsert keyed by a unique idempotencyKey, run twice, leaves one order
await ductape.warehouse.transaction([{
  operation: 'upsert',
  from: { type: 'database', tag: 'orders-db', entity: 'orders' },
  data: { idempotencyKey: `order_${userId}_${timestamp}`, userId, total: 12.5, status: 'pending' }
}]);
// #endregion readme

// the checks: what each example left in the stores
const placed = await processOrder({ id: "o1", userId, items: [{ productId: "p1", quantity: 2 }], total: 20, paymentMethod: "card" })
const short = await processOrder({ id: "o2", userId, items: [{ productId: "p2", quantity: 5 }], total: 50, paymentMethod: "card" })
  .then(() => "completed", (error: Error) => error.message)
await ductape.warehouse.transaction([{
  operation: "upsert",
  from: { type: "database", tag: "orders-db", entity: "orders" },
  data: { idempotencyKey: `order_${userId}_${timestamp}`, userId, total: 12.5, status: "pending" }
}])
await ductape.warehouse.close()
const mongo = await new MongoClient(env.POLYSAGA_MONGO_URL).connect()
const found = {
  user: result.status,
  profiles: await mongo.db("readme_seed").collection("profiles").countDocuments({ userId }),
  vector: (await (await chroma.getCollection({ name: "users" })).get({ ids: [userId] })).ids,
  placed: placed.status,
  short,
  stock: await query<{ productId: string; quantity: number }>(`SELECT * FROM readme_seed.inventory ORDER BY 1`),
  orders: await query<{ id: string }>(`SELECT id FROM readme_seed.orders WHERE "idempotencyKey" IS NULL ORDER BY 1`),
  failed: [failed.status, ...failed.compensatedSteps],
  tables: await query<{ n: number }>(
    `SELECT (SELECT count(*) FROM readme_seed.table1) + (SELECT count(*) FROM readme_seed.table2)
      + (SELECT count(*) FROM readme_seed.table3) AS n`
  ),
  idempotent: await query<{ n: number }>(`SELECT count(*)::int AS n FROM readme_seed.orders WHERE "idempotencyKey" IS NOT NULL`)
}
await mongo.close()
console.log(found)
const expected = {
  user: "completed",
  profiles: 1,
  vector: [userId],
  placed: "completed",
  short: "Order failed: where: no record matches the filter",
  stock: [{ productId: "p1", quantity: 1 }, { productId: "p2", quantity: 1 }],
  orders: [{ id: "o1" }],
  failed: ["compensated", "step_0", "step_1"],
  tables: [{ n: "0" }],
  idempotent: [{ n: 1 }]
}
if (JSON.stringify(found) !== JSON.stringify(expected)) throw new Error(`expected ${JSON.stringify(expected)}`)
