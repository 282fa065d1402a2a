import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import { PostgresJournal } from "@polysaga/journal"
import { SagaJournal } from "@polysaga/saga"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { pgUrl } from "./utils.js"

const name = "polysaga_journal_create_db"

const exists = Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  return (yield* sql`SELECT 1 FROM pg_database WHERE datname = ${name}`).length === 1
}).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(pgUrl), maxConnections: 1 })), Effect.scoped)

const drop = Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  yield* sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`
}).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(pgUrl), maxConnections: 1 })), Effect.scoped)

describe("PostgresJournal.createDatabase", () => {
  it.effect(
    "creates a missing database, leaves an existing one, and returns its URL; a journal opens on it",
    () =>
      Effect.gen(function*() {
        yield* drop
        const url = yield* PostgresJournal.createDatabase(pgUrl, name)
        assert.isTrue(yield* exists)
        assert.strictEqual(new URL(Redacted.value(url)).pathname, `/${name}`)
        // again: nothing to do, the same URL
        const again = yield* PostgresJournal.createDatabase(Redacted.make(pgUrl), name)
        assert.strictEqual(Redacted.value(again), Redacted.value(url))
        // the journal migrates its tables in it and holds no saga yet
        const unfinished = yield* Effect.flatMap(SagaJournal.SagaJournal, (journal) => journal.unfinished).pipe(
          Effect.provide(PostgresJournal.layer({ url }))
        )
        assert.deepStrictEqual(unfinished, [])
        yield* drop
      }),
    30_000
  )

  it.effect("a name that is not a plain identifier fails, naming it, before connecting", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(PostgresJournal.createDatabase("postgres://127.0.0.1:1/x", "bad\"; DROP"))
      assert.strictEqual(error._tag, "JournalError")
      assert.include(error.message, "create database")
      assert.include(error.message, "bad\\\"; DROP")
    }))
})
