/**
 * The server as a child process (`src/main.ts`), on a PostgreSQL journal of its own: killed in the middle of a saga
 * and restarted (the recovery runner compensates it), and stopped with SIGTERM during a saga (it finishes first).
 */
import { assert, layer } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as fs from "node:fs"
import * as path from "node:path"
import { database, databaseUrl, startService as start } from "./faults/harness.js"
import { makeClient, resetSchema, run, Sql, SqlLive, tmpDir } from "./support.js"

const schema = "server_lifecycle"
const journalDb = "polysaga_server_journal_test"
const Env = Layer.effectDiscard(Effect.zipRight(resetSchema(schema), database(journalDb))).pipe(
  Layer.provideMerge(SqlLive)
)

const configFile = () => {
  const dir = tmpDir("lifecycle")
  const file = path.join(dir, "server.json")
  const pg = (tag: string) => ({ tag, type: "database", engine: "postgres", url: "${POLYSAGA_PG_URL}", schema })
  fs.writeFileSync(
    file,
    JSON.stringify({
      port: 0,
      journal: { url: databaseUrl(journalDb), leaseSeconds: 2 },
      sources: [pg("db1"), pg("inventory-db")],
      shutdownTimeoutMs: 20_000,
      recoveryIntervalMs: 300
    })
  )
  return file
}

