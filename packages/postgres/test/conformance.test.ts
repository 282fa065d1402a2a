/**
 * The adapter conformance suite on the stack's PostgreSQL; `@polysaga/testing`'s README shows this file (the block is
 * checked against the region by `tools/readme`).
 */
// #region readme
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Postgres from "@polysaga/postgres"
import { Conformance } from "@polysaga/testing/conformance"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"

const url = Redacted.make(process.env.POLYSAGA_PG_URL ?? "postgres://postgres@127.0.0.1:55432/polysaga")

Conformance.run({
  name: "postgres",
  sourceType: "database",
  schemaful: true, // unknown entities / fields are rejected (EntityNotFound / FieldNotFound)
  atomicRelativeUndo: true, // an undo's inverse may race other writers on the same record
  numRuns: 40,
  make: Effect.gen(function*() {
    const context = yield* Layer.build(PgClient.layer({ url, maxConnections: 2 }))
    const sql = Context.get(context, PgClient.PgClient)
    const store = yield* Postgres.make({ url, maxRecordsPerOperation: 20 })
    return {
      store,
      reset: (entity) =>
        Effect.gen(function*() {
          yield* sql`DROP TABLE IF EXISTS ${sql(entity)}`
          yield* sql`CREATE TABLE ${sql(entity)} (
            id text PRIMARY KEY, name text NOT NULL, qty integer NOT NULL, price double precision NOT NULL,
            tags text[] NOT NULL DEFAULT '{}', active boolean NOT NULL, note text)`
        }),
      snapshot: (entity) =>
        sql<{ readonly row: unknown }>`SELECT to_jsonb(t) AS row FROM ${sql(entity)} t ORDER BY id`.pipe(
          Effect.map((rows) => rows.map((r) => r.row))
        ),
      fromRow: (row) => {
        const r = row as Record<string, any>
        return { id: r.id, name: r.name, qty: r.qty, price: r.price, tags: r.tags, active: r.active, note: r.note }
      }
    }
  })
})
// #endregion readme
