import type * as SqlClient from "@effect/sql/SqlClient"
import { Saga, SagaError, SagaJournal } from "@polysaga/saga"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { randomBytes } from "node:crypto"
import * as os from "node:os"
import type { FailedSaga, JournalService, ListOptions, SagaSummary } from "../Journal.js"
import { InvalidCursor, LeaseLost } from "../Journal.js"
import type { SagaRow, Statements, StoredEntry } from "./statements.js"

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
 * The durable journal on a `SqlClient` and the statements of its engine (PostgreSQL, PGlite or SQLite): migrations,
 * the port, leases and the admin service. One statement (or one transaction) per append; a saga's `SagaStarted`
 * rides with its next entry, and so does each step's outcome (one append per step).
 * @internal
 */
export const make = (
  sql: SqlClient.SqlClient,
  statements: (sql: SqlClient.SqlClient, options: { readonly owner: string; readonly leaseMs: number }) => Statements,
  options: Options
): Effect.Effect<
  { readonly journal: SagaJournal.SagaJournal.Service; readonly admin: JournalService },
  SagaError.JournalError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const owner = options.owner ?? defaultOwner()
    const duration = Duration.decode(options.leaseDuration ?? "30 seconds")
    const db = statements(sql, { owner, leaseMs: Duration.toMillis(duration) })
    yield* Effect.mapError(db.migrate, fail("migrate", undefined))
    const encode = Schema.encode(SagaJournal.JournalEntry)
    const decode = Schema.decodeUnknown(Schema.Array(SagaJournal.JournalEntry))
    const stored = (entry: Entry) =>
      Effect.map(encode(entry), (encoded): StoredEntry => ({
        kind: entry._tag,
        stepId: "stepId" in entry ? entry.stepId : null,
        json: JSON.stringify(encoded)
      }))
    /** Sagas this instance is working on: their leases are renewed. */
    const active = new Set<string>()
    const starts = new Map<string, Start>()
    /** Step outcomes held until the saga's next entry, by saga. */
    const held = new Map<string, ReadonlyArray<Entry>>()
    /** The steps journaled by a running saga's plan (their barriers answer for them), by saga. */
    const planned = new Map<string, ReadonlySet<string>>()

    const lost = (sagaId: string) => new LeaseLost({ sagaId, owner })

    /** The saga row and its first entries, in one statement. */
    const insertStart = (start: Extract<Entry, { _tag: "SagaStarted" }>, batch: ReadonlyArray<Entry>) =>
      Effect.gen(function*() {
        const end = batch.find((entry) => entry._tag === "SagaEnded")
        const inserted = yield* db.insertStart({
          id: start.sagaId,
          name: start.name,
          status: end?._tag === "SagaEnded" ? end.status : "running",
          error: end?._tag === "SagaEnded" ? end.error ?? null : null
        }, yield* Effect.forEach(batch, stored))
        if (!inserted) return yield* new SagaError.SagaIdTaken({ sagaId: start.sagaId })
      })

    const insertEntries = (sagaId: string, batch: ReadonlyArray<Entry>) =>
      Effect.gen(function*() {
        const end = batch.find((entry) => entry._tag === "SagaEnded")
        const written = yield* db.insertEntries(
          sagaId,
          yield* Effect.forEach(batch, stored),
          end?._tag === "SagaEnded" ? { status: end.status, error: end.error ?? null } : undefined
        )
        if (!written) return yield* lost(sagaId)
      })

    /**
     * A step's outcome is held and written with the saga's next entry (the next step's intent, a compensation's, the
     * end): one append per step. Until then the step is in doubt for a recovering process, as a step whose outcome
     * append failed is, and is resolved through the store's barrier. A compensation's success is held the same way:
     * until written, a recovering process runs that undo again (undos are idempotent). `entries` shows held entries.
     */
    const holds = (entry: Entry) =>
      ((entry._tag === "StepSucceeded" && entry.resolved !== true) || entry._tag === "CompensationSucceeded" ||
        // a step of the plan: its store's barrier answers for its outcome, whatever it was
        ((entry._tag === "StepSucceeded" || entry._tag === "StepFailed") &&
          planned.get(entry.sagaId)?.has(entry.stepId) === true)) &&
      active.has(entry.sagaId)

    /**
     * A saga started with a plan whose steps write no intent: its row and plan are written now, before its first step
     * acts.
     */
    const insertPlanned = (entry: Extract<Entry, { _tag: "SagaStarted" }>, steps: ReadonlySet<string>) =>
      Effect.suspend(() => {
        const sagaId = entry.sagaId
        active.add(sagaId)
        planned.set(sagaId, steps)
        return insertStart(entry, [entry]).pipe(
          Effect.mapError(fail("append", sagaId)),
          Effect.tapError(() => Effect.sync(() => void (active.delete(sagaId), planned.delete(sagaId)))),
          Effect.withSpan("SagaJournal.append", { attributes: { "saga.id": sagaId, "journal.entry": entry._tag } })
        )
      })

    const append = (entry: Entry): Effect.Effect<void, SagaError.JournalError> =>
      Effect.suspend(() => {
        const sagaId = entry.sagaId
        if (entry._tag === "SagaStarted") {
          const steps = (entry.plan ?? []).flatMap((step) => "input" in step ? [step.stepId] : [])
          if (steps.length > 0) return insertPlanned(entry, new Set(steps))
          starts.set(sagaId, { _tag: "Pending", entry })
          active.add(sagaId)
          return Effect.void
        }
        if (holds(entry)) {
          held.set(sagaId, [...(held.get(sagaId) ?? []), entry])
          return Effect.void
        }
        const batch = [...(held.get(sagaId) ?? []), entry]
        const carried = batch.length - 1
        held.delete(sagaId)
        const start = starts.get(sagaId)
        const write: Effect.Effect<void, unknown> = start === undefined
          ? insertEntries(sagaId, batch)
          : start._tag === "Writing"
          ? Effect.zipRight(Deferred.await(start.done), insertEntries(sagaId, batch))
          : Effect.gen(function*() {
            const done = yield* Deferred.make<void, SagaError.JournalError>()
            starts.set(sagaId, { _tag: "Writing", done })
            const exit = yield* Effect.exit(
              Effect.mapError(insertStart(start.entry, [start.entry, ...batch]), fail("append", sagaId))
            )
            starts.delete(sagaId)
            // another instance's saga holds the id: this one is not ours to renew or write to
            if (
              Exit.isFailure(exit) && Cause.failureOption(exit.cause).pipe(
                Option.exists((error) => error.cause instanceof SagaError.SagaIdTaken)
              )
            ) active.delete(sagaId)
            yield* Deferred.done(done, exit)
            return yield* exit
          })
        return write.pipe(
          Effect.mapError((cause) => cause instanceof SagaError.JournalError ? cause : fail("append", sagaId)(cause)),
          // not written: the held outcomes go with the next entry
          Effect.tapError(() =>
            Effect.sync(() => void held.set(sagaId, [...batch.slice(0, carried), ...(held.get(sagaId) ?? [])]))
          ),
          Effect.ensuring(
            entry._tag === "SagaEnded"
              ? Effect.sync(() => void (active.delete(sagaId), planned.delete(sagaId)))
              : Effect.void
          ),
          Effect.withSpan("SagaJournal.append", { attributes: { "saga.id": sagaId, "journal.entry": entry._tag } })
        )
      })

    /** Writes a saga's held outcomes now (before its lease is let go, or the journal closes). */
    const flush = (sagaId: string) =>
      Effect.suspend(() => {
        const batch = held.get(sagaId)
        if (batch === undefined) return Effect.void
        held.delete(sagaId)
        return Effect.mapError(insertEntries(sagaId, batch), fail("append", sagaId))
      })
    yield* Effect.addFinalizer(() =>
      Effect.forEach(Array.from(held.keys()), (sagaId) => Effect.ignore(flush(sagaId)), { discard: true })
    )

    const readEntries = (sagaId: string) =>
      db.entries(sagaId).pipe(
        Effect.flatMap(decode),
        Effect.map((entries) => [...entries, ...(held.get(sagaId) ?? [])]),
        Effect.mapError(fail("read", sagaId)),
        Effect.withSpan("SagaJournal.entries", { attributes: { "saga.id": sagaId } })
      )

    const unfinished = Effect.mapError(db.unfinished, fail("unfinished", undefined))

    const claim = (limit: number) =>
      db.claim(limit).pipe(
        Effect.tap((ids) => Effect.sync(() => ids.forEach((id) => active.add(id)))),
        Effect.mapError(fail("claim", undefined)),
        Effect.withSpan("SagaJournal.claim", { attributes: { "journal.owner": owner } })
      )

    const renew = Effect.suspend(() =>
      active.size === 0 ? Effect.succeed(0) : Effect.mapError(db.renew(Array.from(active)), fail("renew", undefined))
    )

    // no longer renewed before the lease is cut: a renewal that ran after the cut would extend it again
    const release = (sagaId: string) =>
      Effect.ignore(flush(sagaId)).pipe(
        Effect.zipRight(Effect.sync(() => void (active.delete(sagaId), planned.delete(sagaId)))),
        Effect.zipRight(db.release(sagaId)),
        Effect.mapError(fail("release", sagaId))
      )

    const reopen = (sagaId: string, reason: string) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const reopened = yield* db.reopen(sagaId, yield* stored(SagaJournal.SagaReopened.make({ sagaId, at, reason })))
        if (reopened) active.add(sagaId)
        return reopened
      }).pipe(Effect.mapError(fail("reopen", sagaId)))

    const failed = (limit: number) =>
      Effect.gen(function*() {
        const rows = yield* db.failed(limit)
        const bySaga = new Map<string, { row: SagaRow; entries: Array<unknown> }>()
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
        const rows = yield* db.page({ ...options, after, limit: limit + 1 }).pipe(
          Effect.mapError(fail("list", undefined))
        )
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
      }).pipe(Effect.withSpan("SagaJournal.page"))

    const list = (
      options?: { readonly status?: SagaSummary["status"] | undefined; readonly limit?: number | undefined }
    ) =>
      page({ status: options?.status, limit: options?.limit }).pipe(
        Effect.map((result) => result.sagas),
        Effect.catchTag("InvalidCursor", Effect.die)
      )

    const overview = db.overview.pipe(
      Effect.mapError(fail("overview", undefined)),
      Effect.withSpan("SagaJournal.overview")
    )

    const resolve = (sagaId: string, reason: string) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        return yield* db.resolve(sagaId, reason, yield* stored(SagaJournal.SagaResolved.make({ sagaId, at, reason })))
      }).pipe(Effect.mapError(fail("resolve", sagaId)), Effect.withSpan("SagaJournal.resolve"))

    const prune = (olderThan: Duration.DurationInput, options?: { readonly failed?: boolean | undefined }) =>
      db.prune(
        Duration.toMillis(Duration.decode(olderThan)),
        options?.failed === true ? ["completed", "compensated", "failed"] : ["completed", "compensated"]
      ).pipe(Effect.mapError(fail("prune", undefined)), Effect.withSpan("SagaJournal.prune"))

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

const describeFailed = (row: SagaRow, entries: ReadonlyArray<Entry>): FailedSaga => {
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