/** Holds a row lock on `inventory.prod_1` until `release` is done: a step updating it waits. */
const holdLock = (release: Deferred.Deferred<void>) =>
  Effect.gen(function*() {
    const sql = yield* Sql
    const locked = yield* Deferred.make<void>()
    const fiber = yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SELECT quantity FROM ${sql(schema)}.inventory WHERE "productId" = 'prod_1' FOR UPDATE`
      yield* Deferred.succeed(locked, undefined)
      yield* Deferred.await(release)
    })).pipe(Effect.fork)
    yield* Deferred.await(locked)
    return fiber
  })

const operations = (id: number) => [
  { operation: "insert", from: { type: "database", tag: "db1", entity: "table1" }, data: { id } },
  {
    operation: "update",
    from: { type: "database", tag: "inventory-db", entity: "inventory" },
    data: { quantity: { $decrement: 1 } },
    where: { productId: "prod_1" }
  }
]

/** Polls `GET /v1/transactions/:id` until `until` holds. */
const waitFor = (url: string, id: string, until: (record: any) => boolean) =>
  makeClient(url, undefined).request("GET", `/v1/transactions/${id}`).pipe(
    Effect.flatMap((r) => r.status === 200 && until(r.body) ? Effect.succeed(r.body) : Effect.fail(r.body)),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("30 seconds")))
  )

/**
 * Waits until the saga is in the journal (running) and its update statement waits for the held row lock: step_1
 * writes no intent (the saga's plan journals it), so the store tells when it is under way.
 */
const updateWaiting = (url: string, id: string) =>
  Effect.zipRight(
    waitFor(url, id, (record) => record.status === "running"),
    Effect.flatMap(Sql, (sql) =>
      sql`SELECT pid FROM pg_stat_activity
        WHERE wait_event_type = 'Lock' AND datname = current_database() AND strpos(query, 'inventory') > 0`).pipe(
        Effect.flatMap((rows) => rows.length > 0 ? Effect.void : Effect.fail("no statement waits for the lock")),
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("30 seconds")))
      )
  )

const row = (id: number) => Effect.flatMap(Sql, (sql) => sql`SELECT id FROM ${sql(schema)}.table1 WHERE id = ${id}`)

const stock = Effect.flatMap(
  Sql,
  (sql) => sql`SELECT quantity FROM ${sql(schema)}.inventory WHERE "productId" = 'prod_1'`
)

layer(Env, { timeout: "120 seconds", excludeTestServices: true })("the server process", (it) => {
  it.scoped("killed in the middle of a saga: the restarted server's recovery runner compensates it", () =>
    Effect.gen(function*() {
      const file = configFile()
      const before = yield* stock
      const first = yield* start(file)
      const release = yield* Deferred.make<void>()
      const lock = yield* holdLock(release)
      const id = `crash-${run}`
      // the request never gets an answer: the server dies while step_1 waits for the lock
      const request = yield* makeClient(first.url, undefined).request("POST", "/v1/transactions", {
        body: { operations: operations(501), options: { id } }
      }).pipe(Effect.fork)
      yield* updateWaiting(first.url, id)
      assert.deepStrictEqual(yield* row(501), [{ id: 501 }])
      first.process.kill("SIGKILL")
      yield* Effect.promise(() => first.exited)
      yield* Fiber.interrupt(request)

      // step_1 is one statement, still waiting for the lock on the server though its process is gone: the recovery
      // runner resolves the step (not applied: fenced) and compensates the saga while it waits …
      const second = yield* start(file)
      const record = yield* waitFor(second.url, id, (r) => r.status !== "running")
      // … and when the lock is let go, the dead server's statement finds the fence and rolls back whole
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(lock)
      const sql = yield* Sql
      // the statement queued first for the row: locking it again waits until that statement has ended
      yield* sql.withTransaction(
        sql`SELECT quantity FROM ${sql(schema)}.inventory WHERE "productId" = 'prod_1' FOR UPDATE`
      )
      assert.strictEqual(record.status, "compensated", JSON.stringify(record))
      assert.deepStrictEqual(record.compensatedSteps, ["step_0"])
      assert.deepStrictEqual(record.pendingCompensations, [])
      assert.deepStrictEqual(record.inDoubt, [])
      assert.strictEqual(record.steps[0].status, "compensated")
      assert.strictEqual(record.events.at(-1).type, "SagaEnded")
      // the stores: the insert is undone, the update never happened (its late statement refused by the fence)
      assert.deepStrictEqual(yield* row(501), [])
      assert.deepStrictEqual(yield* stock, before)
      assert.deepStrictEqual(
        yield* sql`SELECT kind FROM ${sql(schema)}.polysaga_barrier WHERE saga_id = ${id} ORDER BY step_id`,
        [{ kind: "action" }, { kind: "fence" }]
      )
    }))

  it.scoped("SIGTERM during a saga: intake stops, the saga finishes and answers, the process exits 0", () =>
    Effect.gen(function*() {
      const file = configFile()
      const before = (yield* stock)[0]!.quantity as number
      const server = yield* start(file)
      const release = yield* Deferred.make<void>()
      const lock = yield* holdLock(release)
      const id = `drain-${run}`
      const client = makeClient(server.url, undefined)
      const request = yield* client.request("POST", "/v1/transactions", {
        body: { operations: operations(502), options: { id } }
      }).pipe(Effect.fork)
      yield* updateWaiting(server.url, id)
      server.process.kill("SIGTERM")
      yield* Effect.sleep("500 millis")
      // no new work: the listener is closed (or a kept-alive connection is answered 503)
      const refused = yield* Effect.tryPromise(() => fetch(`${server.url}/health`)).pipe(
        Effect.match({ onFailure: () => "refused", onSuccess: (r) => r.status })
      )
      assert.oneOf(refused, ["refused", 503, 200])
      const late = yield* Effect.tryPromise(() =>
        fetch(`${server.url}/v1/transactions`, {
          method: "POST",
          body: JSON.stringify({ operations: operations(503) })
        })
      ).pipe(Effect.match({ onFailure: () => "refused", onSuccess: (r) => r.status }))
      assert.oneOf(late, ["refused", 503])
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(lock)
      const answer = yield* Fiber.join(request)
      assert.strictEqual(answer.status, 200, `${JSON.stringify(answer.body)}\n${server.output()}`)
      assert.strictEqual(answer.body.status, "completed")
      const code = yield* Effect.promise(() => server.exited)
      assert.strictEqual(code, 0, server.output())
      assert.include(server.output(), "every running transaction finished")
      assert.deepStrictEqual(yield* row(502), [{ id: 502 }])
      assert.deepStrictEqual(yield* row(503), [])
      assert.deepStrictEqual(yield* stock, [{ quantity: before - 1 }])
    }))
})
