/**
 * `pnpm bench` (`pnpm bench --quick`: the bounded version CI runs, about a minute): every variant in this one
 * process, interleaved (each iteration runs every variant once, in a rotating order), against the four real stores
 * of `pnpm stack:up`:
 *
 * - W4 and the failing W4, concurrency 1: p50 and p95 per saga, and their ratios to RAW (the failing W4's floor is
 *   the hand-written try/catch saga);
 * - step scaling: sagas of 1…64 PostgreSQL inserts, time per step, ratios to the same raw inserts;
 * - throughput: W4 sagas per second at concurrency 1, 8 and 32; and 1-step Chroma sagas against the raw upsert;
 * - memory: RSS and heap after N W4 sagas, one child process per journal; and the journals alone over 10,000 sagas
 *   on the in-memory TestStore (`journalmemory.ts`), sampled on the way (growth per 1,000 sagas);
 * - round trips per step, counted on the wire (`wire.ts`), per store, and the journal's statements per saga.
 *
 * It prints markdown and writes `bench/results/latest.{json,md}`. It asserts nothing about time (the round-trip
 * budget is a test: `bench/test/round-trips.test.ts`); a variant whose saga ends otherwise than expected stops it.
 */
import { Warehouse } from "@polysaga/warehouse"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as InMemory from "./inmemory.js"
import * as JournalMemory from "./journalmemory.js"
import * as RoundTrips from "./roundtrips.js"
import * as Variants from "./variants.js"
import * as W4 from "./w4.js"
import * as Workflow from "./workflow.js"

const args = process.argv.slice(2)
const quick = args.includes("--quick")
const only = args.find((a) => a.startsWith("--only="))?.slice("--only=".length).split(",")
const self = fileURLToPath(import.meta.url)
const run = Date.now().toString(36)

const settings = quick
  ? {
    reps: 1,
    iterations: 6,
    warm: 1,
    scaling: [1, 8],
    scalingIterations: 3,
    levels: [1, 8],
    perLevel: 0,
    memory: 10,
    journalMemory: 200,
    inMemory: 30
  }
  : {
    reps: Number(process.env.REPS ?? 3),
    iterations: Number(process.env.ITERATIONS ?? 40),
    warm: 5,
    scaling: [1, 4, 16, 64],
    scalingIterations: 8,
    levels: [1, 8, 32],
    perLevel: 160,
    memory: Number(process.env.MEMORY_SAGAS ?? 2000),
    journalMemory: Number(process.env.JOURNAL_MEMORY_SAGAS ?? 10_000),
    inMemory: 300
  }

/** Sagas per throughput run: `perLevel`, or in the quick run one wave (at least 8). */
const sagasAt = (level: number) => settings.perLevel > 0 ? settings.perLevel : Math.max(8, level)

const enabled = (section: string) => only === undefined || only.includes(section)

const quantile = (values: ReadonlyArray<number>, q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
}

const rotate = <A>(items: ReadonlyArray<A>, by: number): ReadonlyArray<A> =>
  items.map((_, i) => items[(i + by) % items.length]!)

const out: Array<string> = []
const json: Record<string, unknown> = { quick, settings, at: new Date().toISOString(), node: process.version }
const print = (line = "") => {
  out.push(line)
  console.log(line)
}

const expect = (variant: Variants.Variant, status: Variants.Status, wanted: Variants.Status, what: string) => {
  if (status !== wanted) throw new Error(`${variant.name}: ${what} ended ${status}, not ${wanted}`)
}

