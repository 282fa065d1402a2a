/**
 * Crash test: a worker process runs warehouse transactions on the four real stores (PostgreSQL, Neo4j, FerretDB,
 * Chroma) with the durable journal and is killed with SIGKILL at random points, many times; each new worker's
 * recovery runner drives what the dead one left to an end — a step cut off on MongoDB or Chroma is resolved through
 * their markers. Finally every saga has ended and every store holds exactly what the completed sagas wrote.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import { Warehouse } from "@polysaga/warehouse"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import neo4j from "neo4j-driver"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { crashEntities, crashSources } from "./fixtures/crash-stores.js"
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

const repo = path.resolve(packageDir, "..", "..")
const chromaUrl = process.env["POLYSAGA_CHROMA_URL"] ?? ""

/**
 * Chroma 1.0's compactor can panic when a client is killed in the middle of a write ("message reply channel was
 * unexpectedly dropped by caller"): from then on every write answers HTTP 500 "Error sending message to compactor"
 * until Chroma restarts. The sagas then wait (a store error that is not their fault leaves them for a later
 * recovery pass); this restarts Chroma the way an operator would — SIGTERM to the stack's Chroma, `up.sh` again —
 * and the test counts it.
 */
const chromaWedged = async (): Promise<boolean> => {
  const base = `${chromaUrl}/api/v2/tenants/default_tenant/databases/default_database/collections`
  const created = await fetch(base, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "crash_probe", get_or_create: true })
  }).then((r) => r.json() as Promise<{ id: string }>)
  const added = await fetch(`${base}/${created.id}/upsert`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ids: ["probe"], embeddings: [[0]] })
  })
  return !added.ok && (await added.text()).includes("compactor")
}

const restartChroma = async () => {
  const pid = Number(fs.readFileSync(path.join(repo, ".stack", "run", "chroma.pid"), "utf8").trim())
  process.kill(pid, "SIGTERM")
  while (true) {
    try {
      process.kill(pid, 0)
      await sleep(50)
    } catch {
      break
    }
  }
  const up = spawn("bash", [path.join(repo, "tools", "stack", "up.sh")], { cwd: repo, stdio: "ignore" })
  await new Promise((resolve) => up.on("exit", resolve))
}

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
          let chromaRestarts = 0
          for (let i = 0; i < KILLS; i++) {
            const owner = `w${i}`
            const worker = start(Redacted.value(url), owner, "work")
            yield* Effect.promise(() => worker.waitFor("ready", 60_000))
            if (i > 0 && i % 2 === 0) {
              // wait until this worker's runner has ended every saga the dead ones left (their leases expire first)
              while ((yield* Effect.promise(() => othersRunning(owner))) > 0) yield* Effect.sleep("20 millis")
              recoveries.push(Date.now() - lastKill)
            }
            // long enough for some sagas to complete between kills (a 6-step saga takes ~0.5 s on a loaded machine)
            const delay = 500 + Math.floor(Math.random() * 2500)
            delays.push(delay)
            yield* Effect.promise(() => sleep(delay))
            worker.child.kill("SIGKILL")
            lastKill = Date.now()
            yield* Effect.promise(() => worker.exited)
            if (yield* Effect.promise(chromaWedged)) {
              chromaRestarts++
              yield* Effect.promise(restartChroma)
            }
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

          // MongoDB and Chroma: one record per completed saga (keyed by the saga id), nothing else of this run
          const ofRun = (records: ReadonlyArray<Readonly<Record<string, unknown>>> | undefined, key: string) =>
            (records ?? []).map((r) => String(r[key])).filter((id) => id.startsWith(`crash-${run}-`)).sort()
          const held = yield* Warehouse.transaction([
            {
              operation: "select",
              from: { type: "database", tag: "crash-doc", entity: crashEntities.docs },
              where: { run: { $eq: run } },
              options: { limit: 1000 }
            },
            {
              operation: "select",
              from: { type: "vector", tag: "crash-vec", entity: crashEntities.vectors },
              where: { run: { $eq: run } },
              options: { limit: 1000 }
            }
          ]).pipe(Effect.provide(Warehouse.layer({ sources: [...crashSources] })))
          const docs = ofRun(held.stepResults["step_0"]?.data, "_id")
          const vectors = ofRun(held.stepResults["step_1"]?.data, "id")
          console.log(
            `crash test: ${docs.length} MongoDB documents, ${vectors.length} Chroma vectors held; Chroma restarted ` +
              `${chromaRestarts} times (its compactor panicked after a killed worker's dropped request)`
          )
          assert.deepStrictEqual(docs, [...completed].sort(), "one MongoDB document per completed saga")
          assert.deepStrictEqual(vectors, [...completed].sort(), "one Chroma vector per completed saga")
        }).pipe(Effect.provide(PgClient.layer({ url, maxConnections: 2 })))),
    // 18 worker starts dominate; each loads its TypeScript through tsx, which takes 10–25 s on a loaded 2-core machine
    { timeout: 480_000 }
  )
})
