import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs/promises"
import type { ServerConfig } from "../Config.js"
import * as Files from "./files.js"

/**
 * `--init-demo`: applies `config/demo.sql` (idempotent) to every distinct PostgreSQL URL among the sources.
 */
export const initDemo = (config: ServerConfig) =>
  Effect.gen(function*() {
    const text = yield* Effect.promise(() => fs.readFile(Files.file("config/demo.sql"), "utf8"))
    const urls = Array.from(
      new Set(config.sources.flatMap((s) => s.engine === "postgres" && typeof s.url === "string" ? [s.url] : []))
    )
    yield* Effect.forEach(urls, (url) =>
      Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        yield* sql.unsafe(text)
      }).pipe(
        Effect.provide(Layer.orDie(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))),
        Effect.scoped
      ), { discard: true })
    yield* Effect.logInfo(`demo: tables ready on ${urls.length} PostgreSQL database(s)`)
  }).pipe(Effect.withSpan("Server.initDemo"))
