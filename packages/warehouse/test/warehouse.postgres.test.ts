import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, layer } from "@effect/vitest"
import * as Postgres from "@polysaga/postgres"
import { SagaError, SagaJournal } from "@polysaga/saga"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { createWarehouse, Source, type Transaction, Warehouse, WarehouseError } from "../src/index.js"
import { insertThenDecrement, processOrderOperations } from "./fixtures.js"

const pgUrl = process.env.POLYSAGA_PG_URL ?? "postgres://postgres@127.0.0.1:55432/polysaga"
const url = Redacted.make(pgUrl)

class Sql extends Context.Tag("test/Sql")<Sql, PgClient.PgClient>() {}
const SqlLive = Layer.effect(Sql, PgClient.PgClient).pipe(Layer.provide(PgClient.layer({ url, maxConnections: 3 })))

const pg = (tag: string) => ({ tag, type: "database" as const, store: Postgres.make({ url, maxConnections: 4 }) })

const Env = Layer.mergeAll(
  Warehouse.layer({ sources: ["db1", "db2", "db3", "orders-db", "inventory-db", "payments-db"].map(pg) }),
  SqlLive
)

const setup = Effect.gen(function*() {
  const sql = yield* Sql
  for (const t of ["wh_table1", "wh_table2", "wh_table3", "wh_orders", "wh_inventory", "wh_payments"]) {
    yield* sql`DROP TABLE IF EXISTS ${sql(t)}`
  }
  yield* sql`CREATE TABLE wh_table1 (id integer PRIMARY KEY)`
  yield* sql`CREATE TABLE wh_table2 (id integer PRIMARY KEY)`
  yield* sql`CREATE TABLE wh_table3 (id serial PRIMARY KEY, "invalidData" boolean CHECK (NOT "invalidData"))`
  yield* sql`CREATE TABLE wh_orders (id text PRIMARY KEY, "userId" text NOT NULL, items jsonb, total numeric NOT NULL,
    status text NOT NULL, "idempotencyKey" text UNIQUE)`
  yield* sql`CREATE TABLE wh_inventory ("productId" text PRIMARY KEY, quantity integer NOT NULL CHECK (quantity >= 0))`
  yield* sql`CREATE TABLE wh_payments (id serial PRIMARY KEY, "orderId" text NOT NULL, amount numeric NOT NULL
    CHECK (amount > 0), status text NOT NULL, method text)`
  return sql
})

