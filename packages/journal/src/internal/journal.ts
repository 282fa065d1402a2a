import * as SqlClient from "@effect/sql/SqlClient"
import { Saga, SagaError, SagaJournal } from "@polysaga/saga"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { randomBytes } from "node:crypto"
import * as os from "node:os"
import type { FailedSaga, JournalService, ListOptions, Overview, SagaSummary } from "../Journal.js"
import { InvalidCursor, LeaseLost } from "../Journal.js"
import * as migrations from "./migrations.js"

/** @internal */
export interface Options {
  readonly owner?: string | undefined
  readonly leaseDuration?: Duration.DurationInput | undefined
}

/** @internal */
export const defaultOwner = (): string => `${os.hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`

type Entry = SagaJournal.JournalEntry

/** A saga whose `SagaStarted` waits to be written with its first next entry (one round trip less per saga). */
type Start =
  | { readonly _tag: "Pending"; readonly entry: Extract<Entry, { _tag: "SagaStarted" }> }
  | { readonly _tag: "Writing"; readonly done: Deferred.Deferred<void, SagaError.JournalError> }

const fail = (operation: string, sagaId: string | undefined) => (cause: unknown) =>
  new SagaError.JournalError({ operation, sagaId, cause })

/**
 * The durable journal on a `SqlClient` (PostgreSQL or PGlite): migrations, the port, leases and the admin
 * service. One SQL statement per journal entry; a saga's `SagaStarted` rides with its next entry.
 * @internal
 */