/** p50 / p95 per variant and their ratios to the first variant (the floor). */
const latencyTable = (title: string, floor: string, times: ReadonlyMap<string, ReadonlyArray<number>>) => {
  const base = times.get(floor)!
  const b50 = quantile(base, 0.5)
  const b95 = quantile(base, 0.95)
  print(`### ${title}`)
  print()
  print(`| variant | p50 ms | p95 ms | p50 ÷ ${floor} | p95 ÷ ${floor} | n |`)
  print("| --- | ---: | ---: | ---: | ---: | ---: |")
  const rows: Array<Record<string, unknown>> = []
  for (const [name, values] of times) {
    const p50 = quantile(values, 0.5)
    const p95 = quantile(values, 0.95)
    rows.push({ variant: name, p50, p95, ratioP50: p50 / b50, ratioP95: p95 / b95, n: values.length })
    print(
      `| ${name} | ${p50.toFixed(2)} | ${p95.toFixed(2)} | ${(p50 / b50).toFixed(2)} | ${
        (p95 / b95).toFixed(2)
      } | ${values.length} |`
    )
  }
  print()
  return rows
}

/** Runs every variant once per iteration, in a rotating order; the times per variant. */
const interleaved = async (
  variants: ReadonlyArray<Variants.Variant>,
  iterations: number,
  warm: number,
  once: (variant: Variants.Variant, id: string) => Promise<void>
) => {
  const times = new Map<string, Array<number>>(variants.map((v) => [v.name, []]))
  for (let i = -warm; i < iterations; i++) {
    for (const [k, variant] of rotate(variants, Math.abs(i)).entries()) {
      const id = `${run}-${i}-${k}-${Math.random().toString(36).slice(2, 8)}`
      const t = performance.now()
      await once(variant, id)
      if (i >= 0) times.get(variant.name)!.push(performance.now() - t)
    }
  }
  return times
}

const merge = (into: Map<string, Array<number>>, from: ReadonlyMap<string, ReadonlyArray<number>>) => {
  for (const [k, v] of from) into.set(k, [...(into.get(k) ?? []), ...v])
}

const latency = async (variants: ReadonlyArray<Variants.Variant>) => {
  for (const fail of [false, true]) {
    if (!enabled(fail ? "failing" : "w4")) continue
    const all = new Map<string, Array<number>>()
    for (let rep = 0; rep < settings.reps; rep++) {
      merge(
        all,
        await interleaved(variants, settings.iterations, settings.warm, async (variant, id) => {
          expect(variant, await variant.w4(id, fail), fail ? "compensated" : "completed", fail ? "failing W4" : "W4")
        })
      )
    }
    json[fail ? "failing" : "w4"] = latencyTable(
      fail
        ? "Failing W4 (5th step fails, four compensations), concurrency 1 — the floor is the hand-written saga"
        : "W4 (PostgreSQL row, MongoDB document, Neo4j node, Chroma vector), concurrency 1",
      variants[0]!.name,
      all
    )
  }
}

/** A table row: the label, each variant's value, and each one's ratio to the first (the floor). */
const ratioRow = (label: string, values: ReadonlyArray<number>, digits: number) =>
  `| ${label} | ${values.map((v) => v.toFixed(digits)).join(" | ")} | ${
    values.slice(1).map((v) => (v / values[0]!).toFixed(2)).join(" | ")
  } |`

const scaling = async (variants: ReadonlyArray<Variants.Variant>) => {
  const rows: Array<Record<string, unknown>> = []
  print("### Step scaling (a saga of n PostgreSQL inserts), time per step")
  print()
  print(
    `| n | ${variants.map((v) => `${v.name} ms/step`).join(" | ")} | ${
      variants.slice(1).map((v) => `${v.name} ÷ RAW`).join(" | ")
    } |`
  )
  print(`| ---: | ${variants.map(() => "---:").join(" | ")} | ${variants.slice(1).map(() => "---:").join(" | ")} |`)
  for (const n of settings.scaling) {
    const all = new Map<string, Array<number>>()
    for (let rep = 0; rep < settings.reps; rep++) {
      merge(
        all,
        await interleaved(variants, settings.scalingIterations, 1, async (variant, id) => {
          expect(variant, await variant.steps(id, n), "completed", `${n} steps`)
        })
      )
    }
    const perStep = variants.map((v) => quantile(all.get(v.name)!, 0.5) / n)
    rows.push({ n, ...Object.fromEntries(variants.map((v, i) => [v.name, perStep[i]])) })
    print(ratioRow(String(n), perStep, 2))
  }
  print()
  json.scaling = rows
}

