/**
 * A store frozen mid-transaction: the store process this clone's stack started (its pid file in `.stack/run`, and for
 * PostgreSQL its backends too) is stopped with SIGSTOP while a transaction with a short timeout writes to it, and
 * resumed with SIGCONT whatever happens (also when this process exits). The transaction's first step writes to a
 * partner store and waits there on a lock the test holds; the store is frozen once the checks before the first write
 * are done and that step waits, then the lock is let go: the second step, on the frozen store, hangs. The service
 * must answer by the timeout plus a stated slack, the saga must end in a journaled state that says what happened,
 * and once the store is back nothing is torn: the stores hold what the journal says.
 */
import { assert, layer } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import { frozen, type StackStore } from "./faults/harness.js"
import { chromaGet, Client, cypher, mongoDatabase, run, schema, serverEnvWithStores, Sql, Stores } from "./support.js"

/**
 * The transaction's timeout, and how much later than it the answer may come: the step cut off in doubt is asked
 * through its store whether it applied, each attempt bounded by the cleanup bound (10 s), then left to recovery. On
 * Chroma the first attempt ends at the client's own 10 s request timeout (a transient error, retried) before the
 * bounded one: 2 × 10 s, and 2 s more for the partner's undo and the journal.
 */
const timeoutMs = 5_000
const slackMs = 22_000

type Engine = "postgres" | "mongodb" | "neo4j" | "chroma"

const operation = (engine: Engine, key: string, n: number) => {
  switch (engine) {
    case "postgres":
      return { operation: "insert", from: { type: "database", tag: "db1", entity: "table1" }, data: { id: n } }
    case "mongodb":
      return {
        operation: "insert",
        from: { type: "database", tag: "profiles-mongo", entity: "frozen_docs" },
        data: { key }
      }
    case "neo4j":
      return { operation: "insert", from: { type: "graph", tag: "events-neo4j", entity: "FrozenEvent" }, data: { key } }
    case "chroma":
      return {
        operation: "upsert",
        from: { type: "vector", tag: "user-search", entity: `frozen_vectors_${run}` },
        data: { id: key, vector: [0.1, 0.2, 0.3, 0.4], metadata: { key } }
      }
  }
}

