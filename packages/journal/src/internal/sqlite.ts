import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as migrations from "./migrations.js"
import { overviewOf } from "./overview.js"
import type { SagaRow, Statements } from "./statements.js"

const initial = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE ${sql(migrations.sagasTable)} (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'compensated', 'failed')),
    owner TEXT NOT NULL,
    lease_until INTEGER NOT NULL,
    claims INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    resolved_at INTEGER,
    resolution TEXT
  ) STRICT`
  yield* sql`CREATE INDEX polysaga_journal_sagas_lease ON ${sql(migrations.sagasTable)} (lease_until)
    WHERE status = 'running'`
  yield* sql`CREATE INDEX polysaga_journal_sagas_ended ON ${sql(migrations.sagasTable)} (ended_at)
    WHERE status <> 'running'`
  yield* sql`CREATE INDEX polysaga_journal_sagas_started ON ${sql(migrations.sagasTable)} (started_at DESC, id DESC)`
  yield* sql`CREATE INDEX polysaga_journal_sagas_status_started ON ${sql(migrations.sagasTable)}
    (status, started_at DESC, id DESC)`
  yield* sql`CREATE TABLE ${sql(migrations.entriesTable)} (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    saga_id TEXT NOT NULL REFERENCES ${sql(migrations.sagasTable)} (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    step_id TEXT,
    entry TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
  ) STRICT`
  yield* sql`CREATE INDEX polysaga_journal_entries_saga ON ${sql(migrations.entriesTable)} (saga_id, seq)`
})

const migrate = Migrator.make({})({
  loader: Migrator.fromRecord({ "1_initial": initial }),
  table: migrations.migrationsTable
})

interface Row {
  readonly id: string
  readonly name: string
  readonly status: SagaRow["status"]
  readonly error: string | null
  readonly started_at: number
  readonly ended_at: number | null
}

const toSaga = <A extends Row>({ ended_at, started_at, ...row }: A) => ({
  ...row,
  started_at: new Date(started_at),
  ended_at: ended_at === null ? null : new Date(ended_at)
})

/** PostgreSQL's `percentile_cont` (linear interpolation) over sorted values. */
const percentile = (sorted: ReadonlyArray<number>, p: number) => {
  const position = p * (sorted.length - 1)
  const low = Math.floor(position)
  const high = Math.min(low + 1, sorted.length - 1)
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low)
}

/**
 * The journal's statements on SQLite (one process, one connection: `@effect/sql-sqlite-node` serialises every
 * statement and transaction). Times are the process's clock in epoch milliseconds; a write that depends on the
 * saga's row checks it in the same statement, or in the same transaction.
 * @internal
 */
export const make = (
  sql: SqlClient.SqlClient,
  { leaseMs, owner }: { readonly owner: string; readonly leaseMs: number }
): Statements => {
  const sagas = sql(migrations.sagasTable)
  const entries = sql(migrations.entriesTable)
  const now = () => Date.now()
  const insert = (
    sagaId: string,
    entry: { readonly kind: string; readonly stepId: string | null; readonly json: string }
  ) =>
    sql`INSERT INTO ${entries} (saga_id, kind, step_id, entry, recorded_at)
      VALUES (${sagaId}, ${entry.kind}, ${entry.stepId}, ${entry.json}, ${now()})`
  return {
    migrate: Effect.provideService(migrate, SqlClient.SqlClient, sql),
    insertStart: (saga, batch) =>
      sql.withTransaction(Effect.gen(function*() {
        const at = now()
        const rows = yield* sql`
          INSERT INTO ${sagas} (id, name, status, owner, lease_until, error, started_at, ended_at)
          VALUES (${saga.id}, ${saga.name}, ${saga.status}, ${owner}, ${at + leaseMs}, ${saga.error}, ${at},
            ${saga.status === "running" ? null : at})
          ON CONFLICT (id) DO NOTHING
          RETURNING id`
        if (rows.length === 0) return false
        yield* sql`
          INSERT INTO ${entries} (saga_id, kind, step_id, entry, recorded_at)
          SELECT ${saga.id}, e.value ->> 'kind', e.value ->> 'stepId', e.value ->> 'json', ${at}
          FROM json_each(${JSON.stringify(batch)}) AS e ORDER BY e.key`
        return true
      })),
    insertEntries: (sagaId, batch, end) => {
      const insertAll = sql`
        INSERT INTO ${entries} (saga_id, kind, step_id, entry, recorded_at)
        SELECT s.id, e.value ->> 'kind', e.value ->> 'stepId', e.value ->> 'json', ${now()}
        FROM ${sagas} AS s, json_each(${JSON.stringify(batch)}) AS e
        WHERE s.id = ${sagaId} AND s.owner = ${owner} AND s.status = 'running'
        ORDER BY e.key
        RETURNING seq`
      return end === undefined
        ? Effect.map(insertAll, (rows) => rows.length > 0)
        : sql.withTransaction(Effect.gen(function*() {
          const rows = yield* sql`
            UPDATE ${sagas} SET status = ${end.status}, error = ${end.error}, ended_at = ${now()}
            WHERE id = ${sagaId} AND owner = ${owner} AND status = 'running'
            RETURNING id`
          if (rows.length === 0) return false
          yield* sql`
            INSERT INTO ${entries} (saga_id, kind, step_id, entry, recorded_at)
            SELECT ${sagaId}, e.value ->> 'kind', e.value ->> 'stepId', e.value ->> 'json', ${now()}
            FROM json_each(${JSON.stringify(batch)}) AS e ORDER BY e.key`
          return true
        }))
    },
    entries: (sagaId) =>
      Effect.map(
        sql<{ entry: string }>`SELECT entry FROM ${entries} WHERE saga_id = ${sagaId} ORDER BY seq`,
        (rows) => rows.map((row) => JSON.parse(row.entry) as unknown)
      ),
    unfinished: Effect.map(
      sql<{ id: string }>`SELECT id FROM ${sagas} WHERE status = 'running' ORDER BY started_at, id`,
      (rows) => rows.map((row) => row.id)
    ),
    claim: (limit) =>
      Effect.suspend(() => {
        const at = now()
        return Effect.map(
          sql<{ id: string; started_at: number }>`
            UPDATE ${sagas} SET owner = ${owner}, lease_until = ${at + leaseMs}, claims = claims + 1
            WHERE id IN (
              SELECT id FROM ${sagas} WHERE status = 'running' AND lease_until < ${at}
              ORDER BY started_at, id LIMIT ${limit}
            )
            RETURNING id, started_at`,
          (rows) => [...rows].sort((a, b) => a.started_at - b.started_at || (a.id < b.id ? -1 : 1)).map((row) => row.id)
        )
      }),
    renew: (ids) =>
      Effect.map(
        sql`
          UPDATE ${sagas} SET lease_until = ${now() + leaseMs}
          WHERE owner = ${owner} AND status = 'running' AND id IN (SELECT value FROM json_each(${JSON.stringify(ids)}))
          RETURNING id`,
        (rows) => rows.length
      ),
    release: (sagaId) =>
      Effect.asVoid(sql`UPDATE ${sagas} SET lease_until = ${now() - 1}
        WHERE id = ${sagaId} AND owner = ${owner} AND status = 'running'`),
    reopen: (sagaId, entry) =>
      sql.withTransaction(Effect.gen(function*() {
        const rows = yield* sql`
          UPDATE ${sagas} SET status = 'running', owner = ${owner}, lease_until = ${now() + leaseMs}, error = NULL,
            ended_at = NULL, claims = claims + 1
          WHERE id = ${sagaId} AND status = 'failed' AND resolved_at IS NULL
          RETURNING id`
        if (rows.length === 0) return false
        yield* insert(sagaId, entry)
        return true
      })),
    failed: (limit) =>
      Effect.map(
        sql<Row & { entry: string }>`
          SELECT s.id, s.name, s.status, s.error, s.started_at, s.ended_at, e.entry
          FROM (
            SELECT * FROM ${sagas} WHERE status = 'failed' AND resolved_at IS NULL ORDER BY ended_at, id LIMIT ${limit}
          ) AS s
          JOIN ${entries} AS e ON e.saga_id = s.id
          ORDER BY s.ended_at, s.id, e.seq`,
        (rows) => rows.map((row) => ({ ...toSaga(row), entry: JSON.parse(row.entry) as unknown }))
      ),
    page: (query) =>
      Effect.map(
        sql<Row & { resolved_at: number | null; resolution: string | null }>`
          SELECT id, name, status, error, started_at, ended_at, resolved_at, resolution FROM ${sagas}
          WHERE ${
          sql.and([
            ...(query.status === undefined ? [] : [sql`status = ${query.status}`]),
            ...(query.from === undefined ? [] : [sql`started_at >= ${query.from.getTime()}`]),
            ...(query.to === undefined ? [] : [sql`started_at < ${query.to.getTime()}`]),
            ...(query.id === undefined ? [] : [sql`instr(id, ${query.id}) > 0`]),
            ...(query.resolved === undefined
              ? []
              : [query.resolved ? sql`resolved_at IS NOT NULL` : sql`resolved_at IS NULL`]),
            ...(query.after === undefined ? [] : [
              sql`(started_at * 1000, id) < (CAST(${query.after.micros} AS INTEGER), ${query.after.id})`
            ])
          ])
        }
          ORDER BY started_at DESC, id DESC LIMIT ${query.limit}`,
        (rows) =>
          rows.map(({ resolved_at, ...row }) => ({
            ...toSaga(row),
            resolved_at: resolved_at === null ? null : new Date(resolved_at),
            micros: String(row.started_at * 1000)
          }))
      ),
    overview: Effect.gen(function*() {
      const at = now()
      const counts = yield* sql<{ status: SagaRow["status"]; n: number; open: number }>`
        SELECT status, count(*) AS n, sum(status = 'failed' AND resolved_at IS NULL) AS open
        FROM ${sagas} GROUP BY status`
      const minutes = yield* sql<{ ago: number; n: number }>`
        SELECT CAST((${at} - started_at) / 60000 AS INTEGER) AS ago, count(*) AS n
        FROM ${sagas} WHERE started_at > ${at - 3_600_000} GROUP BY 1`
      const durations = (yield* sql<{ ms: number }>`
        SELECT ended_at - started_at AS ms FROM ${sagas}
        WHERE status <> 'running' AND ended_at > ${at - 3_600_000} ORDER BY 1`).map((row) => row.ms)
      return overviewOf(
        counts,
        minutes,
        durations.length,
        durations.length === 0 ? undefined : {
          p50: percentile(durations, 0.5),
          p95: percentile(durations, 0.95),
          p99: percentile(durations, 0.99),
          max: durations[durations.length - 1]!
        }
      )
    }),
    resolve: (sagaId, reason, entry) =>
      sql.withTransaction(Effect.gen(function*() {
        const rows = yield* sql`
          UPDATE ${sagas} SET resolved_at = ${now()}, resolution = ${reason}
          WHERE id = ${sagaId} AND status = 'failed' AND resolved_at IS NULL
          RETURNING id`
        if (rows.length === 0) return false
        yield* insert(sagaId, entry)
        return true
      })),
    prune: (olderThanMs, statuses) =>
      Effect.map(
        sql`
          DELETE FROM ${sagas}
          WHERE status IN (SELECT value FROM json_each(${JSON.stringify(statuses)}))
            AND ended_at < ${now() - olderThanMs}
          RETURNING id`,
        (rows) => rows.length
      )
  }
}
