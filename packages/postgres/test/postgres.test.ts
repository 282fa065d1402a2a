import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it, layer } from "@effect/vitest"
import { Operation, type Store, Undo } from "@polysaga/store"
import { LossyProxy } from "@polysaga/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Postgres from "../src/index.js"

const url = Redacted.make(process.env.POLYSAGA_PG_URL ?? "postgres://postgres@127.0.0.1:55432/polysaga")

class Sql extends Context.Tag("test/Sql")<Sql, PgClient.PgClient>() {}

const Env = Layer.mergeAll(
  Postgres.layer({ url, maxRecordsPerOperation: 50 }),
  Layer.effect(Sql, PgClient.PgClient).pipe(Layer.provide(PgClient.layer({ url, maxConnections: 2 })))
)

const run = (store: Store, input: unknown) =>
  Effect.flatMap(Operation.parse(input), (op) => Effect.zipRight(store.validate(op), store.execute(op)))

/** An undo record as another process would read it back from a JSON journal. */
const throughJson = (undo: Undo.UndoRecord) =>
  Schema.decodeSync(Schema.parseJson(Undo.UndoRecord))(Schema.encodeSync(Schema.parseJson(Undo.UndoRecord))(undo))

layer(Env, { excludeTestServices: true })("postgres adapter", (it) => {
  it.effect("restores timestamps, jsonb and numerics exactly, from an undo record that went through JSON", () =>
    Effect.gen(function*() {
      const sql = yield* Sql
      const store = yield* Postgres.PostgresStore
      yield* sql`DROP TABLE IF EXISTS postgres_exact`
      yield* sql`CREATE TABLE postgres_exact (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(),
        doc jsonb, amount numeric(30, 10), big bigint)`
      const created = yield* run(store, {
        operation: "insert",
        from: { type: "database", tag: "db", entity: "postgres_exact" },
        data: { doc: { a: [1, { b: "c" }] }, amount: "12345678901234567890.0123456789", big: "9007199254740993" }
      })
      const id = created.records[0]!.id
      const exact = sql`SELECT at::text, doc::text, amount::text, big::text FROM postgres_exact`
      const before = yield* exact
      const updated = yield* run(store, {
        operation: "update",
        from: { type: "database", tag: "db", entity: "postgres_exact" },
        data: { at: new Date("2030-01-01T00:00:00Z"), doc: [true], amount: { $multiply: 2 }, big: { $increment: 1 } },
        where: { id }
      })
      assert.strictEqual(updated.affected, 1)
      yield* store.undo(throughJson(updated.undo))
      assert.deepStrictEqual(yield* exact, before)
      const deleted = yield* run(store, {
        operation: "delete",
        from: { type: "database", tag: "db", entity: "postgres_exact" },
        where: { id }
      })
      assert.strictEqual(deleted.affected, 1)
      yield* store.undo(throughJson(deleted.undo))
      assert.deepStrictEqual(yield* exact, before)
    }))

  it.effect("the seed's guarded decrement fails with NoMatch when stock is short, and writes nothing", () =>
    Effect.gen(function*() {
      const sql = yield* Sql
      const store = yield* Postgres.PostgresStore
      yield* sql`DROP TABLE IF EXISTS postgres_inventory`
      yield* sql`CREATE TABLE postgres_inventory ("productId" text PRIMARY KEY, quantity integer NOT NULL)`
      yield* sql`INSERT INTO postgres_inventory VALUES ('p1', 1)`
      const op = {
        operation: "update",
        from: { type: "database", tag: "inventory-db", entity: "postgres_inventory" },
        data: { quantity: { $decrement: 2 } },
        where: { productId: { $eq: "p1" }, quantity: { $gte: 2 } }
      }
      const error = yield* Effect.flip(run(store, op))
      assert.strictEqual(error.reason, "NoMatch")
      assert.isFalse(error.transient)
      assert.deepStrictEqual(yield* sql`SELECT quantity FROM postgres_inventory`, [{ quantity: 1 }])
    }))

  it.effect("an upsert finds the record by a unique key; its undo deletes what it created or restores what it changed", () =>
    Effect.gen(function*() {
      const sql = yield* Sql
      const store = yield* Postgres.PostgresStore
      yield* sql`DROP TABLE IF EXISTS postgres_orders`
      yield* sql`CREATE TABLE postgres_orders (id serial PRIMARY KEY, "idempotencyKey" text UNIQUE NOT NULL,
        total numeric NOT NULL, "createdAt" timestamptz)`
      const upsert = (total: number) =>
        run(store, {
          operation: "upsert",
          from: { type: "database", tag: "orders-db", entity: "postgres_orders" },
          data: { idempotencyKey: "order_u1_1", total, createdAt: new Date("2026-11-25T10:00:00Z") }
        })
      const first = yield* upsert(10)
      const second = yield* upsert(20)
      assert.deepStrictEqual(first.undo.actions.map((a) => a._tag), ["DeleteCreated"])
      assert.deepStrictEqual(second.undo.actions.map((a) => a._tag), ["Revert"])
      assert.deepStrictEqual(yield* sql`SELECT total::text FROM postgres_orders`, [{ total: "20" }])
      yield* store.undo(second.undo)
      assert.deepStrictEqual(yield* sql`SELECT total::text FROM postgres_orders`, [{ total: "10" }])
      yield* store.undo(first.undo)
      assert.deepStrictEqual(yield* sql`SELECT count(*)::int AS n FROM postgres_orders`, [{ n: 0 }])
    }))

  it.effect("refuses update and delete on a table without a primary key, and classifies constraint errors", () =>
    Effect.gen(function*() {
      const sql = yield* Sql
      const store = yield* Postgres.PostgresStore
      yield* sql`DROP TABLE IF EXISTS postgres_nokey`
      yield* sql`CREATE TABLE postgres_nokey (a integer UNIQUE)`
      yield* sql`INSERT INTO postgres_nokey VALUES (1)`
      const from = { type: "database", tag: "db", entity: "postgres_nokey" }
      const refused = yield* Effect.flip(run(store, { operation: "delete", from, where: { a: 1 } }))
      assert.strictEqual(refused.reason, "Validation")
      assert.include(refused.message, "no primary key")
      yield* sql`ALTER TABLE postgres_nokey ADD PRIMARY KEY (a)`
      const duplicate = yield* Effect.flip(run(store, { operation: "insert", from, data: { a: 1 } }))
      assert.strictEqual(duplicate.reason, "Constraint")
      assert.isFalse(duplicate.transient)
      assert.deepStrictEqual(yield* sql`SELECT a FROM postgres_nokey`, [{ a: 1 }])
    }))
})