/** How many records `engine` holds for the key (PostgreSQL: the row `n`). */
const held = (engine: Engine, key: string, n: number) =>
  Effect.gen(function*() {
    switch (engine) {
      case "postgres": {
        const sql = yield* Sql
        const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(schema)}.table1 WHERE id = ${n}`
        return rows[0]!.n
      }
      case "mongodb": {
        const { mongo } = yield* Stores
        return yield* Effect.promise(() => mongo.db(mongoDatabase).collection("frozen_docs").countDocuments({ key }))
      }
      case "neo4j":
        return Number((yield* cypher("MATCH (n:FrozenEvent { key: $key }) RETURN count(n) AS n", { key }))[0]!.n)
      case "chroma":
        return (yield* chromaGet(`frozen_vectors_${run}`, [key])).length
    }
  })

const Env = serverEnvWithStores({ recoveryIntervalMs: 1000 })

/** Polls `check` every 100 ms until it holds, for at most `seconds`. */
const until = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, seconds = 20) =>
  check.pipe(
    Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (held) => held }),
    Effect.timeoutFail({
      duration: `${seconds} seconds`,
      onTimeout: () => new Error(`${what}: not within ${seconds} s`)
    })
  )

/**
 * The partner step, held up by a lock of the test: on PostgreSQL an insert waits for the test's uncommitted row with
 * the same key; on Neo4j an update waits for the test's uncommitted write to the same node. `hold` takes the lock
 * and returns a `waiting` check and a `release` that rolls the test's transaction back.
 */
const partners = {
  postgres: {
    operation: (key: string, n: number) => operation("postgres", key, n),
    hold: (_key: string, n: number) =>
      Effect.gen(function*() {
        const sql = yield* Sql
        const held = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const holder = yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO ${sql(schema)}.table1 (id) VALUES (${n})`
          yield* Deferred.succeed(held, undefined)
          yield* Deferred.await(release)
          return yield* Effect.fail("roll back")
        })).pipe(Effect.ignore, Effect.fork)
        yield* Deferred.await(held)
        const waiting = sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE wait_event_type = 'Lock' AND query LIKE '%table1%'`.pipe(Effect.map((rows) => rows[0]!.n > 0))
        return { waiting, release: Deferred.succeed(release, undefined).pipe(Effect.zipRight(Fiber.join(holder))) }
      })
  },
  neo4j: {
    operation: (key: string) => ({
      operation: "update",
      from: { type: "graph", tag: "events-neo4j", entity: "FrozenLock" },
      where: { key },
      data: { v: 2 }
    }),
    hold: (key: string) =>
      Effect.gen(function*() {
        const { neo4j: driver } = yield* Stores
        yield* cypher("CREATE (:FrozenLock { key: $key, v: 0 })", { key })
        const session = driver.session()
        const tx = yield* Effect.promise(() => session.beginTransaction())
        yield* Effect.promise(() => tx.run("MATCH (n:FrozenLock { key: $key }) SET n.v = 1", { key }))
        const waiting = cypher("SHOW TRANSACTIONS YIELD currentQuery, status RETURN currentQuery, status").pipe(
          Effect.map((rows) =>
            rows.some((row) =>
              String(row.status).startsWith("Blocked") && String(row.currentQuery).includes("FrozenLock")
            )
          )
        )
        const release = Effect.promise(async () => {
          await tx.rollback()
          await session.close()
        })
        return { waiting, release }
      })
  }
}

const cases: ReadonlyArray<readonly [Engine, StackStore, keyof typeof partners]> = [
  ["postgres", "postgres", "neo4j"],
  ["mongodb", "ferretdb", "postgres"],
  ["neo4j", "neo4j", "postgres"],
  ["chroma", "chroma", "postgres"]
]

layer(Env, { timeout: "240 seconds", excludeTestServices: true })(
  "a store frozen (SIGSTOP) during a transaction",
  (it) => {
    for (const [[engine, store, partner], i] of cases.map((c, i) => [c, i] as const)) {
      it.effect(
        `${engine}: the answer comes by the timeout, the saga ends journaled, nothing torn after SIGCONT`,
        () =>
          Effect.gen(function*() {
            const client = yield* Client
            const key = `frozen-${run}-${i}`
            const n = 9_100 + i
            const operations = (
              key: string,
              n: number
            ) => [partners[partner].operation(key, n), operation(engine, key, n)]
            // warm: the entities exist, the catalogs are read, the connections open
            const warmKey = `${key}-warm`
            if (partner === "neo4j") {
              yield* cypher("CREATE (:FrozenLock { key: $key, v: 0 })", { key: warmKey })
            }
            const warm = yield* client.request("POST", "/v1/transactions", {
              body: { operations: operations(warmKey, n + 100) }
            })
            assert.strictEqual(warm.body.status, "completed", JSON.stringify(warm.body))

            const { release, waiting } = yield* partners[partner].hold(key, n)
            const started = Date.now()
            const request = yield* client.request("POST", "/v1/transactions", {
              body: { operations: operations(key, n), options: { timeout: timeoutMs } }
            }).pipe(Effect.fork)
            const { answer, elapsed, frozenAt } = yield* until("the partner step waits on the lock", waiting).pipe(
              Effect.zipRight(frozen(
                store,
                Effect.gen(function*() {
                  const frozenAt = Date.now() - started
                  yield* release
                  const answer = yield* Fiber.join(request)
                  return { answer, elapsed: Date.now() - started, frozenAt }
                })
              ))
            )
            console.log(
              `frozen ${engine}: frozen ${frozenAt} ms after the request, answered after ${elapsed} ms (timeout ${timeoutMs} ms): ${
                JSON.stringify(answer.body)
              }`
            )
            assert.strictEqual(answer.status, 200, JSON.stringify(answer.body))
            assert.isAtMost(elapsed, timeoutMs + slackMs, JSON.stringify(answer.body))
            assert.include(["compensated", "failed"], answer.body.status, JSON.stringify(answer.body))
            assert.include(answer.body.error, "timed out", JSON.stringify(answer.body))

            // the store is back: recovery settles the step left in doubt (resolved through its store's barrier, undone
            // if it applied), the saga ends compensated, and the stores hold nothing of it — the frozen store included,
            // whatever it received before it stopped
            const settled = yield* client.request("GET", `/v1/transactions/${answer.body.id}`).pipe(
              Effect.repeat({
                schedule: Schedule.spaced("500 millis"),
                until: (r) => r.body?.status === "compensated"
              }),
              Effect.timeout("60 seconds"),
              Effect.option
            )
            const journaled = yield* client.request("GET", `/v1/transactions/${answer.body.id}`)
            console.log(`frozen ${engine}: journal after SIGCONT: ${JSON.stringify(journaled.body)}`)
            const stores = {
              partner: partner === "postgres"
                ? yield* held("postgres", key, n)
                : Number(
                  (yield* cypher("MATCH (n:FrozenLock { key: $key, v: 2 }) RETURN count(n) AS n", { key }))[0]!.n
                ),
              frozen: yield* held(engine, key, n)
            }
            console.log(`frozen ${engine}: stores after SIGCONT: ${JSON.stringify(stores)}`)
            assert.isTrue(settled._tag === "Some", `not compensated within 60 s: ${JSON.stringify(journaled.body)}`)
            assert.deepStrictEqual(stores, { partner: 0, frozen: 0 })
          }),
        120_000
      )
    }
  }
)