const throughput = async (
  variants: ReadonlyArray<Variants.Variant>,
  what: { readonly title: string; readonly key: string } = { title: "W4 sagas per second", key: "throughput" }
) => {
  const rows: Array<Record<string, unknown>> = []
  print(`### Throughput (${what.title})`)
  print()
  print(
    `| concurrency | ${variants.map((v) => v.name).join(" | ")} | ${
      variants.slice(1).map((v) => `${v.name} ÷ RAW`).join(" | ")
    } |`
  )
  print(`| ---: | ${variants.map(() => "---:").join(" | ")} | ${variants.slice(1).map(() => "---:").join(" | ")} |`)
  for (const level of settings.levels) {
    const rates = new Map<string, Array<number>>(variants.map((v) => [v.name, []]))
    for (let rep = 0; rep < settings.reps; rep++) {
      for (const [k, variant] of rotate(variants, rep).entries()) {
        let next = 0
        const t = performance.now()
        await Promise.all(Array.from({ length: level }, async (_, worker) => {
          while (next < sagasAt(level)) {
            const i = next++
            const status = await variant.w4(`${run}-tp${level}-${rep}-${k}-${worker}-${i}`, false)
            expect(variant, status, "completed", "W4")
          }
        }))
        rates.get(variant.name)!.push(sagasAt(level) / ((performance.now() - t) / 1000))
      }
    }
    const rate = variants.map((v) => quantile(rates.get(v.name)!, 0.5))
    rows.push({ concurrency: level, ...Object.fromEntries(variants.map((v, i) => [v.name, rate[i]])) })
    print(ratioRow(String(level), rate, 1))
  }
  print()
  json[what.key] = rows
}

/**
 * One-step sagas on Chroma alone (the W4's vector upsert), as throughput: the raw client's `upsert` against a
 * warehouse saga of that one step (no journal) — what the Chroma adapter's own requests and locks cost.
 */
const chromaThroughput = async (raw: W4.Raw) => {
  const runtime = Variants.warehouseRuntime("none")
  await runtime.runPromise(Warehouse.Warehouse)
  const step = (id: string) => W4.operations(id, false).filter((o) => o.from.type === "vector")
  const variants: ReadonlyArray<Variants.Variant> = [
    {
      name: "RAW upsert",
      w4: async (id) => {
        await W4.writes(raw, id).at(-1)!.write()
        return "completed"
      },
      steps: () => Promise.resolve("completed"),
      close: async () => undefined
    },
    {
      name: "polysaga, 1 Chroma step",
      w4: (id) => runtime.runPromise(Effect.map(Warehouse.transaction(step(id)), (result) => result.status)),
      steps: () => Promise.resolve("completed"),
      close: () => runtime.dispose()
    }
  ]
  try {
    await throughput(variants, { title: "1-step Chroma sagas per second", key: "chromaThroughput" })
  } finally {
    for (const variant of variants) await variant.close()
  }
}

/** A child process: N W4 sagas with one journal, then its memory (after a GC), as one JSON line. */
const memoryChild = async (journal: Variants.Journal, n: number) => {
  const variant = await Variants.polysaga(journal)
  for (let i = 0; i < n; i++) {
    expect(variant, await variant.w4(`${run}-mem-${journal}-${i}`, false), "completed", "W4")
  }
  ;(globalThis as { gc?: () => void }).gc?.()
  const usage = process.memoryUsage()
  console.log(JSON.stringify({ rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external }))
  await variant.close()
}

