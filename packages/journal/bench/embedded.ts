/**
 * `pnpm bench:journal`: the two embedded journals side by side, in one run with the variants interleaved —
 * PGlite (`PostgresJournal.layerEmbedded`) and SQLite (`SqliteJournal.layer`, WAL, `synchronous = FULL`):
 *
 * - start: opening an existing journal (with its sagas) until it is ready, median of ROUNDS;
 * - append latency: a 3-step saga of no-op steps through `Saga.execute`, time per step (p50, p95);
 * - SIGKILL: a child process runs sagas and prints each id once `Saga.execute` returned; it is SIGKILLed; the
 *   journal is reopened and every printed saga must be there, ended, with all its entries.
 *
 * Prints a table and the ratios PGlite ÷ SQLite. Not a test: nothing here gates on timings.
 * Env: ROUNDS (default 3), SAGAS (per round, default 100).
 */
import { PostgresJournal, SqliteJournal } from "@polysaga/journal"
import { Saga, SagaJournal, Step } from "@polysaga/saga"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Schema from "effect/Schema"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"

type Engine = "pglite" | "sqlite"
const engines: ReadonlyArray<Engine> = ["pglite", "sqlite"]
const journalLayer = (engine: Engine, dir: string): Layer.Layer<SagaJournal.SagaJournal, unknown> =>
  engine === "pglite" ? PostgresJournal.layerEmbedded({ dir }) : SqliteJournal.layer({ dir })

const noop = Step.define({
  name: "bench.noop",
  input: Schema.Number,
  result: Schema.Number,
  compensate: () => Effect.void
})
const saga = (n: number) =>
  Saga.make(
    "bench",
    Effect.forEach([0, 1, 2], (i) =>
      Saga.step(Step.fromDefinition(noop, Effect.succeed(n + i), { id: `s${i}`, input: n })))
  )

/** Run `count` 3-step sagas one after another; the time of each, in ms. */
const runSagas = (count: number, prefix: string) =>
  Effect.gen(function*() {
    const times: Array<number> = []
    for (let i = 0; i < count; i++) {
      const t = performance.now()
      const result = yield* Saga.execute(saga(i), { id: `${prefix}-${i}` })
      if (result.status !== "completed") return yield* Effect.dieMessage(`saga ${prefix}-${i}: ${result.status}`)
      times.push(performance.now() - t)
    }
    return times
  })

const quantile = (values: ReadonlyArray<number>, q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

const self = fileURLToPath(import.meta.url)

/** The child of the SIGKILL check: sagas until killed, each id printed once executed. */
const child = (engine: Engine, dir: string) =>
  Effect.gen(function*() {
    console.log("ready")
    for (let i = 0;; i++) {
      yield* Saga.execute(saga(i), { id: `kill-${i}` })
      console.log(`done kill-${i}`)
    }
  }).pipe(Effect.provide(journalLayer(engine, dir)), Logger.withMinimumLogLevel(LogLevel.Warning), Effect.runPromise)

/** SIGKILL a child after `ms` of sagas; how many it acknowledged and how many of those the journal lost. */
const killCheck = (engine: Engine, ms: number) =>
  Effect.gen(function*() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `polysaga-bench-kill-${engine}-`))
    const acknowledged = yield* Effect.promise(() =>
      new Promise<Array<string>>((resolve) => {
        const proc = spawn(process.execPath, [
          "--conditions=@polysaga/source",
          "--import",
          "tsx",
          self,
          "child",
          engine,
          dir
        ], {
          stdio: ["ignore", "pipe", "inherit"]
        })
        const ids: Array<string> = []
        readline.createInterface({ input: proc.stdout! }).on("line", (line) => {
          if (line === "ready") setTimeout(() => proc.kill("SIGKILL"), ms)
          else if (line.startsWith("done ")) ids.push(line.slice(5))
        })
        proc.on("exit", () => resolve(ids))
      })
    )
    const lost = yield* Effect.gen(function*() {
      const journal = yield* SagaJournal.SagaJournal
      let missing = 0
      for (const id of acknowledged) {
        const entries = yield* journal.entries(id)
        if (entries.length !== 8 || entries.at(-1)?._tag !== "SagaEnded") missing++
      }
      const unfinished = yield* journal.unfinished
      return { missing, unfinished: unfinished.length }
    }).pipe(Effect.provide(journalLayer(engine, dir)))
    return { acknowledged: acknowledged.length, ...lost }
  })

const bench = Effect.gen(function*() {
  const rounds = Number(process.env.ROUNDS ?? 3)
  const sagas = Number(process.env.SAGAS ?? 100)
  const dirs = Object.fromEntries(
    engines.map((e) => [e, fs.mkdtempSync(path.join(os.tmpdir(), `polysaga-bench-${e}-`))])
  ) as Record<Engine, string>
  const starts: Record<Engine, Array<number>> = { pglite: [], sqlite: [] }
  const steps: Record<Engine, Array<number>> = { pglite: [], sqlite: [] }
  // round 0 creates each journal; the measured rounds reopen it, as a restarted service does
  for (let round = 0; round <= rounds; round++) {
    for (const engine of round % 2 === 0 ? engines : [...engines].reverse()) {
      const t = performance.now()
      yield* Effect.gen(function*() {
        yield* SagaJournal.SagaJournal
        const opened = performance.now() - t
        const times = yield* runSagas(sagas, `r${round}`)
        if (round > 0) {
          starts[engine].push(opened)
          steps[engine].push(...times.map((ms) => ms / 3))
        }
      }).pipe(Effect.provide(journalLayer(engine, dirs[engine])))
    }
  }
  const kills: Record<Engine, Array<{ acknowledged: number; missing: number; unfinished: number }>> = {
    pglite: [],
    sqlite: []
  }
  for (let round = 0; round < rounds; round++) {
    for (const engine of engines) kills[engine].push(yield* killCheck(engine, 1500))
  }
  const row = (engine: Engine) => {
    const k = kills[engine]
    return `| ${engine} | ${quantile(starts[engine], 0.5).toFixed(0)} | ${quantile(steps[engine], 0.5).toFixed(2)} | ${
      quantile(steps[engine], 0.95).toFixed(2)
    } | ${k.reduce((s, x) => s + x.acknowledged, 0)} acknowledged, ${k.reduce((s, x) => s + x.missing, 0)} lost, ${
      k.reduce((s, x) => s + x.unfinished, 0)
    } left running |`
  }
  console.log(`\nembedded journals: ${rounds} rounds × ${sagas} sagas of 3 steps, interleaved; ${rounds} SIGKILLs each`)
  console.log(
    "| journal | open existing, p50 ms | per step p50 ms | per step p95 ms | SIGKILL after 1.5 s |"
  )
  console.log("| --- | --- | --- | --- | --- |")
  for (const engine of engines) console.log(row(engine))
  const ratio = (f: (e: Engine) => number) => (f("pglite") / f("sqlite")).toFixed(2)
  console.log(
    `PGlite ÷ SQLite: open ${ratio((e) => quantile(starts[e], 0.5))}×, per step p50 ${
      ratio((e) => quantile(steps[e], 0.5))
    }×, p95 ${ratio((e) => quantile(steps[e], 0.95))}×`
  )
})

if (process.argv[2] === "child") void child(process.argv[3] as Engine, process.argv[4]!)
else void Effect.runPromise(bench.pipe(Logger.withMinimumLogLevel(LogLevel.Warning)))
