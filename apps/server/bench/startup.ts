/**
 * `pnpm bench:startup` (after `pnpm build`, with `pnpm stack:up`): how long the service takes to listen, restarted on
 * an existing journal — the embedded SQLite one and a PostgreSQL one — with the demo configuration's 14 sources on
 * the four stores. Variants, interleaved (every round starts each once): the build (`node apps/server/dist/main.js`,
 * the bundle) and the sources under tsx (`pnpm server`). A first start of each journal, not counted, creates it.
 *
 * Per variant and journal it prints the median, min and max of the time the service reports in its "Ready: …
 * (N ms after the process started)" line (the journal and the sources open; "Listening on …" comes before them), and
 * the wall time from spawning the process to that line; and the load
 * average around the run, which moves these numbers more than anything else on a shared machine, and the CPU time the
 * process had used when it listened (Linux: `/proc/<pid>/stat`), which a busy machine inflates much less: about what
 * an idle machine's start takes. It asserts nothing about time. `--restarts=N` (default 5).
 */
import { PostgresJournal } from "@polysaga/journal"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../../..", import.meta.url))
const restarts = Number(process.argv.find((a) => a.startsWith("--restarts="))?.slice("--restarts=".length) ?? 5)
const pgUrl = process.env.POLYSAGA_PG_URL
if (pgUrl === undefined) {
  throw new Error("POLYSAGA_PG_URL is not set: run `pnpm stack:up` (the script reads .stack/env)")
}
if (!fs.existsSync(path.join(root, "apps/server/dist/main.js"))) {
  throw new Error("no apps/server/dist/main.js: `pnpm build`")
}

// the PostgreSQL journal in a database of its own on the stack's server
const journalDatabase = "polysaga_bench_startup"
const journalUrl = Redacted.value(await Effect.runPromise(PostgresJournal.createDatabase(pgUrl, journalDatabase)))

const work = fs.mkdtempSync(path.join(os.tmpdir(), "polysaga-startup-"))
const base = JSON.parse(fs.readFileSync(path.join(root, "apps/server/config/local.json"), "utf8"))
const journals = {
  sqlite: { embedded: path.join(work, "journal") },
  postgres: { url: journalUrl }
} as const
const configs = Object.fromEntries(
  Object.entries(journals).map(([name, journal]) => {
    const file = path.join(work, `${name}.json`)
    fs.writeFileSync(file, JSON.stringify({ ...base, port: 0, journal }))
    return [name, file]
  })
) as Record<keyof typeof journals, string>

const variants = {
  "build (node dist/main.js)": ["apps/server/dist/main.js"],
  "source (tsx)": ["--conditions=@polysaga/source", "--import", "tsx", "apps/server/src/main.ts"]
} as const

interface Start {
  readonly reported: number
  readonly wall: number
  /** CPU time (user + system) of the process when it listened: what an idle machine's wall time would be, about. */
  readonly cpu: number
}

/** User + system CPU time of a process, in ms, from `/proc/<pid>/stat` (clock ticks of 10 ms). */
const cpuTime = (pid: number): number => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** Starts the service, waits for its "Ready:" line (60 s at most), stops it with SIGTERM. */
const start = (args: ReadonlyArray<string>, config: string) =>
  new Promise<Start>((resolve, reject) => {
    const spawned = performance.now()
    const child = spawn(process.execPath, [...args, "--config", config], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    let listening: Start | undefined
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    const read = (chunk: Buffer) => {
      output += chunk
      const match = /Ready: .* \((\d+) ms after the process started\)/.exec(output)
      if (match === null || listening !== undefined) return
      listening = {
        reported: Number(match[1]),
        wall: Math.round(performance.now() - spawned),
        cpu: cpuTime(child.pid!)
      }
      child.kill("SIGTERM")
    }
    child.stdout.on("data", read)
    child.stderr.on("data", read)
    child.on("exit", (code) => {
      clearTimeout(timer)
      if (listening !== undefined && code === 0) resolve(listening)
      else reject(new Error(`${args.join(" ")} exited ${code} before it was ready:\n${output.slice(-2000)}`))
    })
  })

const load = () => os.loadavg().map((n) => n.toFixed(1)).join(" / ")
const loadBefore = load()
for (const config of Object.values(configs)) await start(variants["build (node dist/main.js)"], config)
const results = new Map<string, Array<Start>>()
for (let round = 0; round < restarts; round++) {
  for (const [journal, config] of Object.entries(configs)) {
    const names = Object.keys(variants) as Array<keyof typeof variants>
    // rotate which variant starts first, so that neither always follows the other
    for (const name of [...names.slice(round % names.length), ...names.slice(0, round % names.length)]) {
      const key = `${journal}|${name}`
      results.set(key, [...(results.get(key) ?? []), await start(variants[name], config)])
    }
  }
}
fs.rmSync(work, { recursive: true, force: true })

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2)
}
const summary = (values: ReadonlyArray<number>) => `${median(values)} [${Math.min(...values)}–${Math.max(...values)}]`

console.log(
  `\nstart-up of the service on an existing journal, 14 sources on 4 stores, ${restarts} restarts per row, ` +
    `Node ${process.version}, ${os.cpus().length} CPUs; load average (1 / 5 / 15 min) before ${loadBefore}, ` +
    `after ${load()}\n`
)
console.log(
  "| journal | variant | ready, ms after process start: median [min–max] | wall from spawn, ms | CPU time, ms |"
)
console.log("| --- | --- | --- | --- | --- |")
for (const journal of Object.keys(configs)) {
  for (const name of Object.keys(variants)) {
    const runs = results.get(`${journal}|${name}`)!
    console.log(
      `| ${journal} | ${name} | ${summary(runs.map((r) => r.reported))} | ${summary(runs.map((r) => r.wall))} | ` +
        `${summary(runs.map((r) => r.cpu))} |`
    )
  }
  const [build, source] = Object.keys(variants).map((name) =>
    median(results.get(`${journal}|${name}`)!.map((r) => r.reported))
  )
  console.log(`| ${journal} | source / build | ${(source! / build!).toFixed(2)}× | | |`)
}
