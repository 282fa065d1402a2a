/**
 * Transactions as graphs on the four real stores: step ids, `$ref`s between steps, `dependsOn` and concurrent
 * steps, compensation walking the graph backwards (read back from the journal), per-step options, batch writes.
 */
import { assert, layer } from "@effect/vitest"
import { SagaJournal } from "@polysaga/saga"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type Transaction, Warehouse, WarehouseError } from "../src/index.js"
import { Clients, ClientsLive, mongoDatabase, sources } from "./stores.js"

const Env = Layer.mergeAll(
  Warehouse.layer({
    sources: [
      ...sources,
      { tag: "small-pg", type: "database", engine: "postgres", url: sources[0]!.url, maxRecordsPerOperation: 2 }
    ]
  }).pipe(Layer.provideMerge(SagaJournal.layerMemory)),
  ClientsLive
)

const orders = { type: "database", tag: "orders-db", entity: "gr_orders" } as const
const inventory = { type: "database", tag: "inventory-db", entity: "gr_inventory" } as const
const payments = { type: "database", tag: "payments-db", entity: "gr_payments" } as const
const audit = { type: "database", tag: "db1", entity: "gr_audit" } as const
const events = { type: "graph", tag: "events-neo4j", entity: "GrOrderEvent" } as const
const profiles = { type: "database", tag: "profiles-mongo", entity: "gr_profiles" } as const
const vectors = { type: "vector", tag: "user-search", entity: "gr_vectors" } as const

const setup = Effect.gen(function*() {
  const { chroma, graph, mongo, sql } = yield* Clients
  for (const t of ["gr_orders", "gr_inventory", "gr_payments", "gr_audit"]) yield* sql`DROP TABLE IF EXISTS ${sql(t)}`
  yield* sql`CREATE TABLE gr_orders (id serial PRIMARY KEY, "userId" text NOT NULL, total numeric NOT NULL,
    status text NOT NULL)`
  yield* sql`CREATE TABLE gr_inventory ("productId" text PRIMARY KEY, quantity integer NOT NULL CHECK (quantity >= 0))`
  yield* sql`CREATE TABLE gr_payments (id serial PRIMARY KEY, "orderId" integer NOT NULL, amount numeric NOT NULL,
    status text NOT NULL, method text)`
  yield* sql`CREATE TABLE gr_audit (id serial PRIMARY KEY, ok boolean CHECK (ok), "orderId" integer)`
  yield* sql`INSERT INTO gr_inventory VALUES ('p1', 5), ('p2', 1)`
  yield* Effect.promise(() => mongo.db(mongoDatabase).collection("gr_profiles").deleteMany({}))
  yield* graph("MATCH (n:GrOrderEvent) DETACH DELETE n")
  yield* Effect.promise(() => chroma.deleteCollection({ name: "gr_vectors" }).catch(() => undefined))
})

/** What the four stores hold of this test's entities. */
/** A Chroma record's metadata without the adapter's bookkeeping (step markers stay on records until `prune`). */
const userKeys = (metadata: Record<string, unknown> | null | undefined) =>
  Object.fromEntries(Object.entries(metadata ?? {}).filter(([key]) => !key.startsWith("polysaga:")))

const snapshot = Effect.gen(function*() {
  const { chroma, graph, mongo, sql } = yield* Clients
  return {
    orders: yield* sql`SELECT id, "userId", total::text FROM gr_orders ORDER BY id`,
    inventory: yield* sql`SELECT * FROM gr_inventory ORDER BY 1`,
    payments: yield* sql`SELECT "orderId", amount::text FROM gr_payments ORDER BY id`,
    audit: yield* sql`SELECT id FROM gr_audit ORDER BY id`,
    profiles: yield* Effect.promise(() =>
      mongo.db(mongoDatabase).collection("gr_profiles").find({}, { projection: { _id: 0 } }).sort({ key: 1 })
        .toArray()
    ),
    events: yield* graph("MATCH (e:GrOrderEvent) RETURN e.orderId AS orderId, e.key AS key ORDER BY key, orderId"),
    vectors: yield* Effect.promise(async () => {
      const c = await chroma.getCollection({ name: "gr_vectors" }).catch(() => undefined)
      if (c === undefined) return []
      const got = await c.get({ include: ["metadatas"] as any })
      return got.ids.map((id, i) => ({ id, metadata: userKeys(got.metadatas[i]) })).sort((a, b) => a.id < b.id ? -1 : 1)
    })
  }
})