layer(Env, { excludeTestServices: true })("postgres adapter, kept catalog", (it) => {
  it.effect("a table changed after the store kept it: added and dropped columns are seen, images stay whole", () =>
    Effect.gen(function*() {
      const sql = yield* Sql
      const store = yield* Postgres.PostgresStore
      const from = { type: "database", tag: "db", entity: "postgres_altered" }
      yield* sql`DROP TABLE IF EXISTS postgres_altered`
      yield* sql`CREATE TABLE postgres_altered (id integer PRIMARY KEY, a text, gone text)`
      yield* run(store, { operation: "insert", from, data: { id: 1, a: "x" } })
      // a column added since: named by an operation (validate reads the catalog again) …
      yield* sql`ALTER TABLE postgres_altered ADD COLUMN b text`
      const inserted = yield* run(store, { operation: "insert", from, data: { id: 2, a: "y", b: "new" } })
      assert.deepStrictEqual(inserted.records, [{ id: 2, a: "y", gone: null, b: "new" }])
      // … or not named: a delete's before-image still holds it, so its undo puts it back
      yield* sql`ALTER TABLE postgres_altered ADD COLUMN c text DEFAULT 'kept'`
      yield* sql`UPDATE postgres_altered SET c = 'mine' WHERE id = 1`
      const deleted = yield* run(store, { operation: "delete", from, where: { id: 1 } })
      yield* store.undo(throughJson(deleted.undo))
      assert.deepStrictEqual(yield* sql`SELECT id, a, c FROM postgres_altered WHERE id = 1`, [
        { id: 1, a: "x", c: "mine" }
      ])
      // a column dropped since: the write no longer names it
      yield* sql`ALTER TABLE postgres_altered DROP COLUMN gone`
      const after = yield* run(store, { operation: "insert", from, data: { id: 3, a: "z" } })
      assert.deepStrictEqual(after.records, [{ id: 3, a: "z", b: null, c: "kept" }])
      yield* store.undo(throughJson(after.undo))
      assert.deepStrictEqual(yield* sql`SELECT id FROM postgres_altered ORDER BY id`, [{ id: 1 }, { id: 2 }])
      // a table dropped and made again with another key
      yield* sql`DROP TABLE postgres_altered`
      yield* sql`CREATE TABLE postgres_altered (code text PRIMARY KEY, a text)`
      const recreated = yield* run(store, { operation: "insert", from, data: { code: "k", a: "v" } })
      assert.deepStrictEqual(recreated.undo.actions, [{ _tag: "DeleteCreated", key: { code: "k" } }])
    }))
})

