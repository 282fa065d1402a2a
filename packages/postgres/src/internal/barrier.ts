/**
 * The step barrier and the bookkeeping tables: one `polysaga_barrier` row per (saga, step), inserted with the recorded
 * write by the step's own statement (`Execute`); `polysaga_undo_log` rows for applied undo ids. Retention prunes both.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import {
  type Barrier,
  type Mark,
  type Outcome,
  RecordedOutcome,
  type StepContext,
  type StoreError,
  Undo
} from "@polysaga/store"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Catalog from "./catalog.js"
import * as Compile from "./compile.js"
import { engine, fromSql, isolated } from "./connection.js"
import type { Unit } from "./execute.js"
import * as Recorded from "./recorded.js"

/** The table where applied undo ids are recorded, in the same transaction as the undo. */
export const undoLogTable = "polysaga_undo_log"

/** The step barrier: one row per (saga, step), written by the step's own statement (or transaction). */
export const barrierTable = "polysaga_barrier"

/**
 * Creates the bookkeeping tables. Several stores (or processes) may start on a fresh database at once, and
 * concurrent `CREATE TABLE IF NOT EXISTS` can still collide in PostgreSQL's catalog: a transaction-level advisory
 * lock is taken around the DDL. When they are there already no DDL runs: `ALTER TABLE` would wait for every statement
 * using the barrier table — a step's statement uses it from its start, even while it waits for a row lock (of a
 * process that died, say) — and every later step would queue behind it.
 */
export const ensure = (sql: SqlClient.SqlClient, schema: string): Effect.Effect<void, StoreError> =>
  Effect.gen(function*() {
    const [present] = yield* sql<{ readonly ready: boolean }>`
      SELECT EXISTS (
          SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ${schema} AND c.relname = ${barrierTable} AND a.attname = 'fingerprint'
            AND NOT a.attisdropped)
        AND EXISTS (
          SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ${schema} AND c.relname = ${undoLogTable}) AS ready`
    if (present?.ready === true) return
    yield* create(sql, schema)
  }).pipe(isolated, Effect.mapError(fromSql(undefined)))

const create = (sql: SqlClient.SqlClient, schema: string) =>
  sql.withTransaction(Effect.gen(function*() {
    yield* sql`SELECT pg_advisory_xact_lock(hashtext('polysaga/postgres/bookkeeping'))`
    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(schema)}.${sql(barrierTable)} (
        saga_id text NOT NULL,
        step_id text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('action', 'fence')),
        outcome jsonb,
        fingerprint text,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (saga_id, step_id)
      )`
    yield* sql`ALTER TABLE ${sql(schema)}.${sql(barrierTable)} ADD COLUMN IF NOT EXISTS fingerprint text`
    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(schema)}.${sql(undoLogTable)} (
        undo_id text PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`
  }))

interface Row {
  readonly kind: "action" | "fence"
  readonly outcome: unknown
  readonly fingerprint: string | null
}

/**
 * A barrier row as a `Mark`. A recorded write's records are read back from their text images by PostgreSQL itself
 * (`jsonb_populate_recordset` over the table's row type), so they come as the driver reads the table's rows; when
 * the table no longer takes them (dropped, changed), the records are the images. An outcome recorded by an earlier
 * version (`RecordedOutcome`) is decoded as it was written.
 */
