/**
 * The list endpoint with 10,000 sagas in the journal (PostgreSQL; and, with POLYSAGA_SCALE_EMBEDDED=1, the embedded
 * PGlite the local configuration uses): pages visit every saga once, newest first; filters answer what they say.
 * The time each query takes over HTTP is printed (median and p95 of interleaved rounds), not asserted.
 */
import { assert, describe, it } from "@effect/vitest"
import { PostgresJournal } from "@polysaga/journal"
import { SagaJournal } from "@polysaga/saga"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { Client, env, serverLayer, Sql, SqlLive, tmpDir } from "./support.js"

const sagas = 10_000
const statuses = ["failed", "compensated", "compensated", "completed", "completed", "completed", "completed"] as const

const seed = Effect.gen(function*() {
  const journal = yield* SagaJournal.SagaJournal
  yield* Effect.forEach(Array.from({ length: sagas }, (_, i) => i), (i) => {
    const sagaId = `scale-${String(i).padStart(5, "0")}`
    const status = statuses[i % statuses.length]!
    return Effect.zipRight(
      journal.append(SagaJournal.SagaStarted.make({ sagaId, name: "transaction", at: i })),
      journal.append(
        SagaJournal.SagaEnded.make({ sagaId, at: i, status, ...(status === "completed" ? {} : { error: "boom" }) })
      )
    )
  }, { concurrency: 4, discard: true })
})

const millis = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const value = yield* effect
    return [performance.now() - start, value] as const
  })

const check = (label: string) =>
  Effect.gen(function*() {
    const client = yield* Client
    const get = (path: string) =>
      Effect.map(client.request("GET", path), (response) => {
        assert.strictEqual(response.status, 200, path)
        return response.body
      })
    // every saga once, newest first
    const seen: Array<{ readonly id: string; readonly startedAt: string }> = []
    let next: string | undefined
    do {
      const page = yield* get(`/v1/transactions?limit=1000${next === undefined ? "" : `&cursor=${next}`}`)
      seen.push(...page.transactions)
      next = page.next
    } while (next !== undefined)
    assert.strictEqual(seen.length, sagas)
    assert.strictEqual(new Set(seen.map((saga) => saga.id)).size, sagas)
    const newestFirst = seen.every((saga, i) =>
      i === 0 || Date.parse(seen[i - 1]!.startedAt) >= Date.parse(saga.startedAt)
    )
    assert.isTrue(newestFirst, "pages are newest first")
    const secondPage = (yield* get("/v1/transactions?limit=50")).next as string

    const queries = {
      "first page (50)": "/v1/transactions?limit=50",
      "next page (50)": `/v1/transactions?limit=50&cursor=${secondPage}`,
      "status=failed (50)": "/v1/transactions?status=failed&limit=50",
      "needs a person (50)": "/v1/transactions?status=failed&resolved=false&limit=50",
      "id contains (50)": "/v1/transactions?id=scale-0123&limit=50",
      "time range (50)": `/v1/transactions?from=${new Date(Date.now() - 3_600_000).toISOString()}&limit=50`,
      "page of 1000": "/v1/transactions?limit=1000",
      "overview": "/v1/overview"
    }
    const failed = (yield* get("/v1/transactions?status=failed&limit=1000")).transactions
    assert.isTrue(failed.length === 1000 && failed.every((t: { status: string }) => t.status === "failed"))
    const byId = (yield* get("/v1/transactions?id=scale-0123&limit=50")).transactions
    assert.sameMembers(byId.map((t: { id: string }) => t.id), Array.from({ length: 10 }, (_, i) => `scale-0123${i}`))
    const overview = yield* get("/v1/overview")
    assert.strictEqual(overview.counts.failed, Math.ceil(sagas / statuses.length))

    const times: Record<string, Array<number>> = Object.fromEntries(Object.keys(queries).map((k) => [k, []]))
    for (let round = 0; round < 15; round++) {
      for (const [name, path] of Object.entries(queries)) {
        const [ms] = yield* millis(get(path))
        times[name]!.push(ms)
      }
    }
    const at = (xs: Array<number>, q: number) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))]!
    const lines = Object.entries(times).map(([name, xs]) =>
      `  ${name.padEnd(22)} median ${at(xs, 0.5).toFixed(1).padStart(6)} ms   p95 ${
        at(xs, 0.95).toFixed(1).padStart(6)
      } ms`
    )
    console.log(
      `list endpoint, ${sagas} sagas, ${label} journal, 15 interleaved rounds (HTTP, loopback):\n${lines.join("\n")}`
    )
  })

describe("the list endpoint with 10,000 sagas", () => {
  it.live("on a PostgreSQL journal", () =>
    Effect.gen(function*() {
      const sql = yield* Sql
      yield* sql.unsafe("DROP DATABASE IF EXISTS polysaga_server_scale WITH (FORCE)")
      yield* sql.unsafe("CREATE DATABASE polysaga_server_scale")
      const url = new URL(env.pg)
      url.pathname = "/polysaga_server_scale"
      const [seedMs] = yield* millis(
        Effect.scoped(
          Layer.build(PostgresJournal.layer({ url: Redacted.make(url.toString()), owner: "seed" })).pipe(
            Effect.flatMap((context) => Effect.provide(seed, context))
          )
        )
      )
      console.log(`seeded ${sagas} sagas through the journal in ${(seedMs / 1000).toFixed(1)} s`)
      yield* Effect.scoped(Effect.provide(check("PostgreSQL"), serverLayer({ journal: { url: url.toString() } })))
    }).pipe(Effect.provide(SqlLive)), { timeout: 240_000 })

  // seeding 10,000 sagas one statement each over PGlite's one connection takes about two minutes here: run it with
  // POLYSAGA_SCALE_EMBEDDED=1
  it.live.skipIf(process.env.POLYSAGA_SCALE_EMBEDDED !== "1")(
    "on an embedded PGlite journal",
    () =>
      Effect.gen(function*() {
        const dir = tmpDir("scale")
        const [seedMs] = yield* millis(
          Effect.scoped(
            Layer.build(PostgresJournal.layerEmbedded({ dir, owner: "seed" })).pipe(
              Effect.flatMap((context) => Effect.provide(seed, context))
            )
          )
        )
        console.log(`seeded ${sagas} sagas through the embedded journal in ${(seedMs / 1000).toFixed(1)} s`)
        yield* Effect.scoped(Effect.provide(check("embedded PGlite"), serverLayer({ journal: { embedded: dir } })))
      }),
    { timeout: 240_000 }
  )
})
