import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Tracer from "effect/Tracer"

export const pgUrl = process.env.POLYSAGA_PG_URL ?? "postgres://postgres@127.0.0.1:55432/polysaga"

/** The URL of a database of this package's tests on the stack's PostgreSQL. */
export const databaseUrl = (name: string): string => {
  const url = new URL(pgUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/** Drop and create a database of our own (`polysaga_journal_…`); its URL. */
export const freshDatabase = (name: string) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    yield* sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`
    yield* sql`CREATE DATABASE ${sql(name)}`
    return Redacted.make(databaseUrl(name))
  }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(pgUrl), maxConnections: 1 })), Effect.orDie)

/** Run an effect and count the SQL statements it sent (one `sql.execute` span each, so one round trip each). */
export const countStatements = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const base = yield* Effect.tracer
    let statements = 0
    const counting = Tracer.make({
      span: (name, parent, context, links, startTime, kind, options) => {
        if (name === "sql.execute") statements++
        return base.span(name, parent, context, links, startTime, kind, options)
      },
      context: (f, fiber) => base.context(f, fiber)
    })
    const value = yield* Effect.withTracer(effect, counting)
    return [value, statements] as const
  })