/** The seed's `processOrder`, written with references: the payment and the event carry the generated order id. */
const processOrder = (
  order: { userId: string; items: ReadonlyArray<{ productId: string; quantity: number }>; total: number },
  extra: ReadonlyArray<Transaction.Operation> = []
): ReadonlyArray<Transaction.Operation> => [
  {
    id: "createOrder",
    operation: "insert",
    from: orders,
    data: { userId: order.userId, total: order.total, status: "processing" }
  },
  ...order.items.map((item) => ({
    operation: "update" as const,
    from: inventory,
    data: { quantity: { $decrement: item.quantity } },
    where: { productId: { $eq: item.productId }, quantity: { $gte: item.quantity } }
  })),
  {
    id: "payment",
    operation: "insert",
    from: payments,
    data: { orderId: { $ref: "createOrder.data.0.id" }, amount: order.total, status: "pending", method: "card" }
  },
  {
    id: "event",
    operation: "insert",
    from: events,
    data: { orderId: { $ref: "createOrder.data.0.id" }, userId: order.userId, type: "ORDER_CREATED" }
  },
  ...extra
]

const journalOf = (id: string) => Effect.flatMap(SagaJournal.SagaJournal, (journal) => journal.entries(id))

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

layer(Env, { excludeTestServices: true, timeout: "180 seconds" })("transactions as graphs on the real stores", (it) => {
  it.effect("the seed's order with references: payment and OrderEvent carry the generated id; a late failure undoes all", () =>
    Effect.gen(function*() {
      yield* setup
      const { graph, sql } = yield* Clients
      const ok = yield* Warehouse.transaction(
        processOrder({ userId: "u1", items: [{ productId: "p1", quantity: 2 }], total: 20 })
      )
      assert.strictEqual(ok.status, "completed", ok.error)
      assert.deepStrictEqual(Object.keys(ok.stepResults), ["createOrder", "step_1", "payment", "event"])
      const [order] = yield* sql<{ id: number }>`SELECT id FROM gr_orders`
      assert.isNumber(order!.id)
      assert.strictEqual(ok.stepResults.createOrder!.data![0]!.id, order!.id)
      assert.deepStrictEqual(yield* sql`SELECT "orderId" FROM gr_payments`, [{ orderId: order!.id }])
      assert.deepStrictEqual(yield* graph("MATCH (e:GrOrderEvent) RETURN e.orderId AS orderId"), [{
        orderId: order!.id
      }])
      // the journal keeps the resolved values: recovery needs nothing else
      const intents = (yield* journalOf(ok.id)).filter((e) => e._tag === "StepIntent" && e.stepId === "payment")
      assert.strictEqual((intents[0] as any).input.operation.data.orderId, order!.id)

      const before = yield* snapshot
      const failed = yield* Warehouse.transaction(
        processOrder({ userId: "u2", items: [{ productId: "p1", quantity: 1 }], total: 10 }, [
          { operation: "insert", from: audit, data: { ok: false, orderId: { $ref: "createOrder.data.0.id" } } }
        ])
      )
      assert.strictEqual(failed.status, "compensated", failed.error)
      assert.deepStrictEqual(failed.compensatedSteps, ["createOrder", "step_1", "payment", "event"])
      assert.include(failed.stepResults.step_4!.error!, "gr_audit")
      assert.deepStrictEqual(yield* snapshot, before)
    }))

  it.effect("references and dependencies are checked before the first write, naming the path", () =>
    Effect.gen(function*() {
      yield* setup
      const before = yield* snapshot
      const insert = (id: string, data: Transaction.Row, more: Partial<Transaction.Operation> = {}) =>
        ({ id, operation: "insert", from: audit, data, ...more }) as Transaction.Operation
      const cases: ReadonlyArray<[ReadonlyArray<Transaction.Operation>, string, string]> = [
        [
          [insert("a", { ok: true }), insert("b", { orderId: { $ref: "nope.data.0.id" } })],
          "operations[1].data.orderId.$ref",
          "no step has the id \"nope\""
        ],
        [
          [insert("a", { orderId: { $ref: "b.data.0.id" } }), insert("b", { ok: true })],
          "operations[0].data.orderId.$ref",
          "later step"
        ],
        [[insert("a", { orderId: { $ref: "a.data.0.id" } })], "operations[0].data.orderId.$ref", "its own result"],
        [
          [insert("a", { ok: true }), insert("b", { orderId: { $ref: "a.rows.0" } })],
          "operations[1].data.orderId.$ref",
          "\"data\" and \"affectedRows\""
        ],
        [
          [insert("a", { ok: true }, { dependsOn: ["b"] }), insert("b", { ok: true }, { dependsOn: ["a"] })],
          "operations[0].dependsOn[0]",
          "cycle: a → b → a"
        ],
        [[insert("a", { ok: true }, { dependsOn: ["a"] })], "operations[0].dependsOn[0]", "itself"],
        [[insert("a", { ok: true }, { dependsOn: ["x"] })], "operations[0].dependsOn[0]", "no step has the id \"x\""],
        [[insert("a", { ok: true }), insert("a", { ok: true })], "operations[1].id", "already used by operations[0]"],
        [
          [insert("step_1", { ok: true }), { operation: "insert", from: audit, data: { ok: true } }],
          "operations[1].id",
          "already used"
        ],
        [[insert("not-an-id", { ok: true })], "operations[0].id", "invalid step id"],
        [
          [insert("a", { ok: true }, { options: { timeout: 0 } })],
          "operations[0].options.timeout",
          "expected a positive integer"
        ],
        [
          [insert("a", { ok: true }, { options: { maxRetries: -1 } })],
          "operations[0].options.maxRetries",
          "expected an integer from 0 to 100"
        ]
      ]
      for (const [operations, path, message] of cases) {
        const error = yield* Effect.flip(Warehouse.transaction(operations))
        assert.instanceOf(error, WarehouseError)
        assert.strictEqual(error.code, "VALIDATION_ERROR", error.message)
        assert.strictEqual(error.path, path, error.message)
        assert.include(error.message, message)
      }
      const options = yield* Effect.flip(Warehouse.transaction([insert("a", { ok: true })], { concurrency: 0 }))
      assert.strictEqual(options.message, "options.concurrency: expected a positive integer or \"unbounded\"")
      const unknown = yield* Effect.flip(Warehouse.transactionUnknown([insert("a", { ok: true })], { concurency: 2 }))
      assert.strictEqual(unknown.path, "options.concurency")
      assert.notInclude(unknown.message, "readonly")
      // a hostile depth is refused before anything recursive (the $ref search included) walks it
      let deep: unknown = { $ref: "a.data.0.id" }
      for (let i = 0; i < 100_000; i++) deep = { a: deep }
      const tooDeep = yield* Effect.flip(
        Warehouse.transactionUnknown([insert("a", { ok: true }), {
          operation: "insert",
          from: audit,
          data: { ok: deep }
        }])
      )
      assert.strictEqual(tooDeep.code, "VALIDATION_ERROR")
      assert.include(tooDeep.path!, "operations[1].data.ok")
      assert.deepStrictEqual(yield* snapshot, before)
    }))

  it.effect("four stores, independent steps: concurrency vs sequential (printed); a late failure undoes in reverse dependency order", () =>
    Effect.gen(function*() {
      yield* setup
      const independent = (run: string): ReadonlyArray<Transaction.Operation> =>
        [0, 1].flatMap((i) =>
          [
            { operation: "insert", from: orders, data: { userId: `${run}-${i}`, total: 1, status: "new" } },
            { operation: "insert", from: profiles, data: { key: `${run}-${i}` } },
            { operation: "insert", from: events, data: { key: `${run}-${i}` } },
            { operation: "upsert", from: vectors, data: { id: `${run}-${i}`, vector: [i, 1, 0], metadata: { run } } }
          ] as const
        )
      const times: Record<"sequential" | "concurrent", Array<number>> = { sequential: [], concurrent: [] }
      for (let round = 0; round <= 5; round++) {
        for (const variant of ["sequential", "concurrent"] as const) {
          const result = yield* Warehouse.transaction(independent(`${variant}${round}`), {
            concurrency: variant === "sequential" ? 1 : "unbounded"
          })
          assert.strictEqual(result.status, "completed", result.error)
          assert.deepStrictEqual(Object.keys(result.stepResults), [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `step_${i}`))
          if (round > 0) times[variant].push(result.executionTime) // round 0 warms up (collections, catalogs)
        }
      }
      console.log(
        `8 independent steps over 4 stores, median of 5 interleaved runs: sequential ${median(times.sequential)} ms,` +
          ` concurrency "unbounded" ${median(times.concurrent)} ms` +
          ` (ratio ${(median(times.sequential) / Math.max(1, median(times.concurrent))).toFixed(2)})`
      )

      // order → profile (ref) → vector; order → event; audit (fails) after event and vector
      const before = yield* snapshot
      const failed = yield* Warehouse.transaction([
        { id: "order", operation: "insert", from: orders, data: { userId: "g", total: 5, status: "new" } },
        {
          id: "profile",
          operation: "insert",
          from: profiles,
          data: { key: "g", orderId: { $ref: "order.data.0.id" } }
        },
        { id: "event", operation: "insert", from: events, data: { key: "g" }, dependsOn: ["order"] },
        {
          id: "vector",
          operation: "upsert",
          from: vectors,
          data: { id: "g", vector: [1, 1, 1], metadata: { profiles: { $ref: "profile.affectedRows" } } }
        },
        { id: "audit", operation: "insert", from: audit, data: { ok: false }, dependsOn: ["event", "vector"] }
      ], { concurrency: "unbounded" })
      assert.strictEqual(failed.status, "compensated", failed.error)
      assert.deepStrictEqual(failed.compensatedSteps, ["order", "profile", "event", "vector"])
      assert.deepStrictEqual(yield* snapshot, before)
      const undone = (yield* journalOf(failed.id)).flatMap((e) => e._tag === "CompensationSucceeded" ? [e.stepId] : [])
      console.log(`compensations in the journal: ${undone.join(", ")}`)
      const at = (id: string) => undone.indexOf(id)
      assert.sameMembers(undone, ["order", "profile", "event", "vector"])
      assert.isBelow(at("vector"), at("profile"))
      assert.isBelow(at("profile"), at("order"))
      assert.isBelow(at("event"), at("order"))
    }))

  it.effect("per-step options: allowNoMatch, maxRetries and timeout override the transaction's", () =>
    Effect.gen(function*() {
      yield* setup
      const none = { productId: "nothing" }
      const result = yield* Warehouse.transaction([
        { operation: "update", from: inventory, data: { quantity: 1 }, where: none, options: { allowNoMatch: true } },
        { operation: "insert", from: audit, data: { ok: true }, options: { timeout: 5_000, maxRetries: 2 } }
      ])
      assert.strictEqual(result.status, "completed", result.error)
      assert.strictEqual(result.stepResults.step_0!.affectedRows, 0)
      const strict = yield* Warehouse.transaction([
        { operation: "insert", from: audit, data: { ok: true } },
        { operation: "update", from: inventory, data: { quantity: 1 }, where: none }
      ])
      assert.strictEqual(strict.status, "compensated")
      // a step timeout: the stock row is locked by another session, the step gives up after 200 ms
      const { sql } = yield* Clients
      const timedOut = yield* sql.withTransaction(
        Effect.gen(function*() {
          yield* sql`SELECT * FROM gr_inventory WHERE "productId" = 'p1' FOR UPDATE`
          return yield* Warehouse.transaction([
            { operation: "insert", from: audit, data: { ok: true } },
            {
              operation: "update",
              from: inventory,
              data: { quantity: { $decrement: 1 } },
              where: { productId: "p1" },
              options: { timeout: 200 }
            }
          ])
        })
      )
      assert.strictEqual(timedOut.status, "compensated", timedOut.error)
      assert.include(timedOut.stepResults.step_1!.error!, "timed out")
      assert.deepStrictEqual(yield* sql`SELECT count(*)::int AS n FROM gr_audit`, [{ n: 1 }])
    }))

  it.effect("batch insert and upsert: one step, many records, undone together; the store's bound holds", () =>
    Effect.gen(function*() {
      yield* setup
      const { chroma } = yield* Clients
      const existing = yield* Warehouse.transaction([
        { operation: "upsert", from: vectors, data: { id: "v1", vector: [1, 0, 0], metadata: { n: 1 } } }
      ])
      assert.strictEqual(existing.status, "completed", existing.error)
      const before = yield* snapshot
      const failed = yield* Warehouse.transaction([
        {
          id: "orders",
          operation: "insert",
          from: orders,
          data: [1, 2, 3].map((i) => ({ userId: `b${i}`, total: i, status: "new" }))
        },
        { id: "docs", operation: "insert", from: profiles, data: [{ key: "b1" }, { key: "b2" }] },
        {
          id: "vectors",
          operation: "upsert",
          from: vectors,
          data: [
            { id: "v1", vector: [0, 1, 0], metadata: { n: 2 } },
            { id: "v2", vector: [0, 0, 1], metadata: { n: 2 } }
          ]
        },
        { operation: "insert", from: audit, data: [{ ok: true }, { ok: false }] }
      ])
      assert.strictEqual(failed.status, "compensated", failed.error)
      assert.strictEqual(failed.stepResults.orders!.affectedRows, 3)
      assert.strictEqual(failed.stepResults.docs!.affectedRows, 2)
      assert.strictEqual(failed.stepResults.vectors!.affectedRows, 2)
      assert.deepStrictEqual(failed.compensatedSteps, ["orders", "docs", "vectors"])
      assert.deepStrictEqual(yield* snapshot, before)
      const v1 = yield* Effect.promise(() =>
        chroma.getCollection({ name: "gr_vectors" }).then((c) => c.get({ ids: ["v1"], include: ["embeddings"] as any }))
      )
      assert.deepStrictEqual(Array.from(v1.embeddings[0]!), [1, 0, 0])

      const bounded = yield* Effect.flip(Warehouse.transaction([
        { operation: "insert", from: { ...audit, tag: "small-pg" }, data: [{ ok: true }, { ok: true }, { ok: true }] }
      ]))
      assert.strictEqual(bounded.code, "TOO_MANY_RECORDS")
      assert.strictEqual(bounded.path, "operations[0].data")
    }))
})