const count = (sql: PgClient.PgClient, table: string) =>
  Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(table)}`, (rows) => rows[0]!.n)

const orderOps = (
  order: { id: string; items: ReadonlyArray<{ productId: string; quantity: number }>; total: number }
) =>
  processOrderOperations({ ...order, userId: "u1", paymentMethod: "card" }, {
    orders: "wh_orders",
    inventory: "wh_inventory",
    payments: "wh_payments"
  })

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("warehouse on PostgreSQL", (it) => {
  it.effect("the seed's failure example: the third insert fails, step_0 and step_1 are undone and really gone", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      const warehouse = yield* Warehouse.Warehouse
      const result = yield* warehouse.transaction([
        { operation: "insert", from: { type: "database", tag: "db1", entity: "wh_table1" }, data: { id: 1 } },
        { operation: "insert", from: { type: "database", tag: "db2", entity: "wh_table2" }, data: { id: 1 } },
        {
          operation: "insert",
          from: { type: "database", tag: "db3", entity: "wh_table3" },
          data: { invalidData: true }
        }
      ])
      assert.strictEqual(result.status, "compensated")
      assert.deepStrictEqual(result.compensatedSteps, ["step_0", "step_1"])
      assert.include(result.error!, "check constraint")
      assert.deepStrictEqual(result.stepResults.step_0!.affectedRows, 1)
      assert.isString(result.stepResults.step_2!.error)
      assert.strictEqual(yield* count(sql, "wh_table1"), 0)
      assert.strictEqual(yield* count(sql, "wh_table2"), 0)
      assert.strictEqual(yield* count(sql, "wh_table3"), 0)
    }))

  it.effect("a select may appear in a transaction: its rows are in stepResults, it has nothing to undo", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      const warehouse = yield* Warehouse.Warehouse
      yield* sql`INSERT INTO wh_inventory VALUES ('s1', 4), ('s2', 0)`
      const select: Transaction.Operation = {
        operation: "select",
        from: { type: "database", tag: "inventory-db", entity: "wh_inventory" },
        where: { quantity: { $gt: 0 } }
      }
      const ok = yield* warehouse.transaction([
        { operation: "insert", from: { type: "database", tag: "db1", entity: "wh_table1" }, data: { id: 5 } },
        select
      ])
      assert.strictEqual(ok.status, "completed")
      assert.deepStrictEqual(ok.stepResults.step_1!.data, [{ productId: "s1", quantity: 4 }])
      assert.strictEqual(ok.stepResults.step_1!.affectedRows, 1)
      const undone = yield* warehouse.transaction([
        { operation: "insert", from: { type: "database", tag: "db1", entity: "wh_table1" }, data: { id: 6 } },
        select,
        {
          operation: "insert",
          from: { type: "database", tag: "db3", entity: "wh_table3" },
          data: { invalidData: true }
        }
      ])
      assert.strictEqual(undone.status, "compensated")
      assert.deepStrictEqual(undone.compensatedSteps, ["step_0"])
      assert.deepStrictEqual(yield* sql`SELECT id FROM wh_table1`, [{ id: 5 }])
    }))

  it.effect("rejects a transaction whose third operation is bad, naming operations[2] and the field; writes nothing", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      const warehouse = yield* Warehouse.Warehouse
      const good: Array<Transaction.Operation> = [
        { operation: "insert", from: { type: "database", tag: "db1", entity: "wh_table1" }, data: { id: 1 } },
        { operation: "insert", from: { type: "database", tag: "db2", entity: "wh_table2" }, data: { id: 1 } }
      ]
      const cases: ReadonlyArray<[unknown, string, string]> = [
        [
          { operation: "insert", from: { type: "database", tag: "db3", entity: "wh_table3" }, data: { nope: 1 } },
          "FIELD_NOT_FOUND",
          "operations[2].data.nope"
        ],
        [
          { operation: "insert", from: { type: "database", tag: "nowhere", entity: "wh_table3" }, data: { id: 1 } },
          "SOURCE_NOT_FOUND",
          "operations[2].from.tag"
        ],
        [
          { operation: "insert", from: { type: "graph", tag: "db3", entity: "wh_table3" }, data: { id: 1 } },
          "SOURCE_TYPE_MISMATCH",
          "operations[2].from.type"
        ],
        [
          { operation: "insert", from: { type: "database", tag: "db3", entity: "no_table" }, data: { id: 1 } },
          "ENTITY_NOT_FOUND",
          "operations[2].from.entity"
        ],
        [
          {
            operation: "update",
            from: { type: "database", tag: "db3", entity: "wh_table3" },
            data: { id: 1 },
            where: { id: { $regex: "." } }
          },
          "VALIDATION_ERROR",
          "operations[2].where.id.$regex"
        ],
        [
          {
            operation: "insert",
            from: { type: "database", tag: "db3", entity: "wh_table3\"; drop table wh_table1; --" },
            data: { id: 1 }
          },
          "INVALID_IDENTIFIER",
          "operations[2].from.entity"
        ]
      ]
      for (const [bad, code, path] of cases) {
        const error = yield* Effect.flip(warehouse.transactionUnknown([...good, bad]))
        assert.instanceOf(error, WarehouseError)
        assert.strictEqual(error.code, code, error.message)
        assert.strictEqual(error.path, path, error.message)
        assert.include(error.message, "operations[2]")
      }
      const options = yield* Effect.flip(warehouse.transaction(good, { timeout: -1 }))
      assert.strictEqual(options.code, "VALIDATION_ERROR")
      assert.strictEqual(options.path, "options.timeout")
      assert.strictEqual(options.message, "options.timeout: expected a positive integer")
      assert.strictEqual(yield* count(sql, "wh_table1"), 0)
      assert.strictEqual(yield* count(sql, "wh_table2"), 0)
    }))

  it.effect("order processing: a short stock makes the guarded $decrement match nothing and rolls the order back", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      const warehouse = yield* Warehouse.Warehouse
      yield* sql`INSERT INTO wh_inventory VALUES ('p1', 5), ('p2', 1)`
      const ok = yield* warehouse.transaction(
        orderOps({ id: "o1", items: [{ productId: "p1", quantity: 2 }], total: 20 })
      )
      assert.strictEqual(ok.status, "completed")
      assert.deepStrictEqual(Object.keys(ok.stepResults), ["step_0", "step_1", "step_2"])
      const short = yield* warehouse.transaction(
        orderOps({ id: "o2", items: [{ productId: "p1", quantity: 1 }, { productId: "p2", quantity: 2 }], total: 30 })
      )
      assert.strictEqual(short.status, "compensated")
      assert.deepStrictEqual(short.compensatedSteps, ["step_0", "step_1"])
      assert.include(short.stepResults.step_2!.error!, "no record matches")
      assert.deepStrictEqual(yield* sql`SELECT "productId", quantity FROM wh_inventory ORDER BY 1`, [
        { productId: "p1", quantity: 3 },
        { productId: "p2", quantity: 1 }
      ])
      assert.deepStrictEqual(yield* sql`SELECT id FROM wh_orders`, [{ id: "o1" }])
      assert.strictEqual(yield* count(sql, "wh_payments"), 1)
    }))

  it.effect("the idempotent upsert with an idempotencyKey, run twice, leaves one order", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      const warehouse = yield* Warehouse.Warehouse
      const op: Transaction.Operation = {
        operation: "upsert",
        from: { type: "database", tag: "orders-db", entity: "wh_orders" },
        data: { idempotencyKey: "order_u1_1764000000", id: "o9", userId: "u1", total: 12.5, status: "pending" }
      }
      const first = yield* warehouse.transaction([op])
      const second = yield* warehouse.transaction([op])
      assert.strictEqual(first.status, "completed")
      assert.strictEqual(second.status, "completed")
      assert.deepStrictEqual(yield* sql`SELECT id, "idempotencyKey", total::text FROM wh_orders`, [
        { id: "o9", idempotencyKey: "order_u1_1764000000", total: "12.5" }
      ])
    }))

  it.effect("50 concurrent orders compete for a stock of 10 with failures injected after the decrement: no lost update", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      const warehouse = yield* Warehouse.Warehouse
      yield* sql`INSERT INTO wh_inventory VALUES ('hot', 10)`
      const results = yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => i),
        (i) =>
          warehouse.transaction(
            // every third order pays 0, which the payments table refuses after the stock was decremented
            orderOps({ id: `c${i}`, items: [{ productId: "hot", quantity: 1 }], total: i % 3 === 0 ? 0 : 10 })
          ),
        { concurrency: 10 }
      )
      const completed = results.filter((r) => r.status === "completed").length
      assert.isTrue(results.every((r) => r.status !== "failed"), "every failed order was fully undone")
      assert.isAbove(completed, 0)
      const [row] = yield* sql<{ quantity: number }>`SELECT quantity FROM wh_inventory WHERE "productId" = 'hot'`
      const quantity = row!.quantity
      assert.strictEqual(quantity, 10 - completed)
      assert.isAtLeast(quantity, 0)
      assert.strictEqual(yield* count(sql, "wh_orders"), completed)
      assert.strictEqual(yield* count(sql, "wh_payments"), completed)
      const injected = results.filter((r, i) =>
        i % 3 === 0 && r.status === "compensated" && r.compensatedSteps.length === 2
      )
      assert.isAbove(injected.length, 0, "some orders failed after their decrement and were undone")
    }))

  it.effect("a timeout compensates by default, and leaves the done steps with compensateOnTimeout: false", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      const warehouse = yield* Warehouse.Warehouse
      yield* sql`INSERT INTO wh_inventory VALUES ('lock', 5)`
      const ops = insertThenDecrement(7, "lock")
      // another session holds the inventory row, so step_1 waits until the saga times out
      const held = (body: Effect.Effect<void, unknown>) =>
        sql.withTransaction(
          Effect.zipRight(sql`SELECT * FROM wh_inventory WHERE "productId" = 'lock' FOR UPDATE`, body)
        )
      yield* held(Effect.gen(function*() {
        const undone = yield* warehouse.transaction(ops, { timeout: 500 })
        assert.strictEqual(undone.status, "compensated")
        assert.deepStrictEqual(undone.compensatedSteps, ["step_0"])
        const left = yield* warehouse.transaction(ops, { timeout: 500, compensateOnTimeout: false })
        assert.strictEqual(left.status, "failed")
        assert.deepStrictEqual(left.pendingCompensations, ["step_0"])
      }))
      assert.deepStrictEqual(yield* sql`SELECT id FROM wh_table1`, [{ id: 7 }])
      assert.deepStrictEqual(yield* sql`SELECT quantity FROM wh_inventory`, [{ quantity: 5 }])
    }))
})

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("warehouse retries on PostgreSQL", (it) => {
  /**
   * Runs the transaction while another session holds the inventory row; once the step waits on that lock, its
   * connection is terminated (a transient `Unavailable`), then the lock is released.
   */
  const withLostConnection = (options: { readonly retryOnFailure: boolean }) =>
    Effect.gen(function*() {
      const sql = yield* setup
      const warehouse = yield* Warehouse.Warehouse
      yield* sql`INSERT INTO wh_inventory VALUES ('r1', 5)`
      const ops = insertThenDecrement(11, "r1")
      // statistics are a snapshot per transaction: clear it before each look
      const waiting = Effect.zipRight(
        sql`SELECT pg_stat_clear_snapshot()`,
        sql<{ pid: number }>`SELECT pid FROM pg_stat_activity
          WHERE wait_event_type = 'Lock' AND query LIKE '%wh_inventory%' AND pid <> pg_backend_pid()`
      )
      return yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT * FROM wh_inventory WHERE "productId" = 'r1' FOR UPDATE`
        const fiber = yield* Effect.fork(warehouse.transaction(ops, { ...options, maxRetries: 3 }))
        const [blocked] = yield* waiting.pipe(
          Effect.filterOrFail((rows) => rows.length > 0),
          Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("10 seconds")))
        )
        yield* sql`SELECT pg_terminate_backend(${blocked!.pid})`
        return fiber
      })).pipe(Effect.flatMap(Fiber.join), Effect.map((result) => ({ result, sql })))
    })

  it.effect("with retryOnFailure, a lost connection (transient) is retried and the transaction completes", () =>
    Effect.gen(function*() {
      const { result, sql } = yield* withLostConnection({ retryOnFailure: true })
      assert.strictEqual(result.status, "completed", result.error)
      assert.deepStrictEqual(yield* sql`SELECT quantity FROM wh_inventory`, [{ quantity: 4 }])
      assert.deepStrictEqual(yield* sql`SELECT id FROM wh_table1`, [{ id: 11 }])
    }))

  it.effect("without retryOnFailure, the same fault compensates the transaction", () =>
    Effect.gen(function*() {
      const { result, sql } = yield* withLostConnection({ retryOnFailure: false })
      assert.strictEqual(result.status, "compensated")
      assert.deepStrictEqual(result.compensatedSteps, ["step_0"])
      assert.deepStrictEqual(yield* sql`SELECT quantity FROM wh_inventory`, [{ quantity: 5 }])
      assert.strictEqual(yield* count(sql, "wh_table1"), 0)
    }))

  it.effect("business errors are never retried, even with retryOnFailure", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      const warehouse = yield* Warehouse.Warehouse
      yield* sql`INSERT INTO wh_table1 VALUES (1)`
      const result = yield* warehouse.transaction([
        { operation: "insert", from: { type: "database", tag: "db2", entity: "wh_table2" }, data: { id: 1 } },
        { operation: "insert", from: { type: "database", tag: "db1", entity: "wh_table1" }, data: { id: 1 } }
      ], { retryOnFailure: true, maxRetries: 3 })
      assert.strictEqual(result.status, "compensated")
      assert.include(result.stepResults.step_1!.error!, "duplicate key")
      assert.strictEqual(yield* count(sql, "wh_table2"), 0)
    }))
})