layer(Env, { excludeTestServices: true })("postgres adapter, step barrier", (it) => {
  it.effect("a step is one statement with its barrier: a retry after it applied answers its outcome, a fence refuses", () =>
    Effect.gen(function*() {
      const sql = yield* Sql
      const store = yield* Postgres.PostgresStore
      yield* sql`DROP TABLE IF EXISTS postgres_barrier`
      yield* sql`CREATE TABLE postgres_barrier (id integer PRIMARY KEY, n integer NOT NULL)`
      yield* sql`INSERT INTO postgres_barrier VALUES (10, 0)`
      const from = { type: "database", tag: "db", entity: "postgres_barrier" }
      const step = { sagaId: `pg-barrier-${crypto.randomUUID()}`, stepId: "step_0" }
      const insert = yield* Operation.parse({ operation: "insert", from, data: { id: 1, n: 1 } })
      const first = yield* store.execute(insert, step)
      // the retry's own INSERT hits the key it wrote; the barrier says it applied: its recorded outcome, no error
      const again = yield* store.execute(insert, step)
      assert.strictEqual(again.undo.id, first.undo.id)
      assert.deepStrictEqual(again.records, [{ id: 1, n: 1 }])
      // a relative update retried: its statement finds the barrier row and writes nothing
      const bump = yield* Operation.parse({
        operation: "update",
        from,
        data: { n: { $increment: 1 } },
        where: { id: 10 }
      })
      const bumped = { ...step, stepId: "step_1" }
      const once = yield* store.execute(bump, bumped)
      assert.strictEqual((yield* store.execute(bump, bumped)).undo.id, once.undo.id)
      assert.deepStrictEqual(yield* sql`SELECT n FROM postgres_barrier WHERE id = 10`, [{ n: 1 }])
      // resolved before it ran: fenced; the late arrival's statement finds the fence, writes nothing and is refused
      const late = { ...step, stepId: "step_2" }
      assert.strictEqual((yield* store.resolve!(late))._tag, "None")
      const refused = yield* Effect.flip(store.execute(bump, late))
      assert.strictEqual(refused.reason, "Conflict")
      assert.deepStrictEqual(yield* sql`SELECT n FROM postgres_barrier WHERE id = 10`, [{ n: 1 }])
      // an undo of an insert is one statement, applied once
      yield* store.undo(first.undo)
      yield* store.undo(first.undo)
      assert.deepStrictEqual(yield* sql`SELECT id FROM postgres_barrier ORDER BY id`, [{ id: 10 }])
    }))
})

