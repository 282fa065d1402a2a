/**
 * Outage test: the service (`src/main.ts`, embedded journal) under a steady load of 4-store transactions (a third
 * doomed), while each store of the stack in turn is frozen (SIGSTOP, then SIGCONT) and stopped and started again
 * (`tools/stack/down.sh <store>`, `up.sh`), and one store frozen longer than the transactions' timeout. Afterwards:
 * every saga ended, nothing torn or applied twice, every answer agrees with the journal, the stores hold what the
 * journal says of every saga that did not fail, and every `failed` one is listed for a person
 * (`GET /v1/transactions?status=failed&resolved=false`). Stores are always resumed / started again, also when the
 * test fails or its process exits.
 *
 * Sizes (env): POLYSAGA_OUTAGE_PHASE_MS (each freeze and each stop, default 3000), POLYSAGA_OUTAGE_TIMEOUT_MS (the
 * transactions' timeout, default 10000), POLYSAGA_OUTAGE_LONG (`all`, or the stores frozen for the timeout + 5 s,
 * comma-separated; default `ferretdb`). The defaults are the bounded run of `pnpm test` and CI (every store still
 * frozen and restarted under load, one past the timeout); `scripts/faults.sh` runs 10 s outages and freezes every
 * store past a 20 s timeout. The file runs last (`vitest.config.ts`): the stores it restarts come back cold.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { makeClient, run as testRun, SqlLive, StoresLive, tmpDir } from "../support.js"
import {
  answerSummary,
  configFile,
  createTables,
  diagnose,
  frozen,
  journaled,
  load,
  type StackStore,
  startService,
  stopped,
  storeCounts,
  untilEnded,
  unwedgeChroma,
  verdict
} from "./harness.js"

const PHASE_MS = Number(process.env["POLYSAGA_OUTAGE_PHASE_MS"] ?? 3_000)
const TIMEOUT_MS = Number(process.env["POLYSAGA_OUTAGE_TIMEOUT_MS"] ?? 10_000)
const STORES: ReadonlyArray<StackStore> = ["postgres", "ferretdb", "neo4j", "chroma"]
const LONG: ReadonlyArray<StackStore> = (process.env["POLYSAGA_OUTAGE_LONG"] ?? "ferretdb") === "all"
  ? STORES
  : (process.env["POLYSAGA_OUTAGE_LONG"] ?? "ferretdb").split(",") as Array<StackStore>
const CLIENTS = 4

const Env = Layer.effectDiscard(createTables).pipe(Layer.provideMerge(Layer.mergeAll(SqlLive, StoresLive)))

layer(Env, { timeout: "60 seconds", excludeTestServices: true })("store outages under load", (it) => {
  it.scoped(
    `each store frozen and stopped for ${PHASE_MS} ms, ${
      LONG.join(", ")
    } frozen for longer than the ${TIMEOUT_MS} ms ` +
      `timeout: nothing torn, every saga ended, every failed one listed`,
    () =>
      Effect.gen(function*() {
        const run = `outage${testRun}`
        const began = Date.now()
        const service = yield* startService(configFile({ embedded: tmpDir("outage-journal") }))
        let stop = false
        const traffic = load({ run, clients: CLIENTS, targets: [service.url], stop: () => stop, timeoutMs: TIMEOUT_MS })
        const fiber = yield* Effect.fork(traffic.run)
        const phases: Array<string> = []
        const { restarts: chromaRestarts, unwedge } = unwedgeChroma(run)
        const phase = <E, R>(name: string, outage: Effect.Effect<void, E, R>) =>
          Effect.gen(function*() {
            const before = traffic.sent.length
            const t = Date.now()
            yield* outage
            // a steady stretch after it: the load goes on against the healthy stores
            yield* Effect.sleep("2 seconds")
            yield* unwedge
            const line = `${name}: ${traffic.sent.length - before} transactions sent in ${Date.now() - t} ms (${
              answerSummary(traffic.sent.slice(before), false).replaceAll("\n", "; ")
            })`
            phases.push(line)
            console.log(`outage: ${line}`)
          })
        yield* Effect.sleep("3 seconds")
        for (const store of STORES) {
          yield* phase(`${store} frozen ${PHASE_MS} ms`, frozen(store, Effect.sleep(PHASE_MS)))
          yield* phase(`${store} stopped ${PHASE_MS} ms`, stopped(store, Effect.sleep(PHASE_MS)))
        }
        for (const store of LONG) {
          yield* phase(`${store} frozen ${TIMEOUT_MS + 5_000} ms`, frozen(store, Effect.sleep(TIMEOUT_MS + 5_000)))
        }
        stop = true
        yield* Fiber.join(fiber)
        const settleMs = yield* untilEnded(() => service.url, run, undefined, 180, unwedge).pipe(
          Effect.tapError(() => diagnose(service, run))
        )
        const statuses = yield* journaled(service.url, run)
        const counts = yield* storeCounts(run)
        const result = verdict(traffic.sent, statuses, counts)
        const listed = yield* makeClient(service.url, undefined).request(
          "GET",
          `/v1/transactions?status=failed&resolved=false&id=${run}&limit=1000`
        )
        const waiting = new Set((listed.body.transactions as Array<{ id: string }>).map((saga) => saga.id))
        const answers: Record<string, number> = {}
        for (const s of traffic.sent) {
          const key = (s.answer ?? "none").replace(/^lost: .*/, "lost")
          answers[key] = (answers[key] ?? 0) + 1
        }
        console.log(
          `outage: ${result.transactions} transactions in ${Date.now() - began} ms (${
            traffic.sent.filter((s) => s.doomed).length
          } doomed); answers ${JSON.stringify(answers)}; journal ${JSON.stringify(result.byStatus)}; torn ` +
            `${result.torn.length}, duplicated ${result.duplicated.length}, disagreeing ${result.disagreeing.length}, ` +
            `misanswered ${result.misanswered.length}, failed ${result.failed.length} (listed ${waiting.size}), ` +
            `unfinished ${result.unfinished.length}, strays ${result.strays.length}; Chroma restarted ` +
            `${chromaRestarts()} times; last sagas ended ${settleMs} ms after the clients stopped`
        )
        for (const id of result.failed) console.log(`outage: failed ${id}`)
        console.log(`outage: answers by code\n${answerSummary(traffic.sent)}`)
        // every request is valid: an outage answers 503 (or the saga's own status), never a client error
        const refused = traffic.sent.filter((s) => /^http 4/.test(s.answer ?? ""))
        for (const s of refused) console.log(`outage: ${s.id} answered ${s.answer}: ${s.detail}`)
        // what a failure shows: the service's output (the end of it)
        yield* Effect.sync(() => {
          assert.deepStrictEqual(result.torn, [], "torn transactions")
          assert.deepStrictEqual(result.duplicated, [], "records applied twice")
          assert.deepStrictEqual(result.unfinished, [], "unfinished sagas")
          assert.deepStrictEqual(result.misanswered, [], "answers that disagree with the journal")
          assert.deepStrictEqual(result.strays, [], "records of no transaction")
          assert.deepStrictEqual(refused.map((s) => `${s.id} ${s.answer} ${s.detail}`), [], "valid requests refused")
          // a failed saga waits for a person (its compensation met a conflict): listed; every other one is exact
          assert.deepStrictEqual(result.failed.filter((id) => !waiting.has(id)), [], "failed sagas not listed")
          assert.deepStrictEqual(
            result.disagreeing.filter((line) => !result.failed.some((id) => line.startsWith(`${id} `))),
            [],
            "stores that disagree with the journal"
          )
          assert.isAbove(result.byStatus["completed"] ?? 0, 0)
        }).pipe(Effect.tapDefect(() => diagnose(service, run)))
      }),
    900_000
  )
})