describe("createWarehouse (Promise facade, sources from configuration)", () => {
  layer(SqlLive, { excludeTestServices: true })((it) => {
    it.effect("runs the seed's calls with await and throws WarehouseError on bad input", () =>
      Effect.gen(function*() {
        const sql = yield* setup
        const warehouse = yield* Effect.promise(() =>
          createWarehouse({ sources: [{ tag: "db1", type: "database", engine: "postgres", url: pgUrl }] })
        )
        const result = yield* Effect.promise(() =>
          warehouse.transaction([{
            operation: "insert",
            from: { type: "database", tag: "db1", entity: "wh_table1" },
            data: { id: 3 }
          }])
        )
        assert.strictEqual(result.status, "completed")
        assert.deepStrictEqual(result.stepResults.step_0!.data, [{ id: 3 }])
        const thrown = yield* Effect.promise(() =>
          warehouse.transaction([{
            operation: "insert",
            from: { type: "database", tag: "db9", entity: "x" },
            data: { id: 1 }
          }])
            .then(() => undefined, (e: unknown) => e)
        )
        assert.instanceOf(thrown, WarehouseError)
        assert.strictEqual((thrown as WarehouseError).code, "SOURCE_NOT_FOUND")
        yield* Effect.promise(() => warehouse.close())
        assert.deepStrictEqual(yield* sql`SELECT id FROM wh_table1`, [{ id: 3 }])
      }))
  })
})