layer(Env, { excludeTestServices: true })("postgres adapter, the recorded write", (it) => {
  const from = { type: "database", tag: "db", entity: "postgres_recorded" }
  const exact = (sql: PgClient.PgClient) =>
    sql`SELECT id, at::text, doc::text, amount::text, big::text, tags::text FROM postgres_recorded ORDER BY id`
  const setup = Effect.gen(function*() {
    const sql = yield* Sql
    yield* sql`DROP TABLE IF EXISTS postgres_recorded`
    yield* sql`CREATE TABLE postgres_recorded (id integer PRIMARY KEY, at timestamptz, doc jsonb, amount numeric(30, 10),
      big bigint, tags text[], n integer NOT NULL DEFAULT 0)`
    yield* sql`INSERT INTO postgres_recorded (id, at, doc, amount, big, tags) VALUES
      (1, '2026-11-27 10:00:00.123456+00', '{"a": [1, {"b": "c"}]}', '12345678901234567890.0123456789',
       9007199254740993, '{x,"y z"}'),
      (2, NULL, 'null', NULL, NULL, '{}')`
    return sql
  })

  it.effect("a step answered from its barrier row: the same records (read back as the driver reads rows) and undo", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      const store = yield* Postgres.PostgresStore
      const before = yield* exact(sql)
      const step = { sagaId: `pg-recorded-${crypto.randomUUID()}`, stepId: "step_0" }
      const remove = yield* Operation.parse({ operation: "delete", from, where: { id: { $in: [1, 2] } } })
      const first = yield* store.execute(remove, step)
      assert.strictEqual(first.affected, 2)
      const again = yield* store.execute(remove, step)
      assert.deepStrictEqual(again, first)
      assert.instanceOf(again.records.find((r) => r.id === 1)!.at, Date)
      const resolved = yield* store.resolve!(step)
      assert.isTrue(resolved._tag === "Some")
      if (resolved._tag === "Some") assert.deepStrictEqual(resolved.value, first)
      yield* store.undo(throughJson(again.undo))
      assert.deepStrictEqual(yield* exact(sql), before)
      // an update retried: the recorded before- and after-images give the same Revert actions
      const change = { ...step, stepId: "step_1" }
      const update = yield* Operation.parse({
        operation: "update",
        from,
        data: { doc: { d: 1 }, amount: { $multiply: 3 }, n: { $increment: 2 }, tags: { $push: "w" } },
        where: { id: 1 }
      })
      const updated = yield* store.execute(update, change)
      assert.deepStrictEqual(yield* store.execute(update, change), updated)
      yield* store.undo(throughJson(updated.undo))
      assert.deepStrictEqual(yield* exact(sql), before)
      assert.deepStrictEqual(yield* sql`SELECT n FROM postgres_recorded WHERE id = 1`, [{ n: 0 }])
    }))

  it.effect("an upsert of several records is one transaction with its barrier row; retried, it answers the same", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      const store = yield* Postgres.PostgresStore
      const before = yield* exact(sql)
      const step = { sagaId: `pg-upsert-${crypto.randomUUID()}`, stepId: "step_0" }
      const upsert = yield* Operation.parse({
        operation: "upsert",
        from,
        data: [{ id: 1, n: 5, tags: ["u"] }, { id: 3, n: 7 }, { id: 3, n: 8 }]
      })
      const first = yield* store.execute(upsert, step)
      assert.deepStrictEqual(first.undo.actions.map((a) => a._tag), ["Revert", "DeleteCreated", "Revert"])
      assert.deepStrictEqual(yield* sql`SELECT id, n FROM postgres_recorded ORDER BY id`, [
        { id: 1, n: 5 },
        { id: 2, n: 0 },
        { id: 3, n: 8 }
      ])
      assert.deepStrictEqual(yield* store.execute(upsert, step), first)
      yield* store.undo(throughJson(first.undo))
      assert.deepStrictEqual(yield* exact(sql), before)
    }))

  it.effect("the same step from two stores at once (two processes, no shared lock) applies once", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      const store = yield* Postgres.PostgresStore
      const other = yield* Postgres.make({ url })
      const bump = yield* Operation.parse({
        operation: "update",
        from,
        data: { n: { $increment: 1 } },
        where: { id: 2 }
      })
      for (let i = 0; i < 5; i++) {
        const step = { sagaId: `pg-race-${crypto.randomUUID()}`, stepId: "step_0" }
        const [a, b] = yield* Effect.all([store.execute(bump, step), other.execute(bump, step)], {
          concurrency: 2
        })
        assert.strictEqual(a.undo.id, b.undo.id)
      }
      assert.deepStrictEqual(yield* sql`SELECT n FROM postgres_recorded WHERE id = 2`, [{ n: 5 }])
    }).pipe(Effect.scoped))

  it.effect("an undo of an update or a delete is applied once: run twice, after a later write, or from two stores at once", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      const store = yield* Postgres.PostgresStore
      const other = yield* Postgres.make({ url })
      const step = { sagaId: `pg-undo-once-${crypto.randomUUID()}`, stepId: "step_0" }
      const update = yield* Operation.parse({
        operation: "update",
        from,
        data: { big: 7, n: { $increment: 3 } },
        where: { id: 2 }
      })
      const updated = yield* store.execute(update, step)
      yield* store.undo(updated.undo)
      assert.deepStrictEqual(yield* sql`SELECT big, n FROM postgres_recorded WHERE id = 2`, [{ big: null, n: 0 }])
      // a later writer sets the field the undo restored: the undo run again finds its id and writes nothing (no
      // second inverse, no restore over the later write, no Conflict)
      yield* sql`UPDATE postgres_recorded SET big = 11, n = 4 WHERE id = 2`
      yield* store.undo(throughJson(updated.undo))
      assert.deepStrictEqual(yield* sql`SELECT big::int, n FROM postgres_recorded WHERE id = 2`, [{ big: 11, n: 4 }])
      // the same undo from two stores at once: the relative inverse applies once
      for (let i = 0; i < 5; i++) {
        const bumped = yield* store.execute(update, { ...step, stepId: `step_${i + 1}` })
        yield* Effect.all([store.undo(bumped.undo), other.undo(throughJson(bumped.undo))], { concurrency: 2 })
      }
      assert.deepStrictEqual(yield* sql`SELECT big::int, n FROM postgres_recorded WHERE id = 2`, [{ big: 11, n: 4 }])
      // a delete of many rows: its undo re-inserts every row once, in one transaction of several statements
      yield* sql`INSERT INTO postgres_recorded (id, n) SELECT g, g FROM generate_series(10, 49) AS g`
      const many = yield* Operation.parse({ operation: "delete", from, where: { id: { $gte: 10 } } })
      const deleted = yield* store.execute(many, { ...step, stepId: "step_9" })
      assert.strictEqual(deleted.affected, 40)
      yield* Effect.all([store.undo(deleted.undo), other.undo(throughJson(deleted.undo))], { concurrency: 2 })
      yield* store.undo(deleted.undo)
      assert.deepStrictEqual(
        yield* sql`SELECT count(*)::int AS n, sum(n)::int AS s FROM postgres_recorded WHERE id >= 10`,
        [
          { n: 40, s: 1180 }
        ]
      )
      // a delete undone over a record another writer put at the key: Conflict, nothing written, nothing logged
      const one = yield* Operation.parse({ operation: "delete", from, where: { id: 10 } })
      const gone = yield* store.execute(one, { ...step, stepId: "step_10" })
      yield* sql`INSERT INTO postgres_recorded (id, n) VALUES (10, 99)`
      const refused = yield* Effect.flip(store.undo(gone.undo))
      assert.strictEqual(refused.reason, "Conflict")
      assert.deepStrictEqual(yield* sql`SELECT n FROM postgres_recorded WHERE id = 10`, [{ n: 99 }])
      yield* sql`DELETE FROM postgres_recorded WHERE id = 10`
      yield* store.undo(gone.undo)
      assert.deepStrictEqual(yield* sql`SELECT n FROM postgres_recorded WHERE id = 10`, [{ n: 10 }])
    }).pipe(Effect.scoped))

  it.effect("an insert of 1,000 records in runs of different columns: one statement, in order, answered once", () =>
    Effect.gen(function*() {
      const sql = yield* Sql
      const store = yield* Postgres.fromClient(sql, { maxRecordsPerOperation: 1000 })
      const columns = Array.from({ length: 40 }, (_, i) => `c${i}`)
      yield* sql`DROP TABLE IF EXISTS postgres_wide`
      yield* sql`CREATE TABLE postgres_wide (id integer PRIMARY KEY, ${
        sql.csv(columns.map((c) => sql`${sql(c)} integer`))
      })`
      // records naming other columns in between (a run each); the columns they leave out take their defaults
      const records = Array.from(
        { length: 1000 },
        (_, id) =>
          Object.fromEntries([["id", id], ...columns.slice(0, id % 100 === 0 ? 1 : 40).map((c, i) => [c, id + i])])
      )
      const step = { sagaId: `pg-wide-${crypto.randomUUID()}`, stepId: "step_0" }
      const insert = yield* Operation.parse({
        operation: "insert",
        from: { ...from, entity: "postgres_wide" },
        data: records
      })
      const first = yield* store.execute(insert, step)
      assert.strictEqual(first.affected, 1000)
      assert.deepStrictEqual(first.records.map((r) => r.id), records.map((r) => r.id))
      assert.deepStrictEqual(first.records[100], {
        id: 100,
        c0: 100,
        ...Object.fromEntries(columns.slice(1).map((c) => [c, null]))
      })
      assert.strictEqual((yield* store.execute(insert, step)).undo.id, first.undo.id)
      assert.deepStrictEqual(yield* sql`SELECT count(*)::int AS n FROM postgres_wide`, [{ n: 1000 }])
      yield* store.undo(first.undo)
      assert.deepStrictEqual(yield* sql`SELECT count(*)::int AS n FROM postgres_wide`, [{ n: 0 }])
    }))

  it.effect("a barrier row an earlier version wrote (a RecordedOutcome) is still answered", () =>
    Effect.gen(function*() {
      const sql = yield* setup
      const store = yield* Postgres.PostgresStore
      const step = { sagaId: `pg-old-${crypto.randomUUID()}`, stepId: "step_0" }
      const insert = yield* Operation.parse({ operation: "insert", from, data: { id: 9 } })
      const recorded = {
        records: [{ id: 9, n: 0 }],
        affected: 1,
        undo: Undo.make("postgres", "postgres_recorded", [{ _tag: "DeleteCreated", key: { id: "9" } }])
      }
      yield* sql`INSERT INTO polysaga_barrier (saga_id, step_id, kind, fingerprint, outcome)
        VALUES (${step.sagaId}, ${step.stepId}, 'action', ${Operation.fingerprint(insert)}, ${
        JSON.stringify(recorded)
      }::jsonb)`
      assert.deepStrictEqual(yield* store.execute(insert, step), recorded)
      assert.deepStrictEqual(yield* sql`SELECT count(*)::int AS n FROM postgres_recorded WHERE id = 9`, [{ n: 0 }])
    }))
})