export const make = (
  sql: SqlClient.SqlClient,
  options: Options
): Effect.Effect<
  { readonly journal: SagaJournal.SagaJournal.Service; readonly admin: JournalService },
  SagaError.JournalError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    yield* migrations.run.pipe(
      Effect.provideService(SqlClient.SqlClient, sql),
      Effect.mapError(fail("migrate", undefined))
    )
    const owner = options.owner ?? defaultOwner()
    const duration = Duration.decode(options.leaseDuration ?? "30 seconds")
    const leaseMs = Duration.toMillis(duration)
    const sagas = sql(migrations.sagasTable)
    const entries = sql(migrations.entriesTable)
    const lease = sql`now() + ${leaseMs}::double precision * interval '1 millisecond'`
    const encode = Schema.encode(SagaJournal.JournalEntry)
    const decode = Schema.decodeUnknown(Schema.Array(SagaJournal.JournalEntry))
    /** Sagas this instance is working on: their leases are renewed. */
    const active = new Set<string>()
    const starts = new Map<string, Start>()

    const lost = (sagaId: string) => new LeaseLost({ sagaId, owner })

    /** The saga row and its first entries, in one statement. */
    const insertStart = (start: Extract<Entry, { _tag: "SagaStarted" }>, batch: ReadonlyArray<Entry>) =>
      Effect.gen(function*() {
        const json = JSON.stringify(yield* Effect.forEach(batch, (entry) => encode(entry)))
        const end = batch.find((entry) => entry._tag === "SagaEnded")
        const status = end?._tag === "SagaEnded" ? end.status : "running"
        const error = end?._tag === "SagaEnded" ? end.error ?? null : null
        const rows = yield* sql`
          WITH saga AS (
            INSERT INTO ${sagas} (id, name, status, owner, lease_until, error, ended_at)
            VALUES (${start.sagaId}, ${start.name}, ${status}, ${owner}, ${lease}, ${error},
              CASE WHEN ${status}::text = 'running' THEN NULL ELSE now() END)
            ON CONFLICT (id) DO NOTHING
            RETURNING id
          )
          INSERT INTO ${entries} (saga_id, kind, step_id, entry)
          SELECT saga.id, e.value ->> '_tag', e.value ->> 'stepId', e.value
          FROM saga, jsonb_array_elements(${json}::jsonb) WITH ORDINALITY AS e(value, n)
          ORDER BY e.n
          RETURNING seq`
        if (rows.length === 0) {
          return yield* Effect.fail(new Error(`the journal already holds a saga with the id "${start.sagaId}"`))
        }
      })

    const insertEntry = (entry: Entry) =>
      Effect.gen(function*() {
        const json = JSON.stringify(yield* encode(entry))
        const stepId = "stepId" in entry ? entry.stepId : null
        const rows = entry._tag === "SagaEnded"
          ? yield* sql`
            WITH saga AS (
              UPDATE ${sagas} SET status = ${entry.status}, error = ${entry.error ?? null}, ended_at = now()
              WHERE id = ${entry.sagaId} AND owner = ${owner} AND status = 'running'
              RETURNING id
            )
            INSERT INTO ${entries} (saga_id, kind, step_id, entry)
            SELECT saga.id, ${entry._tag}, NULL, ${json}::jsonb FROM saga
            RETURNING seq`
          : yield* sql`
            WITH saga AS (
              SELECT id FROM ${sagas}
              WHERE id = ${entry.sagaId} AND owner = ${owner} AND status = 'running'
              FOR SHARE
            )
            INSERT INTO ${entries} (saga_id, kind, step_id, entry)
            SELECT saga.id, ${entry._tag}, ${stepId}, ${json}::jsonb FROM saga
            RETURNING seq`
        if (rows.length === 0) return yield* lost(entry.sagaId)
      })

    const append = (entry: Entry): Effect.Effect<void, SagaError.JournalError> =>
      Effect.suspend(() => {
        const sagaId = entry.sagaId
        if (entry._tag === "SagaStarted") {
          starts.set(sagaId, { _tag: "Pending", entry })
          active.add(sagaId)
          return Effect.void
        }
        const start = starts.get(sagaId)
        const write: Effect.Effect<void, unknown> = start === undefined
          ? insertEntry(entry)
          : start._tag === "Writing"
          ? Effect.zipRight(Deferred.await(start.done), insertEntry(entry))
          : Effect.gen(function*() {
            const done = yield* Deferred.make<void, SagaError.JournalError>()
            starts.set(sagaId, { _tag: "Writing", done })
            const exit = yield* Effect.exit(
              Effect.mapError(insertStart(start.entry, [start.entry, entry]), fail("append", sagaId))
            )
            starts.delete(sagaId)
            yield* Deferred.done(done, exit)
            return yield* exit
          })
        return write.pipe(
          Effect.mapError((cause) => cause instanceof SagaError.JournalError ? cause : fail("append", sagaId)(cause)),
          Effect.ensuring(entry._tag === "SagaEnded" ? Effect.sync(() => void active.delete(sagaId)) : Effect.void),
          Effect.withSpan("PostgresJournal.append", { attributes: { "saga.id": sagaId, "journal.entry": entry._tag } })
        )
      })

    const readEntries = (sagaId: string) =>
      sql<{ entry: unknown }>`SELECT entry FROM ${entries} WHERE saga_id = ${sagaId} ORDER BY seq`.pipe(
        Effect.flatMap((rows) => decode(rows.map((row) => row.entry))),
        Effect.mapError(fail("read", sagaId)),
        Effect.withSpan("PostgresJournal.entries", { attributes: { "saga.id": sagaId } })
      )

    const unfinished = sql<{ id: string }>`
      SELECT id FROM ${sagas} WHERE status = 'running' ORDER BY started_at, id`.pipe(
      Effect.map((rows) => rows.map((row) => row.id)),
      Effect.mapError(fail("unfinished", undefined))
    )

    const claim = (limit: number) =>
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
        RETURNING s.id, s.started_at`.pipe(
        Effect.map((rows) => {
          const ids = rows.map((row) => row.id)
          for (const id of ids) active.add(id)
          return ids
        }),
        Effect.mapError(fail("claim", undefined)),
        Effect.withSpan("PostgresJournal.claim", { attributes: { "journal.owner": owner } })
      )

    const renew = Effect.suspend(() => {
      if (active.size === 0) return Effect.succeed(0)
      const ids = JSON.stringify(Array.from(active))
      return sql`
        UPDATE ${sagas} SET lease_until = ${lease}
        WHERE owner = ${owner} AND status = 'running' AND id IN (SELECT jsonb_array_elements_text(${ids}::jsonb))
        RETURNING id`.pipe(
        Effect.map((rows) => rows.length),
        Effect.mapError(fail("renew", undefined))
      )
    })

    const release = (sagaId: string) =>
      sql`UPDATE ${sagas} SET lease_until = now() - interval '1 millisecond'
        WHERE id = ${sagaId} AND owner = ${owner} AND status = 'running'`.pipe(
        Effect.zipRight(Effect.sync(() => void active.delete(sagaId))),
        Effect.mapError(fail("release", sagaId))
      )

    const reopen = (sagaId: string, reason: string) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const json = JSON.stringify(yield* encode(SagaJournal.SagaReopened.make({ sagaId, at, reason })))
        const rows = yield* sql`
          WITH saga AS (
            UPDATE ${sagas} SET status = 'running', owner = ${owner}, lease_until = ${lease}, error = NULL,
              ended_at = NULL, claims = claims + 1
            WHERE id = ${sagaId} AND status = 'failed' AND resolved_at IS NULL
            RETURNING id
          )
          INSERT INTO ${entries} (saga_id, kind, step_id, entry)
          SELECT saga.id, 'SagaReopened', NULL, ${json}::jsonb FROM saga
          RETURNING seq`
        if (rows.length > 0) active.add(sagaId)
        return rows.length > 0
      }).pipe(Effect.mapError(fail("reopen", sagaId)))

    const failed = (limit: number) =>
      Effect.gen(function*() {
        const rows = yield* sql<{
          id: string
          name: string
          error: string | null
          started_at: Date
          ended_at: Date | null
          entry: unknown
        }>`
          SELECT s.id, s.name, s.error, s.started_at, s.ended_at, e.entry
          FROM (
            SELECT * FROM ${sagas} WHERE status = 'failed' AND resolved_at IS NULL ORDER BY ended_at, id LIMIT ${limit}
          ) AS s
          JOIN ${entries} AS e ON e.saga_id = s.id
          ORDER BY s.ended_at, s.id, e.seq`
        const bySaga = new Map<string, { row: (typeof rows)[number]; entries: Array<unknown> }>()
        for (const row of rows) {
          const group = bySaga.get(row.id) ?? { row, entries: [] }
          group.entries.push(row.entry)
          bySaga.set(row.id, group)
        }
        return yield* Effect.forEach(
          bySaga.values(),
          ({ entries: raw, row }) => Effect.map(decode(raw), (decoded) => describeFailed(row, decoded))
        )
      }).pipe(Effect.mapError(fail("failed", undefined)))

    const page = (options: ListOptions) =>
      Effect.gen(function*() {
        const limit = options.limit ?? 100
        const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor)
        if (after === undefined && options.cursor !== undefined) {
          return yield* new InvalidCursor({ cursor: options.cursor })
        }
        const where = sql.and([
          ...(options.status === undefined ? [] : [sql`status = ${options.status}`]),
          ...(options.from === undefined ? [] : [sql`started_at >= ${options.from}`]),
          ...(options.to === undefined ? [] : [sql`started_at < ${options.to}`]),
          ...(options.id === undefined ? [] : [sql`strpos(id, ${options.id}) > 0`]),
          ...(options.resolved === undefined
            ? []
            : [options.resolved ? sql`resolved_at IS NOT NULL` : sql`resolved_at IS NULL`]),
          ...(after === undefined ? [] : [
            sql`(started_at, id) < (timestamptz 'epoch' + ${after.micros}::bigint * interval '1 microsecond', ${after.id})`
          ])
        ])
        const rows = yield* sql<{
          id: string
          name: string
          status: SagaSummary["status"]
          error: string | null
          started_at: Date
          ended_at: Date | null
          resolved_at: Date | null
          resolution: string | null
          micros: string
        }>`
          SELECT id, name, status, error, started_at, ended_at, resolved_at, resolution,
            (extract(epoch FROM started_at) * 1000000)::bigint::text AS micros
          FROM ${sagas} WHERE ${where}
          ORDER BY started_at DESC, id DESC LIMIT ${limit + 1}`.pipe(Effect.mapError(fail("list", undefined)))
        const last = rows.length > limit ? rows[limit - 1] : undefined
        return {
          sagas: rows.slice(0, limit).map((row): SagaSummary => ({
            id: row.id,
            name: row.name,
            status: row.status,
            startedAt: row.started_at,
            ...(row.ended_at === null ? {} : { endedAt: row.ended_at }),
            ...(row.error === null ? {} : { error: row.error }),
            ...(row.resolved_at === null ? {} : { resolution: { at: row.resolved_at, reason: row.resolution ?? "" } })
          })),
          ...(last === undefined ? {} : { next: encodeCursor(last.micros, last.id) })
        }
      }).pipe(Effect.withSpan("PostgresJournal.page"))

    const list = (
      options?: { readonly status?: SagaSummary["status"] | undefined; readonly limit?: number | undefined }
    ) =>
      page({ status: options?.status, limit: options?.limit }).pipe(
        Effect.map((result) => result.sagas),
        Effect.catchTag("InvalidCursor", Effect.die)
      )

    const overview = Effect.gen(function*() {
      const counts = yield* sql<{ status: SagaSummary["status"]; n: number; open: number }>`
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
      const byStatus = { running: 0, completed: 0, compensated: 0, failed: 0 }
      let needsPerson = 0
      for (const row of counts) {
        byStatus[row.status] = row.n
        needsPerson += row.open
      }
      const startedPerMinute = Array.from({ length: 60 }, () => 0)
      for (const row of minutes) {
        if (row.ago >= 0 && row.ago < 60) startedPerMinute[59 - row.ago] = row.n
      }
      const p = latency?.p
      return {
        counts: byStatus,
        needsPerson,
        lastHour: {
          startedPerMinute,
          ended: latency?.n ?? 0,
          ...(p === null || p === undefined || latency?.max == null
            ? {}
            : { latency: { p50: Number(p[0]), p95: Number(p[1]), p99: Number(p[2]), max: Number(latency.max) } })
        }
      } satisfies Overview
    }).pipe(Effect.mapError(fail("overview", undefined)), Effect.withSpan("PostgresJournal.overview"))

    const resolve = (sagaId: string, reason: string) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const json = JSON.stringify(yield* encode(SagaJournal.SagaResolved.make({ sagaId, at, reason })))
        const rows = yield* sql`
          WITH saga AS (
            UPDATE ${sagas} SET resolved_at = now(), resolution = ${reason}
            WHERE id = ${sagaId} AND status = 'failed' AND resolved_at IS NULL
            RETURNING id
          )
          INSERT INTO ${entries} (saga_id, kind, step_id, entry)
          SELECT saga.id, 'SagaResolved', NULL, ${json}::jsonb FROM saga
          RETURNING seq`
        return rows.length > 0
      }).pipe(Effect.mapError(fail("resolve", sagaId)), Effect.withSpan("PostgresJournal.resolve"))

    const prune = (olderThan: Duration.DurationInput, options?: { readonly failed?: boolean | undefined }) => {
      const ms = Duration.toMillis(Duration.decode(olderThan))
      const statuses = options?.failed === true ? ["completed", "compensated", "failed"] : ["completed", "compensated"]
      return sql`
        DELETE FROM ${sagas}
        WHERE status IN (SELECT jsonb_array_elements_text(${JSON.stringify(statuses)}::jsonb))
          AND ended_at < now() - ${ms}::double precision * interval '1 millisecond'
        RETURNING id`.pipe(
        Effect.map((rows) => rows.length),
        Effect.mapError(fail("prune", undefined)),
        Effect.withSpan("PostgresJournal.prune")
      )
    }

    // keep the leases of the sagas this instance works on
    yield* renew.pipe(
      Effect.catchAll((error) => Effect.logWarning("saga journal: could not renew leases", error.message)),
      Effect.repeat(Schedule.spaced(Duration.unsafeDivide(duration, 3))),
      Effect.forkScoped
    )

    const leases: SagaJournal.SagaJournal.Leases = { owner, duration, claim, renew, release, reopen }
    return {
      journal: { append, entries: readEntries, unfinished, leases },
      admin: { owner, list, page, overview, resolve, failed: (options) => failed(options?.limit ?? 100), prune }
    }
  })