/** This script again as a child process (`args` say which child), with a GC to call; its stdout. */
const child = (args: ReadonlyArray<string>, onChunk?: (chunk: string) => void) =>
  new Promise<string>((resolve, reject) => {
    const proc = spawn(process.execPath, [
      "--conditions=@polysaga/source",
      "--expose-gc",
      "--import",
      "tsx",
      self,
      ...args
    ], { stdio: ["ignore", "pipe", "inherit"] })
    let stdout = ""
    proc.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
      onChunk?.(chunk.toString())
    })
    proc.on("exit", (code) => code === 0 ? resolve(stdout) : reject(new Error(`${args.join(" ")}: exit ${code}`)))
  })

const memory = async () => {
  const journals: ReadonlyArray<Variants.Journal> = ["none", "postgres", "sqlite"]
  const rows: Array<Record<string, unknown>> = []
  for (const journal of journals) {
    const stdout = await child(["memory-child", journal, String(settings.memory)])
    const line = stdout.trim().split("\n").at(-1)!
    rows.push({ journal, ...JSON.parse(line) })
  }
  const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0)
  const base = rows[0]!.rss as number
  print(`### Memory after ${settings.memory} W4 sagas (one process each, after a GC)`)
  print()
  print("| journal | RSS MB | heap MB | external MB | RSS − no journal MB |")
  print("| --- | ---: | ---: | ---: | ---: |")
  for (const row of rows) {
    print(
      `| ${row.journal} | ${mb(row.rss as number)} | ${mb(row.heapUsed as number)} | ${mb(row.external as number)} | ${
        mb((row.rss as number) - base)
      } |`
    )
  }
  print()
  json.memory = rows
}

/** The checkpoints of the journal memory run: 1k, 2k, 4k… below `n`, and `n`. */
const checkpoints = (n: number) => [
  ...[0.1, 0.2, 0.4].map((f) => Math.round(n * f)).filter((c) => c > 0 && c < n),
  n
]

/**
 * The journals' memory over many sagas in bounded time (`journalmemory.ts`): one child per journal, 4-insert sagas
 * on the in-memory TestStore, RSS after a GC at each checkpoint, and the growth per 1,000 sagas after the first
 * checkpoint (the level reached, then any leak).
 */
const journalMemory = async () => {
  const n = settings.journalMemory
  const journals: ReadonlyArray<Variants.Journal> = ["none", "postgres", "sqlite"]
  const runs: Array<{ journal: Variants.Journal; samples: ReadonlyArray<JournalMemory.Sample>; ms: number }> = []
  for (const journal of journals) {
    const t = performance.now()
    // each checkpoint as it comes (a long run shows its progress)
    const lines = await child(
      ["journal-memory-child", journal, String(n)],
      (chunk) => process.stderr.write(`journal memory, ${journal}: ${chunk}`)
    )
    const samples = lines.trim().split("\n").filter((l) => l.startsWith("{")).map((l) =>
      JSON.parse(l) as JournalMemory.Sample
    )
    runs.push({ journal, samples, ms: performance.now() - t })
  }
  const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0)
  const at = (samples: ReadonlyArray<JournalMemory.Sample>, sagas: number) => samples.find((s) => s.sagas === sagas)!
  const points = checkpoints(n)
  const base = runs[0]!.samples
  print(`### Journal memory over ${n} sagas (4 inserts each on the in-memory TestStore, the journal real; after a GC)`)
  print()
  print(
    `| journal | ${points.map((p) => `RSS MB at ${p}`).join(" | ")} | RSS − none at ${n} MB | RSS MB / 1,000 sagas (${
      points[0]
    }→${n}) | heap MB / 1,000 | external MB / 1,000 | seconds |`
  )
  print(`| --- | ${points.map(() => "---:").join(" | ")} | ---: | ---: | ---: | ---: | ---: |`)
  const rows: Array<Record<string, unknown>> = []
  for (const { journal, ms, samples } of runs) {
    const first = at(samples, points[0]!)
    const last = at(samples, n)
    const row = {
      journal,
      samples,
      overNone: last.rss - at(base, n).rss,
      rssPer1000: JournalMemory.slope(first, last),
      heapPer1000: JournalMemory.slope(first, last, "heapUsed"),
      externalPer1000: JournalMemory.slope(first, last, "external"),
      seconds: ms / 1000
    }
    rows.push(row)
    print(
      `| ${journal} | ${points.map((p) => mb(at(samples, p).rss)).join(" | ")} | ${mb(row.overNone)} | ${
        row.rssPer1000.toFixed(2)
      } | ${row.heapPer1000.toFixed(2)} | ${row.externalPer1000.toFixed(2)} | ${row.seconds.toFixed(0)} |`
    )
  }
  print()
  json.journalMemory = { sagas: n, rows }
}