/** A journal whose every append fails with `cause` (of the saga). */
const refusing = (cause: (sagaId: string) => unknown) =>
  Layer.effect(
    SagaJournal.SagaJournal,
    Effect.map(SagaJournal.makeMemory(), (memory): SagaJournal.SagaJournal.Service => ({
      ...memory,
      append: (entry) =>
        Effect.fail(
          new SagaError.JournalError({ operation: "append", sagaId: entry.sagaId, cause: cause(entry.sagaId) })
        )
    }))
  )

/** An insert under `id` with `journal`: the error it is refused with, once nothing was written. */
const refusedWith = (journal: ReturnType<typeof refusing>, id: string) =>
  Effect.gen(function*() {
    const sql = yield* setup
    const warehouse = yield* Effect.promise(() =>
      createWarehouse({ sources: [{ tag: "db1", type: "database", engine: "postgres", url: pgUrl }], journal })
    )
    const thrown = yield* Effect.promise(() =>
      warehouse.transaction([{
        operation: "insert",
        from: { type: "database", tag: "db1", entity: "wh_table1" },
        data: { id: 41 }
      }], { id }).then(() => undefined, (e: unknown) => e)
    )
    yield* Effect.promise(() => warehouse.close())
    assert.strictEqual(yield* count(sql, "wh_table1"), 0)
    assert.instanceOf(thrown, WarehouseError)
    return thrown as WarehouseError
  })

