/**
 * What a journal costs in memory over many sagas, in bounded time: one child process per journal (none, PostgreSQL,
 * embedded SQLite) runs `n` sagas of 4 inserts through `Warehouse.transaction` on the in-memory `TestStore` of
 * `@polysaga/testing` — the journal is the real one, the stores are not, so 10,000 sagas take minutes instead of the
 * real-stores W4's 40 (`--only=memory` keeps that version, on the four stores) — and prints its RSS, heap and
 * external memory after a GC at each checkpoint, so that the growth per 1,000 sagas (a leak) shows beside the level.
 * The TestStore keeps every record it is given (the same 4 per saga in every process): the `none` process is the
 * baseline the journals are read against.
 */
import { TestStore } from "@polysaga/testing"
import { Warehouse } from "@polysaga/warehouse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Variants from "./variants.js"
import * as W4 from "./w4.js"

/** One checkpoint of a child: sagas run so far and its memory after a GC, in bytes. */
export interface Sample {
  readonly sagas: number
  readonly rss: number
  readonly heapUsed: number
  readonly external: number
}

const insert = (key: string, i: number) => ({
  operation: "insert" as const,
  from: { type: "database" as const, tag: "memory", entity: "steps" },
  data: { id: `${key}-${i}`, n: i, name: "John Doe" }
})

/**
 * The child: `n` sagas of 4 inserts with `journal`, one at a time; a JSON line per checkpoint (a `Sample`). The
 * journal database is the stack's PostgreSQL (`POLYSAGA_PG_URL`), as the other variants'.
 */
export const child = async (journal: Variants.Journal, n: number, checkpoints: ReadonlyArray<number>) => {
  const store = await Effect.runPromise(TestStore.make({ maxRecordsPerOperation: 1000 }))
  const runtime = ManagedRuntime.make(
    Warehouse.layer({ sources: [{ tag: "memory", type: "database", store: Effect.succeed(store) }] }).pipe(
      Layer.provideMerge(Variants.journalLayer(journal, W4.env.pg)),
      Layer.provideMerge(Logger.minimumLogLevel(LogLevel.Error))
    )
  )
  const run = Date.now().toString(36)
  const sample = (sagas: number) => {
    ;(globalThis as { gc?: () => void }).gc?.()
    const usage = process.memoryUsage()
    const line: Sample = { sagas, rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external }
    console.log(JSON.stringify(line))
  }
  await runtime.runPromise(Warehouse.Warehouse)
  sample(0)
  for (let i = 1; i <= n; i++) {
    const key = `${run}-${journal}-${i}`
    const result = await runtime.runPromise(
      Warehouse.transaction(Array.from({ length: 4 }, (_, k) => insert(key, k)), { id: key })
    )
    if (result.status !== "completed") throw new Error(`journal memory (${journal}): a saga ended ${result.status}`)
    if (checkpoints.includes(i)) sample(i)
  }
  await runtime.dispose()
}

/** Growth per 1,000 sagas between two samples, in MB. */
export const slope = (from: Sample, to: Sample, field: "rss" | "heapUsed" | "external" = "rss"): number =>
  ((to[field] - from[field]) / 1024 / 1024) / ((to.sagas - from.sagas) / 1000)
