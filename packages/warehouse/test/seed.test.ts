/**
 * The seed document's examples, as written, on the four real stores — asserting what the stores hold.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type Transaction, Warehouse } from "../src/index.js"
import { type Order, processOrderOperations } from "./fixtures.js"
import { Clients, ClientsLive, mongoDatabase, sources } from "./stores.js"

const Env = Layer.mergeAll(Warehouse.layer({ sources }), ClientsLive)

const setup = Effect.gen(function*() {
  const { chroma, graph, mongo, sql } = yield* Clients
  for (const t of ["orders", "users", "seed_orders", "inventory", "payments", "audit"]) {
    yield* sql`DROP TABLE IF EXISTS ${sql(t)}`
  }
  yield* sql`CREATE TABLE orders (id serial PRIMARY KEY, "userId" text NOT NULL, total numeric NOT NULL, status text)`
  yield* sql`CREATE TABLE users (id text PRIMARY KEY, email text UNIQUE NOT NULL, name text, "createdAt" timestamptz)`
  yield* sql`CREATE TABLE seed_orders (id text PRIMARY KEY, "userId" text, items jsonb, total numeric, status text)`
  yield* sql`CREATE TABLE inventory ("productId" text PRIMARY KEY, quantity integer NOT NULL CHECK (quantity >= 0))`
  yield* sql`CREATE TABLE payments (id serial PRIMARY KEY, "orderId" text NOT NULL, amount numeric NOT NULL,
    status text, method text)`
  yield* sql`CREATE TABLE audit (id serial PRIMARY KEY, ok boolean CHECK (ok))`
  yield* Effect.promise(() => mongo.db(mongoDatabase).collection("profiles").deleteMany({}))
  yield* graph("MATCH (n) WHERE n:OrderEvent OR n:User DETACH DELETE n")
  for (const name of ["behaviors", "users"]) {
    yield* Effect.promise(() => chroma.deleteCollection({ name }).catch(() => undefined))
  }
})

const vectorIds = (name: string) =>
  Effect.flatMap(Clients, ({ chroma }) =>
    Effect.promise(async () => {
      const collection = await chroma.getCollection({ name }).catch(() => undefined)
      return collection === undefined ? [] : (await collection.get()).ids
    }))

layer(Env, { excludeTestServices: true, timeout: "120 seconds" })("the seed's examples on the real stores", (it) => {
  const purchaseBehaviorVector = [0.12, 0.56, 0.33]

  it.effect("basic transaction: an order in PostgreSQL, an event in Neo4j, a behaviour vector in Chroma", () =>
    Effect.gen(function*() {
      yield* setup
      const { chroma, graph, sql } = yield* Clients
      const result = yield* Warehouse.transaction([
        {
          operation: "insert",
          from: { type: "database", tag: "orders-postgres", entity: "orders" },
          data: { userId: "user_123", total: 99.99, status: "pending" }
        },
        {
          operation: "insert",
          from: { type: "graph", tag: "activity-neo4j", entity: "OrderEvent" },
          data: { type: "ORDER_PLACED", userId: "user_123", timestamp: new Date().toISOString() }
        },
        {
          operation: "upsert",
          from: { type: "vector", tag: "user-behavior", entity: "behaviors" },
          data: {
            id: "user_123_purchase",
            vector: purchaseBehaviorVector,
            metadata: { action: "purchase", amount: 99.99 }
          }
        }
      ])
      assert.strictEqual(result.status, "completed", result.error)
      assert.deepStrictEqual(Object.keys(result.stepResults), ["step_0", "step_1", "step_2"])
      assert.deepStrictEqual(yield* sql`SELECT "userId", total::text, status FROM orders`, [
        { userId: "user_123", total: "99.99", status: "pending" }
      ])
      assert.deepStrictEqual(yield* graph("MATCH (e:OrderEvent) RETURN e.type AS type, e.userId AS userId"), [
        { type: "ORDER_PLACED", userId: "user_123" }
      ])
      const behaviors = yield* Effect.promise(() =>
        chroma.getCollection({ name: "behaviors" }).then((c) => c.get({ include: ["metadatas"] as any }))
      )
      assert.deepStrictEqual(behaviors.ids, ["user_123_purchase"])
      // the adapter's step marker (`polysaga:step:…`) stays on the record until `prune`; the user's keys are as sent
      assert.deepStrictEqual(
        behaviors.metadatas.map((m) =>
          Object.fromEntries(Object.entries(m ?? {}).filter(([k]) => !k.startsWith("polysaga:")))
        ),
        [{ action: "purchase", amount: 99.99 }]
      )
    }))

  const createUser = (
    userId: string,
    extra: ReadonlyArray<Transaction.Operation> = []
  ): ReadonlyArray<Transaction.Operation> => [
    {
      operation: "insert",
      from: { type: "database", tag: "users-postgres", entity: "users" },
      data: { id: userId, email: `${userId}@example.com`, name: "John Doe", createdAt: new Date() }
    },
    {
      operation: "insert",
      from: { type: "database", tag: "profiles-mongo", entity: "profiles" },
      data: { userId, bio: "", avatar: null, preferences: { theme: "dark", newsletter: false } }
    },
    {
      operation: "insert",
      from: { type: "graph", tag: "social-neo4j", entity: "User" },
      data: { id: userId, name: "John Doe", joinedAt: new Date().toISOString() }
    },
    {
      operation: "upsert",
      from: { type: "vector", tag: "user-search", entity: "users" },
      data: { id: userId, vector: [0.5, 0.1, 0.9], metadata: { name: "John Doe", email: `${userId}@example.com` } }
    },
    ...extra
  ]

  it.effect("multi-database user creation writes all four stores; a later failure undoes all four", () =>
    Effect.gen(function*() {
      yield* setup
      const { graph, mongo, sql } = yield* Clients
      const created = yield* Warehouse.transaction(createUser("u1"))
      assert.strictEqual(created.status, "completed", created.error)
      assert.deepStrictEqual(yield* sql`SELECT id, email FROM users`, [{ id: "u1", email: "u1@example.com" }])
      const profiles = yield* Effect.promise(() =>
        mongo.db(mongoDatabase).collection("profiles").find({}, { projection: { _id: 0 } }).toArray()
      )
      assert.deepStrictEqual(profiles as Array<unknown>, [{
        userId: "u1",
        bio: "",
        avatar: null,
        preferences: { theme: "dark", newsletter: false }
      }])
      assert.deepStrictEqual(yield* graph("MATCH (u:User) RETURN u.id AS id"), [{ id: "u1" }])
      assert.deepStrictEqual(yield* vectorIds("users"), ["u1"])

      const failing = yield* Warehouse.transaction(
        createUser("u2", [{
          operation: "insert",
          from: { type: "database", tag: "db1", entity: "audit" },
          data: { ok: false }
        }])
      )
      assert.strictEqual(failing.status, "compensated")
      assert.deepStrictEqual(failing.compensatedSteps, ["step_0", "step_1", "step_2", "step_3"])
      assert.deepStrictEqual(yield* sql`SELECT id FROM users`, [{ id: "u1" }])
      assert.strictEqual(
        yield* Effect.promise(() => mongo.db(mongoDatabase).collection("profiles").countDocuments()),
        1
      )
      assert.deepStrictEqual(yield* graph("MATCH (u:User) RETURN u.id AS id"), [{ id: "u1" }])
      assert.deepStrictEqual(yield* vectorIds("users"), ["u1"])
    }))

  it.effect("order processing: per-item guarded $decrement, payment, graph event; short stock rolls everything back", () =>
    Effect.gen(function*() {
      yield* setup
      const { graph, sql } = yield* Clients
      yield* sql`INSERT INTO inventory VALUES ('p1', 3), ('p2', 1)`
      const processOrder = (order: Order) =>
        Warehouse.transaction(
          processOrderOperations(order, {
            orders: "seed_orders",
            inventory: "inventory",
            payments: "payments",
            events: "OrderEvent"
          })
        )
      const order = (id: string, items: Order["items"], total: number): Order => ({
        id,
        userId: "u1",
        items,
        total,
        paymentMethod: "card"
      })
      const ok = yield* processOrder(
        order("o1", [{ productId: "p1", quantity: 2 }, { productId: "p2", quantity: 1 }], 30)
      )
      assert.strictEqual(ok.status, "completed", ok.error)
      const short = yield* processOrder(
        order("o2", [{ productId: "p1", quantity: 1 }, { productId: "p2", quantity: 1 }], 20)
      )
      assert.strictEqual(short.status, "compensated")
      assert.deepStrictEqual(short.compensatedSteps, ["step_0", "step_1"])
      assert.deepStrictEqual(yield* sql`SELECT "productId", quantity FROM inventory ORDER BY 1`, [
        { productId: "p1", quantity: 1 },
        { productId: "p2", quantity: 0 }
      ])
      assert.deepStrictEqual(yield* sql`SELECT id FROM seed_orders`, [{ id: "o1" }])
      assert.deepStrictEqual(yield* sql`SELECT "orderId" FROM payments`, [{ orderId: "o1" }])
      assert.deepStrictEqual(yield* graph("MATCH (e:OrderEvent) RETURN e.orderId AS orderId"), [{ orderId: "o1" }])
    }))
})