export const marks = (
  sql: SqlClient.SqlClient,
  tableOf: (entity: string) => Effect.Effect<Catalog.Table, StoreError>
) => {
  const records = (entity: string, images: ReadonlyArray<Recorded.Image>) =>
    Effect.gen(function*() {
      if (images.length === 0) return []
      const table = yield* tableOf(entity)
      // json columns take JSON values; every other column's text goes through its type's input function
      const json = images.map((image) =>
        Object.fromEntries(
          Object.entries(image).map((
            [c, v]
          ) => [c, v !== null && table.columns.get(c)?.json === true ? JSON.parse(v) as unknown : v])
        )
      )
      return yield* sql<Record<string, unknown>>`
        SELECT * FROM jsonb_populate_recordset(NULL::${Compile.qualified(sql, table)}, ${JSON.stringify(json)}::jsonb)`
    }).pipe(Effect.orElseSucceed(() => images))

  const outcome = (recorded: unknown): Effect.Effect<Outcome, unknown> =>
    Recorded.isRecordedWrite(recorded)
      ? Effect.gen(function*() {
        const write = yield* Schema.decodeUnknown(Recorded.RecordedWrite)(recorded)
        const rows = write.rows.map((r): Recorded.Row => ({
          before: r.before,
          after: r.after,
          changes: r.changes === undefined ? undefined : Recorded.decodeChanges(r.changes)
        }))
        return {
          records: yield* records(write.entity, rows.map(Recorded.recordImage)),
          affected: rows.length,
          undo: Undo.make(
            engine,
            write.entity,
            Recorded.actions(write.key, Recorded.decodeChanges(write.changes), rows),
            write.undo
          )
        }
      })
      : Schema.decodeUnknown(RecordedOutcome)(recorded)

  return (row: unknown): Effect.Effect<Mark, StoreError> =>
    Effect.gen(function*() {
      const { fingerprint, kind, outcome: recorded } = row as Row
      return {
        kind,
        fingerprint,
        outcome: recorded === null ? Option.none<Outcome>() : Option.some(yield* outcome(recorded))
      }
    }).pipe(Effect.mapError(fromSql(undefined)))
}

export const make = (
  sql: SqlClient.SqlClient,
  schema: string,
  toMark: (row: unknown) => Effect.Effect<Mark, StoreError>
): Barrier<Unit> => {
  const table = sql`${sql(schema)}.${sql(barrierTable)}`
  const mark = (step: StepContext) =>
    Effect.gen(function*() {
      const [row] = yield* sql<Row>`
        SELECT kind, outcome, fingerprint FROM ${table}
        WHERE saga_id = ${step.sagaId} AND step_id = ${step.stepId}`
      return row === undefined ? Option.none<Mark>() : Option.some(yield* toMark(row))
    }).pipe(Effect.mapError(fromSql(undefined)))
  return {
    // a fence (from `resolve`): the row inserted when the step has none; else what it holds (the conflicting row has
    // committed by then)
    claim: (_, step, kind, fingerprint) =>
      Effect.gen(function*() {
        const claimed = yield* sql`
          INSERT INTO ${table} (saga_id, step_id, kind, fingerprint)
          VALUES (${step.sagaId}, ${step.stepId}, ${kind}, ${fingerprint})
          ON CONFLICT DO NOTHING RETURNING kind`
        return claimed.length > 0 ? Option.none<Mark>() : yield* mark(step)
      }).pipe(Effect.mapError(fromSql(undefined))),
    // the step's own statement claimed it with the recorded write, or found the row an earlier attempt left
    claimWithOutcome: (unit) => Effect.succeed(unit.prior),
    read: (step) => isolated(mark(step)),
    used: (_, sagaId) =>
      sql`SELECT 1 FROM ${table} WHERE saga_id = ${sagaId} LIMIT 1`.pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.mapError(fromSql(undefined))
      )
  }
}

/** Deletes barrier rows and undo-log rows older than `olderThan`. */
export const prune = (sql: SqlClient.SqlClient, schema: string) =>
  Effect.fn("PostgresStore.prune")(function*(olderThan: Duration.DurationInput) {
    const ms = Duration.toMillis(Duration.decode(olderThan))
    const cutoff = sql`now() - ${ms}::double precision * interval '1 millisecond'`
    const steps = yield* sql`DELETE FROM ${sql(schema)}.${sql(barrierTable)} WHERE created_at < ${cutoff} RETURNING 1`
    const undos = yield* sql`DELETE FROM ${sql(schema)}.${sql(undoLogTable)} WHERE applied_at < ${cutoff} RETURNING 1`
    return steps.length + undos.length
  }, (effect) => Effect.mapError(isolated(effect), fromSql(undefined)))
