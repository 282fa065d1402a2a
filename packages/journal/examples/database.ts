/**
 * What the journal's README examples need: a PostgreSQL database of their own on the stack's server (so that their
 * recovery runner claims no saga of anything else), created if missing; its URL.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

export const exampleDatabase = async (name: string): Promise<string> => {
  const server = process.env.POLYSAGA_PG_URL!
  await Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const found = yield* sql`SELECT 1 FROM pg_database WHERE datname = ${name}`
    if (found.length === 0) yield* sql.unsafe(`CREATE DATABASE "${name}"`)
  }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(server) })), Effect.scoped, Effect.runPromise)
  const url = new URL(server)
  url.pathname = `/${name}`
  return url.href
}