layer(Env, { excludeTestServices: true })("postgres adapter isolation", (it) => {
  it.effect("a step is a transaction of its own, even when run inside a caller's transaction", () =>
    Effect.gen(function*() {
      const sql = yield* Sql
      const store = yield* Postgres.PostgresStore
      yield* sql`DROP TABLE IF EXISTS postgres_isolated`
      yield* sql`CREATE TABLE postgres_isolated (id integer PRIMARY KEY)`
      const insert = run(store, {
        operation: "insert",
        from: { type: "database", tag: "db", entity: "postgres_isolated" },
        data: { id: 1 }
      })
      const rolledBack = yield* Effect.flip(
        sql.withTransaction(Effect.zipRight(insert, Effect.fail("caller rolls back")))
      )
      assert.strictEqual(rolledBack, "caller rolls back")
      assert.deepStrictEqual(yield* sql`SELECT id FROM postgres_isolated`, [{ id: 1 }])
    }))
})

layer(Env, { excludeTestServices: true })("postgres adapter, a connection lost", (it) => {
  it.scoped("the socket cut under a statement (no SQLSTATE, no errno code) is a transient Unavailable error", () =>
    Effect.gen(function*() {
      const target = new URL(Redacted.value(url))
      const proxy = yield* LossyProxy.make({ host: target.hostname, port: Number(target.port) })
      target.port = String(proxy.port)
      const store = yield* Postgres.make({ url: Redacted.make(target.toString()) })
      const sql = yield* Sql
      yield* sql`DROP TABLE IF EXISTS postgres_lost`
      yield* sql`CREATE TABLE postgres_lost (id integer PRIMARY KEY)`
      const from = { type: "database", tag: "db", entity: "postgres_lost" }
      yield* run(store, { operation: "insert", from, data: { id: 1 } })
      // the next insert's statement never reaches the server and the connection is cut: node-postgres answers with
      // its own `Connection terminated unexpectedly`, a plain Error
      proxy.loseRequest("postgres_lost")
      const error = yield* Effect.flip(run(store, { operation: "insert", from, data: { id: 2 } }))
      assert.strictEqual(proxy.lost(), 1)
      assert.strictEqual(error.reason, "Unavailable", error.message)
      assert.isTrue(error.transient)
      // what node-postgres gave: its own plain Error, no code
      const lost = (error.cause as { readonly cause?: unknown }).cause as Error & { readonly code?: unknown }
      assert.match(lost.message, /^Connection terminated unexpectedly/)
      assert.isUndefined(lost.code)
    }))
})

describe("postgres adapter, unreachable", () => {
  it.live("reports an unreachable server as a transient Unavailable error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(Postgres.make({ url: Redacted.make("postgres://postgres@127.0.0.1:1/x") }))
      )
      assert.strictEqual(error.reason, "Unavailable")
      assert.isTrue(error.transient)
    }))
})
