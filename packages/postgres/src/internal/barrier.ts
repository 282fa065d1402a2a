/**
 * The step barrier and the bookkeeping tables: one `polysaga_barrier` row per (saga, step), claimed with its outcome
 * by one statement after the write, in the step's own transaction; `polysaga_undo_log` rows for applied undo ids. Retention prunes both.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import {
  type Barrier,
  type Mark,
  type Outcome,
  RecordedOutcome,
  type StepContext,
  type StoreError
} from "@polysaga/store"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { fromSql, isolated } from "./connection.js"

/** The table where applied undo ids are recorded, in the same transaction as the undo. */
export const undoLogTable = "polysaga_undo_log"

/** The step barrier: one row per (saga, step), written in the step's own transaction. */
export const barrierTable = "polysaga_barrier"

/**
 * Creates the bookkeeping tables. Several stores (or processes) may start on a fresh database at once, and
 * concurrent `CREATE TABLE IF NOT EXISTS` can still collide in PostgreSQL's catalog: a transaction-level advisory
 * lock is taken around the DDL.
 */
export const ensure = (sql: SqlClient.SqlClient, schema: string): Effect.Effect<void, StoreError> =>
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
  })).pipe(isolated, Effect.mapError(fromSql(undefined)))

interface Row {
  readonly kind: "action" | "fence"
  readonly outcome: unknown
  readonly fingerprint: string | null
}

export const make = (sql: SqlClient.SqlClient, schema: string): Barrier<void> => {
  const table = sql`${sql(schema)}.${sql(barrierTable)}`
  const mark = (step: StepContext) =>
    Effect.gen(function*() {
      const [row] = yield* sql<Row>`
        SELECT kind, outcome, fingerprint FROM ${table}
        WHERE saga_id = ${step.sagaId} AND step_id = ${step.stepId}`
      if (row === undefined) return Option.none<Mark>()
      const outcome = row.outcome === null
        ? Option.none<Outcome>()
        : Option.some<Outcome>(yield* Schema.decodeUnknown(RecordedOutcome)(row.outcome))
      return Option.some<Mark>({ kind: row.kind, fingerprint: row.fingerprint, outcome })
    })
  /** The row inserted when the step has none; else what it holds (the conflicting claim has committed by then). */
  const claim = (step: StepContext, kind: Mark["kind"], fingerprint: string | null, outcome: Outcome | null) =>
    Effect.gen(function*() {
      const claimed = yield* sql`
        INSERT INTO ${table} (saga_id, step_id, kind, fingerprint, outcome)
        VALUES (${step.sagaId}, ${step.stepId}, ${kind}, ${fingerprint},
          ${outcome === null ? null : JSON.stringify(Schema.encodeSync(RecordedOutcome)(outcome))})
        ON CONFLICT DO NOTHING RETURNING kind`
      return claimed.length > 0 ? Option.none<Mark>() : yield* mark(step)
    }).pipe(Effect.mapError(fromSql(undefined)))
  return {
    claim: (_, step, kind, fingerprint) => claim(step, kind, fingerprint, null),
    // one statement after the write, in its transaction: the claim and the outcome
    claimWithOutcome: (_, step, outcome) => claim(step, "action", step.fingerprint, outcome),
    read: (step) => isolated(mark(step)).pipe(Effect.mapError(fromSql(undefined))),
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