/** Steps per in-memory saga. */
const inMemorySteps = 8

/**
 * The engine's CPU with no store in the way (`inmemory.ts`): sagas of 8 steps, the variants interleaved; CPU and wall
 * time per step, p50, and their ratios to the bare Saga.
 */
const inMemory = async () => {
  const { close, variants } = await InMemory.variants()
  const cpu = new Map<string, Array<number>>(variants.map((v) => [v.name, []]))
  const wall = new Map<string, Array<number>>(variants.map((v) => [v.name, []]))
  try {
    for (let i = -10; i < settings.inMemory; i++) {
      for (const [k, variant] of rotate(variants, Math.abs(i)).entries()) {
        const usage = process.cpuUsage()
        const t = performance.now()
        await variant.run(`${run}-mem-${i}-${k}`, inMemorySteps)
        const spent = process.cpuUsage(usage)
        if (i < 0) continue
        cpu.get(variant.name)!.push((spent.user + spent.system) / 1000 / inMemorySteps)
        wall.get(variant.name)!.push((performance.now() - t) / inMemorySteps)
      }
    }
  } finally {
    await close()
  }
  const floor = variants[0]!.name
  const c0 = quantile(cpu.get(floor)!, 0.5)
  const w0 = quantile(wall.get(floor)!, 0.5)
  print(`### In memory: sagas of ${inMemorySteps} steps, no store in the way (CPU of all threads, p50 per step)`)
  print()
  print(`| variant | CPU ms/step | wall ms/step | CPU ÷ ${floor} | wall ÷ ${floor} | sagas |`)
  print("| --- | ---: | ---: | ---: | ---: | ---: |")
  const rows: Array<Record<string, unknown>> = []
  for (const { name } of variants) {
    const c = quantile(cpu.get(name)!, 0.5)
    const w = quantile(wall.get(name)!, 0.5)
    rows.push({ variant: name, cpuPerStep: c, wallPerStep: w, cpuRatio: c / c0, wallRatio: w / w0 })
    print(
      `| ${name} | ${c.toFixed(3)} | ${w.toFixed(3)} | ${(c / c0).toFixed(2)} | ${(w / w0).toFixed(2)} | ${
        cpu.get(name)!.length
      } |`
    )
  }
  print()
  json.inMemory = rows
}