/** A page's continuation: its last saga's start (epoch microseconds, exact) and id, as base64url. */
const encodeCursor = (micros: string, id: string) => Buffer.from(`${micros}:${id}`, "utf8").toString("base64url")

const decodeCursor = (cursor: string): { readonly micros: string; readonly id: string } | undefined => {
  const match = /^(-?\d{1,19}):([\s\S]+)$/.exec(Buffer.from(cursor, "base64url").toString("utf8"))
  return match === null ? undefined : { micros: match[1]!, id: match[2]! }
}

const describeFailed = (
  row: {
    readonly id: string
    readonly name: string
    readonly error: string | null
    readonly started_at: Date
    readonly ended_at: Date | null
  },
  entries: ReadonlyArray<Entry>
): FailedSaga => {
  const plan = Saga.compensationPlan(row.id, entries)
  const errors = new Map<string, string>()
  const names = new Map<string, string>()
  for (const entry of entries) {
    if (entry._tag === "CompensationFailed") errors.set(entry.stepId, entry.error)
    if (entry._tag === "StepIntent") names.set(entry.stepId, entry.name)
  }
  return {
    id: row.id,
    name: row.name,
    ...(row.error === null ? {} : { error: row.error }),
    startedAt: row.started_at,
    ...(row.ended_at === null ? {} : { endedAt: row.ended_at }),
    pending: plan.steps.map((step) => ({
      stepId: step.stepId,
      name: step.name,
      ...(errors.has(step.stepId) ? { error: errors.get(step.stepId)! } : {})
    })),
    inDoubt: plan.inDoubt.map((stepId) => ({ stepId, name: names.get(stepId) ?? "" }))
  }
}