describe("a journal that refuses the saga", () => {
  layer(SqlLive, { excludeTestServices: true })((it) => {
    it.effect("cannot record: JOURNAL_UNAVAILABLE, nothing runs unjournaled", () =>
      Effect.gen(function*() {
        const error = yield* refusedWith(refusing(() => "disk full"), "unjournaled-1")
        assert.strictEqual(error.code, "JOURNAL_UNAVAILABLE")
        assert.include(error.message, "none of it ran")
      }))

    // the race as the losing instance sees it: the journal did not hold the id when it checked, and refuses its
    // start (another instance wrote one first) — as a shared PostgreSQL journal does (`SagaIdTaken`)
    it.effect("holds the id since another instance took it at the same moment: DUPLICATE_ID, nothing runs", () =>
      Effect.gen(function*() {
        const error = yield* refusedWith(refusing((sagaId) => new SagaError.SagaIdTaken({ sagaId })), "taken-1")
        assert.strictEqual(error.code, "DUPLICATE_ID")
        assert.include(error.message, "another instance")
      }))
  })
})

describe("a saga id used before", () => {
  layer(SqlLive, { excludeTestServices: true })((it) => {
    it.effect("is refused when the journal no longer knows it but a store's barrier does", () =>
      Effect.gen(function*() {
        const sql = yield* setup
        const id = `reused-${crypto.randomUUID()}`
        const insert = (n: number): Array<Transaction.Operation> => [{
          operation: "insert",
          from: { type: "database", tag: "db1", entity: "wh_table1" },
          data: { id: n }
        }]
        const run = (n: number) =>
          Effect.promise(async () => {
            // a fresh journal each time: the first saga's record is gone, as after a journal reset
            const warehouse = await createWarehouse({
              sources: [{ tag: "db1", type: "database", engine: "postgres", url: pgUrl }],
              journal: SagaJournal.layerMemory
            })
            try {
              return await warehouse.transaction(insert(n), { id }).then((r) => r.status, (e: unknown) => e)
            } finally {
              await warehouse.close()
            }
          })
        assert.strictEqual(yield* run(1), "completed")
        const again = yield* run(1)
        assert.instanceOf(again, WarehouseError)
        assert.strictEqual((again as WarehouseError).code, "DUPLICATE_ID")
        assert.include((again as WarehouseError).message, "source db1 holds its steps")
        const other = yield* run(2)
        assert.strictEqual((other as WarehouseError).code, "DUPLICATE_ID")
        assert.deepStrictEqual(yield* sql`SELECT id FROM wh_table1`, [{ id: 1 }])
      }))
  })
})

describe("sources from configuration", () => {
  layer(
    Warehouse.sourcesLayer([
      { tag: "orders-db", type: "database", engine: "postgres", url: pgUrl },
      { tag: "inventory-db", type: "database", engine: "postgres", url: pgUrl },
      { tag: "other-settings", type: "database", engine: "postgres", url: pgUrl, maxRecordsPerOperation: 50 }
    ]),
    { excludeTestServices: true }
  )((it) => {
    it.effect("tags configured alike share one store (one pool); different settings do not", () =>
      Effect.gen(function*() {
        const sources = yield* Source.Sources
        const [orders, inventory, other] = yield* Effect.all(
          ["orders-db", "inventory-db", "other-settings"].map((tag) => sources.get(tag))
        )
        assert.strictEqual(orders!.store, inventory!.store)
        assert.notStrictEqual(orders!.store, other!.store)
      }))
  })
})