const roundTrips = async () => {
  const counts = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const raw = yield* RoundTrips.rawPerWrite()
    const stores: Array<[RoundTrips.StoreName, RoundTrips.StepCount]> = []
    for (const name of RoundTrips.storeNames) stores.push([name, yield* RoundTrips.perStep(name)])
    const journal = yield* RoundTrips.journalPerSaga()
    const postgres = {
      update: yield* RoundTrips.perStep("postgres", { write: RoundTrips.postgresWrite("update") }),
      delete: yield* RoundTrips.perStep("postgres", { write: RoundTrips.postgresWrite("delete") })
    }
    return { raw, stores, journal, postgres }
  })))
  print("### Round trips, counted on the wire (requests the client sends; warm)")
  print()
  print(
    "| store | raw write | polysaga step (validate + execute) | raw undo (delete) | polysaga undo | step requests |"
  )
  print("| --- | ---: | ---: | ---: | ---: | --- |")
  for (const [name, count] of counts.stores) {
    const kinds = Object.entries(count.kinds.step).map(([k, v]) => `${k}×${v}`).join(" ")
    print(
      `| ${name} | ${counts.raw[name].step} | ${count.step} | ${counts.raw[name].undo} | ${count.undo} | ${kinds} |`
    )
  }
  print()
  print(
    `PostgreSQL journal: ${counts.journal.w4} statements for a W4 saga (${counts.journal.steps} steps), ${counts.journal.failing} for the failing W4.`
  )
  print(
    `PostgreSQL update of one row: step ${counts.postgres.update.step}, undo ${counts.postgres.update.undo}; delete: step ${counts.postgres.delete.step}, undo ${counts.postgres.delete.undo} (statements).`
  )
  print()
  json.roundTrips = counts
}

type Row = Record<string, unknown>

/** A goal of the performance issue: what it asks, and what this run measured (`undefined`: not in this run). */
interface Goal {
  readonly goal: string
  readonly measured: string | undefined
  readonly met: boolean | undefined
}

const ratioOf = (rows: unknown, variant: string): number | undefined =>
  (rows as ReadonlyArray<Row> | undefined)?.find((row) => row.variant === variant)?.ratioP50 as number | undefined

const atMost = (goal: string, value: number | undefined, limit: number, unit = "×"): Goal => ({
  goal,
  measured: value === undefined ? undefined : `${value.toFixed(2)}${unit}`,
  met: value === undefined ? undefined : value <= limit
})

/** The issue's goals (#15), each against what this run measured: printed, never asserted. */
const goals = () => {
  const w4 = json.w4
  const durable = ["polysaga, postgres journal", "polysaga, sqlite journal"].map((v) => ratioOf(w4, v))
  const peer = ratioOf(w4, "@effect/workflow, durable (PostgreSQL)")
  const worstDurable = durable.every((v) => v !== undefined) ? Math.max(...(durable as Array<number>)) : undefined
  const at32 = (json.throughput as ReadonlyArray<Row> | undefined)?.find((row) => row.concurrency === 32)
  const rt = json.roundTrips as
    | { raw: Record<string, { step: number }>; stores: ReadonlyArray<[string, { step: number }]> }
    | undefined
  const extra = rt === undefined ? undefined : Math.max(...rt.stores.map(([name, c]) => c.step - rt.raw[name]!.step))
  const memory = json.memory as ReadonlyArray<Row> | undefined
  const rss = (journal: string) => memory?.find((row) => row.journal === journal)?.rss as number | undefined
  const none = rss("none")
  const overNone = none === undefined
    ? undefined
    : Math.max(...["postgres", "sqlite"].map((j) => (rss(j) ?? NaN) - none)) / 1024 / 1024
  const journalRows = (json.journalMemory as { rows: ReadonlyArray<Row> } | undefined)?.rows
  const journalOverNone = journalRows === undefined
    ? undefined
    : Math.max(...journalRows.map((row) => row.overNone as number)) / 1024 / 1024
  const list: ReadonlyArray<Goal> = [
    atMost("W4 p50 ≤ 1.15× RAW, no journal", ratioOf(w4, "polysaga, no journal"), 1.15),
    atMost("W4 p50 ≤ 1.3× RAW, durable (the worse of PostgreSQL and embedded)", worstDurable, 1.3),
    atMost("W4 p50 ≤ 1.6× RAW, over HTTP", ratioOf(w4, "over HTTP, sqlite journal"), 1.6),
    {
      goal: "W4 durable ahead of @effect/workflow durable",
      measured: worstDurable === undefined || peer === undefined
        ? undefined
        : `${worstDurable.toFixed(2)}× vs ${peer.toFixed(2)}×`,
      met: worstDurable === undefined || peer === undefined ? undefined : worstDurable < peer
    },
    atMost("failing W4 p50 ≤ 1.5× the hand-written saga", ratioOf(json.failing, "polysaga, no journal"), 1.5),
    {
      goal: "throughput at concurrency 32 ≥ 0.8× RAW (no journal)",
      measured: at32 === undefined
        ? undefined
        : `${((at32["polysaga, no journal"] as number) / (at32["RAW"] as number)).toFixed(2)}×`,
      met: at32 === undefined
        ? undefined
        : (at32["polysaga, no journal"] as number) / (at32["RAW"] as number) >= 0.8
    },
    atMost("round trips per step ≤ the raw write's + 1 (the worst store)", extra, 1, " extra"),
    atMost(
      `RSS within 100 MB of no journal (after ${settings.memory} W4 sagas on the stores; the goal says 10,000)`,
      overNone,
      100,
      " MB"
    ),
    atMost(
      `RSS within 100 MB of no journal (after ${settings.journalMemory} sagas on the in-memory TestStore, the journal real)`,
      journalOverNone,
      100,
      " MB"
    )
  ]
  print("### Goals (#15), measured in this run")
  print()
  print("| goal | measured | met |")
  print("| --- | ---: | --- |")
  for (const g of list) {
    print(`| ${g.goal} | ${g.measured ?? "not in this run"} | ${g.met === undefined ? "–" : g.met ? "yes" : "no"} |`)
  }
  print()
  json.goals = list
}

