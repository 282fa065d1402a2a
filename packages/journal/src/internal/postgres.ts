import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as migrations from "./migrations.js"
import { overviewOf } from "./overview.js"
import type { PageRow, SagaRow, Statements } from "./statements.js"

/**
 * The journal's statements on PostgreSQL (a server or PGlite): one statement per write (CTEs), leases on the
 * database's clock, claims with `FOR UPDATE SKIP LOCKED` so several instances share the journal.
 * @internal
 */
export const make = (
  sql: SqlClient.SqlClient,
  { leaseMs, owner }: { readonly owner: string; readonly leaseMs: number }
): Statements => {
  const sagas = sql(migrations.sagasTable)
  const entries = sql(migrations.entriesTable)
  const lease = sql`now() + ${leaseMs}::double precision * interval '1 millisecond'`
  const json = (entries: ReadonlyArray<{ readonly json: string }>) => `[${entries.map((e) => e.json).join(",")}]`
  return {
    migrate: Effect.provideService(migrations.run, SqlClient.SqlClient, sql),
    insertStart: (saga, batch) =>
      Effect.map(
        sql`
          WITH saga AS (
            INSERT INTO ${sagas} (id, name, status, owner, lease_until, error, ended_at)
            VALUES (${saga.id}, ${saga.name}, ${saga.status}, ${owner}, ${lease}, ${saga.error},
              CASE WHEN ${saga.status}::text = 'running' THEN NULL ELSE now() END)
            ON CONFLICT (id) DO NOTHING
            RETURNING id
          )
          INSERT INTO ${entries} (saga_id, kind, step_id, entry)
          SELECT saga.id, e.value ->> '_tag', e.value ->> 'stepId', e.value
          FROM saga, jsonb_array_elements(${json(batch)}::jsonb) WITH ORDINALITY AS e(value, n)
          ORDER BY e.n
          RETURNING seq`,
        (rows) => rows.length > 0
      ),
    insertEntries: (sagaId, batch, end) =>
      Effect.map(
        sql`
          WITH saga AS (${
          end !== undefined
            ? sql`UPDATE ${sagas} SET status = ${end.status}, error = ${end.error}, ended_at = now()
                WHERE id = ${sagaId} AND owner = ${owner} AND status = 'running'
                RETURNING id`
            : sql`SELECT id FROM ${sagas}
                WHERE id = ${sagaId} AND owner = ${owner} AND status = 'running'
                FOR SHARE`
        })
          INSERT INTO ${entries} (saga_id, kind, step_id, entry)
          SELECT saga.id, e.value ->> '_tag', e.value ->> 'stepId', e.value
          FROM saga, jsonb_array_elements(${json(batch)}::jsonb) WITH ORDINALITY AS e(value, n)
          ORDER BY e.n
          RETURNING seq`,
        (rows) => rows.length > 0
      ),
    entries: (sagaId) =>
      Effect.map(
        sql<{ entry: unknown }>`SELECT entry FROM ${entries} WHERE saga_id = ${sagaId} ORDER BY seq`,
        (rows) => rows.map((row) => row.entry)
      ),
    unfinished: Effect.map(
      sql<{ id: string }>`SELECT id FROM ${sagas} WHERE status = 'running' ORDER BY started_at, id`,
      (rows) => rows.map((row) => row.id)
    ),
    claim: (limit) =>
      Effect.map(
        sql<{ id: string }>`
          UPDATE ${sagas} AS s SET owner = ${owner}, lease_until = ${lease}, claims = s.claims + 1
          FROM (
            SELECT id FROM ${sagas}
            WHERE status = 'running' AND lease_until < now()
            ORDER BY started_at, id
            LIMIT ${limit}
            FOR UPDATE SKIP LOCKED
          ) AS expired
          WHERE s.id = expired.id
          RETURNING s.id, s.started_at`,
        (rows) => rows.map((row) => row.id)
      ),
    renew: (ids) =>
      Effect.map(
        sql`
          UPDATE ${sagas} SET lease_until = ${lease}
          WHERE owner = ${owner} AND status = 'running'
            AND id IN (SELECT jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb))
          RETURNING id`,
        (rows) => rows.length
      ),
    release: (sagaId) =>
      Effect.asVoid(sql`UPDATE ${sagas} SET lease_until = now() - interval '1 millisecond'
        WHERE id = ${sagaId} AND owner = ${owner} AND status = 'running'`),
    reopen: (sagaId, entry) =>
      Effect.map(
        sql`
          WITH saga AS (
            UPDATE ${sagas} SET status = 'running', owner = ${owner}, lease_until = ${lease}, error = NULL,
              ended_at = NULL, claims = claims + 1
            WHERE id = ${sagaId} AND status = 'failed' AND resolved_at IS NULL
            RETURNING id
          )
          INSERT INTO ${entries} (saga_id, kind, step_id, entry)
          SELECT saga.id, ${entry.kind}, NULL, ${entry.json}::jsonb FROM saga
          RETURNING seq`,
        (rows) => rows.length > 0
      ),
    failed: (limit) =>
      sql<SagaRow & { entry: unknown }>`
        SELECT s.id, s.name, s.status, s.error, s.started_at, s.ended_at, e.entry
        FROM (
          SELECT * FROM ${sagas} WHERE status = 'failed' AND resolved_at IS NULL ORDER BY ended_at, id LIMIT ${limit}
        ) AS s
        JOIN ${entries} AS e ON e.saga_id = s.id
        ORDER BY s.ended_at, s.id, e.seq`,
    page: (query) =>
      sql<PageRow>`
        SELECT id, name, status, error, started_at, ended_at, resolved_at, resolution,
          (extract(epoch FROM started_at) * 1000000)::bigint::text AS micros
        FROM ${sagas}
        WHERE ${
        sql.and([
          ...(query.status === undefined ? [] : [sql`status = ${query.status}`]),
          ...(query.from === undefined ? [] : [sql`started_at >= ${query.from}`]),
          ...(query.to === undefined ? [] : [sql`started_at < ${query.to}`]),
          ...(query.id === undefined ? [] : [sql`strpos(id, ${query.id}) > 0`]),
          ...(query.resolved === undefined
            ? []
            : [query.resolved ? sql`resolved_at IS NOT NULL` : sql`resolved_at IS NULL`]),
          ...(query.after === undefined ? [] : [
            sql`(started_at, id) < (timestamptz 'epoch' + ${query.after.micros}::bigint * interval '1 microsecond', ${query.after.id})`
          ])
        ])
      }
        ORDER BY started_at DESC, id DESC LIMIT ${query.limit}`,
    overview: Effect.gen(function*() {
      const counts = yield* sql<{ status: SagaRow["status"]; n: number; open: number }>`
        SELECT status, count(*)::int AS n,
          count(*) FILTER (WHERE status = 'failed' AND resolved_at IS NULL)::int AS open
        FROM ${sagas} GROUP BY status`
      const minutes = yield* sql<{ ago: number; n: number }>`
        SELECT floor(extract(epoch FROM now() - started_at) / 60)::int AS ago, count(*)::int AS n
        FROM ${sagas} WHERE started_at > now() - interval '1 hour' GROUP BY 1`
      const [latency] = yield* sql<{ n: number; p: ReadonlyArray<number> | null; max: number | null }>`
        SELECT count(*)::int AS n,
          percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM ended_at - started_at) * 1000) AS p,
          (max(extract(epoch FROM ended_at - started_at)) * 1000)::double precision AS max
        FROM ${sagas} WHERE status <> 'running' AND ended_at > now() - interval '1 hour'`
      const p = latency?.p
      return overviewOf(
        counts,
        minutes,
        latency?.n ?? 0,
        p === null || p === undefined || latency?.max == null
          ? undefined
          : { p50: Number(p[0]), p95: Number(p[1]), p99: Number(p[2]), max: Number(latency.max) }
      )
    }),
    resolve: (sagaId, reason, entry) =>
      Effect.map(
        sql`
          WITH saga AS (
            UPDATE ${sagas} SET resolved_at = now(), resolution = ${reason}
            WHERE id = ${sagaId} AND status = 'failed' AND resolved_at IS NULL
            RETURNING id
          )
          INSERT INTO ${entries} (saga_id, kind, step_id, entry)
          SELECT saga.id, ${entry.kind}, NULL, ${entry.json}::jsonb FROM saga
          RETURNING seq`,
        (rows) => rows.length > 0
      ),
    prune: (olderThanMs, statuses) =>
      Effect.map(
        sql`
          DELETE FROM ${sagas}
          WHERE status IN (SELECT jsonb_array_elements_text(${JSON.stringify(statuses)}::jsonb))
            AND ended_at < now() - ${olderThanMs}::double precision * interval '1 millisecond'
          RETURNING id`,
        (rows) => rows.length
      )
  }
}
