import * as PgMigrator from "@effect/sql-pg/PgMigrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

/** @internal */
export const sagasTable = "polysaga_journal_sagas"
/** @internal */
export const entriesTable = "polysaga_journal_entries"
/** @internal */
export const migrationsTable = "polysaga_journal_migrations"

const initial = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE ${sql(sagasTable)} (
    id text PRIMARY KEY,
    name text NOT NULL,
    status text NOT NULL CHECK (status IN ('running', 'completed', 'compensated', 'failed')),
    owner text NOT NULL,
    lease_until timestamptz NOT NULL,
    claims integer NOT NULL DEFAULT 0,
    error text,
    started_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz
  )`
  yield* sql`CREATE INDEX polysaga_journal_sagas_lease ON ${sql(sagasTable)} (lease_until) WHERE status = 'running'`
  yield* sql`CREATE INDEX polysaga_journal_sagas_ended ON ${sql(sagasTable)} (ended_at) WHERE status <> 'running'`
  yield* sql`CREATE TABLE ${sql(entriesTable)} (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    saga_id text NOT NULL REFERENCES ${sql(sagasTable)} (id) ON DELETE CASCADE,
    kind text NOT NULL,
    step_id text,
    entry jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
  )`
  yield* sql`CREATE INDEX polysaga_journal_entries_saga ON ${sql(entriesTable)} (saga_id, seq)`
})

/**
 * The operator console: a saga resolved by hand (when, why), and indexes for listing newest first, overall and by
 * status (keyset paging on `(started_at, id)`).
 */
const console_ = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE ${sql(sagasTable)} ADD COLUMN resolved_at timestamptz, ADD COLUMN resolution text`
  yield* sql`CREATE INDEX polysaga_journal_sagas_started ON ${sql(sagasTable)} (started_at DESC, id DESC)`
  yield* sql`CREATE INDEX polysaga_journal_sagas_status_started ON ${
    sql(sagasTable)
  } (status, started_at DESC, id DESC)`
})

const migrate = PgMigrator.make({})({
  loader: PgMigrator.fromRecord({ "1_initial": initial, "2_console": console_ }),
  table: migrationsTable
})

/**
 * Run the journal's migrations. Several instances may start at once: the migrations table is created and the
 * migrations run inside one transaction holding a transaction-level advisory lock, so they run once.
 * @internal
 */
export const run = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return yield* sql.withTransaction(Effect.gen(function*() {
    yield* sql`SELECT pg_advisory_xact_lock(hashtext(${migrationsTable}))`
    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(migrationsTable)} (
      migration_id integer PRIMARY KEY,
      created_at timestamptz NOT NULL DEFAULT now(),
      name text NOT NULL
    )`
    return yield* migrate
  }))
})
