/**
 * Crash test: a worker process runs warehouse transactions on the real PostgreSQL and Neo4j with the durable journal and is
 * killed with SIGKILL at random points, many times; each new worker's recovery runner drives what the dead one
 * left to an end. Finally every saga has ended and the store holds exactly what the completed sagas wrote.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import neo4j from "neo4j-driver"
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { freshDatabase } from "./utils.js"

const KILLS = 18
const run = crypto.randomUUID().slice(0, 8)
const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const fixture = path.join(packageDir, "test", "fixtures", "crash-worker.ts")

interface Worker {
  readonly child: ChildProcess
  readonly lines: Array<string>
  readonly exited: Promise<number | null>
  readonly waitFor: (prefix: string, timeoutMs: number) => Promise<string>
}

const start = (url: string, owner: string, mode: "work" | "recover"): Worker => {
  const child = spawn(process.execPath, ["--conditions=@polysaga/source", "--import", "tsx", fixture], {
    cwd: packageDir,
    env: { ...process.env, POLYSAGA_CRASH_URL: url, RUN: run, OWNER: owner, MODE: mode, CONCURRENCY: "4" },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const lines: Array<string> = []
  const waiters: Array<() => void> = []
  readline.createInterface({ input: child.stdout! }).on("line", (line) => {
    lines.push(line)
    for (const wake of waiters.splice(0)) wake()
  })
  child.stderr!.on("data", (data) => process.stderr.write(`[${owner}] ${data}`))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  const waitFor = (prefix: string, timeoutMs: number) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${owner}: no "${prefix}" line in ${timeoutMs} ms`)), timeoutMs)
      const check = () => {
        const line = lines.find((l) => l.startsWith(prefix))
        if (line !== undefined) {
          clearTimeout(timer)
          resolve(line)
        } else waiters.push(check)
      }
      check()
    })
  return { child, lines, exited, waitFor }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe("crash recovery", () => {
  it.live(
    `a worker SIGKILLed ${KILLS} times at random points: every saga ends, the store is exact`,
    () =>
      Effect.flatMap(freshDatabase("polysaga_journal_crash"), (url) =>
        Effect.gen(function*() {
          const sql = yield* PgClient.PgClient
          yield* sql`CREATE TABLE crash_items (id text PRIMARY KEY, saga_id text NOT NULL,
        amount integer NOT NULL CHECK (amount > 0))`
          yield* sql`CREATE TABLE crash_counter (id integer PRIMARY KEY, total integer NOT NULL)`
          yield* sql`INSERT INTO crash_counter VALUES (1, 0)`
          const graph = neo4j.driver(process.env.POLYSAGA_NEO4J_URL!)
          const events = () =>
            graph.executeQuery("MATCH (e:CrashEvent) RETURN e.saga_id AS saga_id").then((r) =>
              r.records.map((x) => x.get("saga_id") as string)
            )
          yield* Effect.promise(() => graph.executeQuery("MATCH (e:CrashEvent) DETACH DELETE e"))
          const othersRunning = (owner: string) =>
            Effect.runPromise(
              Effect.map(
                sql<{ n: number }>`SELECT count(*)::int AS n FROM polysaga_journal_sagas
              WHERE status = 'running' AND owner <> ${owner}`,
                (rows) => rows[0]!.n
              )
            )

          const began = Date.now()
          const recoveries: Array<number> = []
          const delays: Array<number> = []
          let lastKill = 0
          let done = 0
          for (let i = 0; i < KILLS; i++) {
            const owner = `w${i}`
            const worker = start(Redacted.value(url), owner, "work")
            yield* Effect.promise(() => worker.waitFor("ready", 60_000))
            if (i > 0 && i % 2 === 0) {
              // wait until this worker's runner has ended every saga the dead ones left (their leases expire first)
              while ((yield* Effect.promise(() => othersRunning(owner))) > 0) yield* Effect.sleep("20 millis")
              recoveries.push(Date.now() - lastKill)
            }
            const delay = Math.floor(Math.random() * 1200)
            delays.push(delay)
            yield* Effect.promise(() => sleep(delay))
            worker.child.kill("SIGKILL")
            lastKill = Date.now()
            yield* Effect.promise(() => worker.exited)
            done += worker.lines.filter((l) => l.startsWith("done ")).length
          }
          const final = start(Redacted.value(url), "final", "recover")
          const line = yield* Effect.promise(() => final.waitFor("recovered", 60_000))
          assert.strictEqual(yield* Effect.promise(() => final.exited), 0)
          const finalRecovery = Date.now() - lastKill
          recoveries.push(finalRecovery)

          // the journal: every saga ended, none failed
          const sagas = yield* sql<{ id: string; status: string; claims: number }>`
        SELECT id, status, claims FROM polysaga_journal_sagas`
          const byStatus = (status: string) => sagas.filter((s) => s.status === status)
          const recovered = sagas.filter((s) => s.claims > 0)
          const resolved = yield* sql<{ kind: string; n: number }>`
        SELECT kind, count(*)::int AS n FROM polysaga_journal_entries WHERE entry ->> 'resolved' = 'true' GROUP BY kind`
          console.log(
            `crash test: ${KILLS} kills in ${Date.now() - began} ms (delays ${
              delays.join(",")
            }); ${sagas.length} sagas ` +
              `(${done} reported done by the workers): ${byStatus("completed").length} completed, ` +
              `${byStatus("compensated").length} compensated, ${
                byStatus("failed").length
              } failed; ${recovered.length} ` +
              `recovered after a kill (${recovered.filter((s) => s.status === "completed").length} as completed); ` +
              `in-doubt steps resolved by the barrier: ${
                resolved.map((r) => `${r.n} ${r.kind}`).join(", ") || "none"
              }; ` +
              `recovery time after a kill (lease 1 s + restart included) ms: ${recoveries.join(",")}; final: ${line}`
          )
          assert.strictEqual(byStatus("running").length, 0, "unfinished sagas left")
          assert.deepStrictEqual(byStatus("failed").map((s) => s.id), [], "failed sagas")
          assert.isAbove(recovered.length, 0, "the kills cut sagas short")

          // the store: exactly the completed sagas' rows, each once; the counter is their sum
          const items = yield* sql<{ id: string; saga_id: string }>`SELECT id, saga_id FROM crash_items`
          const completed = new Set(byStatus("completed").map((s) => s.id))
          const known = new Set(sagas.map((s) => s.id))
          const orphans = items.filter((row) => !completed.has(row.saga_id))
          assert.deepStrictEqual(orphans.map((r) => `${r.id} (${known.has(r.saga_id) ? "journaled" : "unknown"})`), [])
          for (const id of completed) {
            assert.deepStrictEqual(
              items.filter((row) => row.saga_id === id).map((row) => row.id).sort(),
              [`${id}-a`, `${id}-b`]
            )
          }
          const expected = [...completed].reduce((sum, id) => sum + Number(/-k(\d+)$/.exec(id)![1]), 0)
          const [counter] = yield* sql<{ total: number }>`SELECT total FROM crash_counter WHERE id = 1`
          assert.strictEqual(counter!.total, expected, "the counter holds the completed sagas' increments, once each")

          // the graph: one event per completed saga, nothing else
          const graphEvents = yield* Effect.promise(events)
          yield* Effect.promise(() => graph.close())
          assert.deepStrictEqual([...graphEvents].sort(), [...completed].sort(), "one graph event per completed saga")
        }).pipe(Effect.provide(PgClient.layer({ url, maxConnections: 2 })))),
    // 18 worker starts dominate; each loads its TypeScript through tsx, which takes 10–25 s on a loaded 2-core machine
    { timeout: 480_000 }
  )
})
