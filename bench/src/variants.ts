/**
 * The variants a scenario runs, each able to run one W4 (or one step-scaling saga) and say how it ended:
 * RAW driver calls, the hand-written try/catch saga, polysaga without a journal / with the PostgreSQL journal /
 * with the embedded (SQLite) journal, and the HTTP service (embedded journal) in this process.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { PostgresJournal, SqliteJournal } from "@polysaga/journal"
import { Config, Server } from "@polysaga/server"
import { Warehouse } from "@polysaga/warehouse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as W4 from "./w4.js"

export type Status = "completed" | "compensated" | "failed"

export interface Variant {
  readonly name: string
  /** One W4 (the failing one with `fail`) for user `id`. */
  readonly w4: (id: string, fail: boolean) => Promise<Status>
  /** One saga of `n` PostgreSQL inserts. */
  readonly steps: (id: string, n: number) => Promise<Status>
  readonly close: () => Promise<void>
}

export type Journal = "none" | "postgres" | "sqlite"

export const tmpDir = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `polysaga-bench-${name}-`))

/** The library's journals as the bench uses them (leases long enough not to renew during a run). */
export const journalLayer = (journal: Journal, url: string): Layer.Layer<never, unknown> =>
  journal === "postgres"
    ? PostgresJournal.layer({ url: Redacted.make(url), leaseDuration: "1 hour" })
    : journal === "sqlite"
    ? SqliteJournal.layer({ dir: tmpDir("journal"), leaseDuration: "1 hour" })
    : Layer.empty

/** The warehouse on the bench's sources, journaled or not, as a runtime of its own (logs at error: the failing W4 would print a warning per saga). */
export const warehouseRuntime = (
  journal: Journal,
  urls: W4.Urls = W4.env,
  journalUrl: string = urls.pg
): ManagedRuntime.ManagedRuntime<Warehouse.Warehouse, unknown> =>
  ManagedRuntime.make(
    Warehouse.layer({ sources: W4.sources(urls) }).pipe(
      Layer.provideMerge(journalLayer(journal, journalUrl)),
      Layer.provideMerge(Logger.minimumLogLevel(LogLevel.Error))
    )
  )

export const raw = (r: W4.Raw): Variant => ({
  name: "RAW",
  // the failing W4's floor is the hand-written saga itself (its undo is 4 plain deletes)
  w4: async (id, fail) => {
    if (fail) return W4.tryCatch(r, id, fail)
    await W4.raw(r, id)
    return "completed"
  },
  steps: async (id, n) => {
    await W4.rawSteps(r, id, n)
    return "completed"
  },
  close: async () => undefined
})

export const tryCatch = (r: W4.Raw): Variant => ({
  name: "try/catch",
  w4: (id, fail) => W4.tryCatch(r, id, fail),
  steps: async (id, n) => {
    await W4.rawSteps(r, id, n)
    return "completed"
  },
  close: async () => undefined
})

export const polysaga = async (journal: Journal, urls: W4.Urls = W4.env): Promise<Variant> => {
  const runtime = warehouseRuntime(journal, urls)
  await runtime.runPromise(Warehouse.Warehouse)
  const run = (operations: Parameters<typeof Warehouse.transaction>[0]) =>
    runtime.runPromise(Effect.map(Warehouse.transaction(operations), (result) => result.status))
  return {
    name: journal === "none" ? "polysaga, no journal" : `polysaga, ${journal} journal`,
    w4: (id, fail) => run(W4.operations(id, fail)),
    steps: (id, n) => run(W4.steps(id, n)),
    close: () => runtime.dispose()
  }
}

/** The HTTP service in this process (embedded SQLite journal, no auth, logs at error) and a fetch client. */
export const http = async (urls: W4.Urls = W4.env): Promise<Variant> => {
  const runtime = ManagedRuntime.make(Layer.unwrapScoped(Effect.gen(function*() {
    const config = yield* Config.decode({
      host: "127.0.0.1",
      port: 0,
      journal: { embedded: tmpDir("http-journal") },
      sources: W4.sources(urls),
      logLevel: "error",
      shutdownTimeoutMs: 5000
    })
    const context = yield* Layer.build(Server.layer(config))
    return Layer.succeedContext(context)
  })) as Layer.Layer<HttpServer.HttpServer, unknown>)
  const address = (await runtime.runPromise(HttpServer.HttpServer)).address as HttpServer.TcpAddress
  const url = `http://127.0.0.1:${address.port}/v1/transactions`
  const post = async (operations: ReturnType<typeof W4.operations>): Promise<Status> => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ operations })
    })
    const body = await response.json() as { status?: Status }
    if (body.status === undefined) throw new Error(`HTTP ${response.status}: ${JSON.stringify(body)}`)
    return body.status
  }
  return {
    name: "over HTTP, sqlite journal",
    w4: (id, fail) => post(W4.operations(id, fail)),
    steps: (id, n) => post(W4.steps(id, n)),
    close: () => runtime.dispose()
  }
}