const main = async () => {
  print(`## polysaga bench${quick ? " (quick)" : ""} — ${new Date().toISOString()}, Node ${process.version}`)
  print()
  print(
    `Variants interleaved in one process; ${settings.reps} repetition(s) × ${settings.iterations} sagas per variant. Ratios are to RAW measured in the same run.`
  )
  print()
  if (enabled("inmemory")) await inMemory()
  const onStores = ["w4", "failing", "scaling", "throughput", "chroma"].some(enabled)
  const raw = onStores ? await W4.openRaw() : undefined
  if (raw !== undefined) await stores(raw)
  if (enabled("roundtrips")) await roundTrips()
  if (enabled("memory")) await memory()
  if (enabled("journalmemory")) await journalMemory()
  goals()
  const dir = path.join(path.dirname(self), "..", "results")
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, "latest.json"), JSON.stringify(json, null, 2))
  fs.writeFileSync(path.join(dir, "latest.md"), out.join("\n") + "\n")
  console.log(`written: ${path.join(dir, "latest.json")}, latest.md`)
}

/** The scenarios on the four stores: latency, step scaling, throughput, Chroma throughput. */
const stores = async (raw: W4.Raw) => {
  await W4.setup(raw)
  const variants: Array<Variants.Variant> = [Variants.raw(raw), Variants.tryCatch(raw)]
  try {
    variants.push(
      await Variants.polysaga("none"),
      await Variants.polysaga("postgres"),
      await Variants.polysaga("sqlite"),
      await Variants.http(),
      await Workflow.workflow(raw, "memory"),
      await Workflow.workflow(raw, "durable")
    )
    await latency(variants)
    if (enabled("scaling")) await scaling([variants[0]!, variants[2]!, variants[4]!, variants[7]!])
    if (enabled("throughput")) {
      await throughput([variants[0]!, variants[2]!, variants[3]!, variants[4]!, variants[5]!, variants[7]!])
    }
    if (enabled("chroma")) await chromaThroughput(raw)
  } finally {
    for (const variant of variants) await variant.close()
    await raw.close()
  }
}

if (args[0] === "journal-memory-child") {
  await JournalMemory.child(args[1] as Variants.Journal, Number(args[2]), checkpoints(Number(args[2])))
  process.exit(0)
} else if (args[0] === "memory-child") {
  await memoryChild(args[1] as Variants.Journal, Number(args[2]))
  process.exit(0)
} else {
  await main()
  process.exit(0)
}
