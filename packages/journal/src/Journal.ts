/**
 * The durable journal's own service: who this instance is, the `failed` sagas that wait for a person, retention,
 * and manual intervention (`retryCompensation`).
 *
 * @since 0.1.0
 */
import { Saga, type SagaError, type SagaJournal, type Step } from "@polysaga/saga"
import type { RecoveryResult } from "@polysaga/saga"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/**
 * An append for a saga this instance does not hold: its lease expired and another instance claimed it, or it has
 * ended. The append is refused (fencing), so an instance that lost a saga stops writing to it. It is the `cause`
 * of the `JournalError` the append fails with.
 *
 * @since 0.1.0
 */
export class LeaseLost extends Data.TaggedError("LeaseLost")<{
  readonly sagaId: string
  readonly owner: string
}> {
  override get message(): string {
    return `saga "${this.sagaId}" is not held by ${this.owner}: its lease expired and another instance took it, ` +
      `or it has ended`
  }
}

/**
 * A `failed` saga, for a person: what is left to undo, in order, with each step's last compensation error, and the
 * steps still in doubt.
 *
 * @since 0.1.0
 */
export interface FailedSaga {
  readonly id: string
  readonly name: string
  /** Why it failed (the journaled end). */
  readonly error?: string
  readonly startedAt: Date
  readonly endedAt?: Date
  /** Completed steps not undone, in the order to undo them (reverse completion order). */
  readonly pending: ReadonlyArray<{ readonly stepId: string; readonly name: string; readonly error?: string }>
  /** Steps whose outcome is unknown (an intent without outcome no definition could resolve). */
  readonly inDoubt: ReadonlyArray<{ readonly stepId: string; readonly name: string }>
}

/**
 * A `failed` saga a person marked resolved by hand: when, and why.
 *
 * @since 0.1.0
 */
export interface Resolution {
  readonly at: Date
  readonly reason: string
}

/**
 * One saga as the journal lists it.
 *
 * @since 0.1.0
 */
export interface SagaSummary {
  readonly id: string
  readonly name: string
  readonly status: "running" | "completed" | "compensated" | "failed"
  readonly startedAt: Date
  readonly endedAt?: Date
  /** Why it did not complete (the journaled end). */
  readonly error?: string
  /** Set when a person marked the `failed` saga resolved by hand. */
  readonly resolution?: Resolution
}

/**
 * Which sagas to list, newest first (by start, then id).
 *
 * @since 0.1.0
 */
export interface ListOptions {
  readonly status?: SagaSummary["status"] | undefined
  /** At most this many (default 100). */
  readonly limit?: number | undefined
  /** Started at or after. */
  readonly from?: Date | undefined
  /** Started before. */
  readonly to?: Date | undefined
  /** The saga id contains this text. */
  readonly id?: string | undefined
  /** Only sagas resolved by hand (`true`) or not (`false`). */
  readonly resolved?: boolean | undefined
  /** The `next` cursor of the previous page. */
  readonly cursor?: string | undefined
}

/**
 * One page of sagas; `next` (absent on the last page) continues after its last one.
 *
 * @since 0.1.0
 */
export interface SagaPage {
  readonly sagas: ReadonlyArray<SagaSummary>
  readonly next?: string
}

/**
 * The journal at a glance: sagas by status, how many wait for a person, and the last hour's throughput and
 * latency.
 *
 * @since 0.1.0
 */
export interface Overview {
  readonly counts: { readonly [Status in SagaSummary["status"]]: number }
  /** `failed` sagas not resolved by hand. */
  readonly needsPerson: number
  readonly lastHour: {
    /** Sagas started in each of the last 60 minutes, oldest first (the last is the current minute). */
    readonly startedPerMinute: ReadonlyArray<number>
    /** Sagas that ended in the last hour. */
    readonly ended: number
    /** Start-to-end milliseconds of the sagas that ended in the last hour (absent when none did). */
    readonly latency?: { readonly p50: number; readonly p95: number; readonly p99: number; readonly max: number }
  }
}

/**
 * A `cursor` that no page of this journal returned.
 *
 * @since 0.1.0
 */
export class InvalidCursor extends Data.TaggedError("InvalidCursor")<{ readonly cursor: string }> {
  override get message(): string {
    return `cursor: "${this.cursor}" is not a cursor this journal returned`
  }
}

/**
 * @since 0.1.0
 */
export interface JournalService {
  /** This instance's owner id (its leases carry it). */
  readonly owner: string
  /** Sagas, newest first, optionally of one status (at most `limit`, default 100). */
  readonly list: (options?: {
    readonly status?: SagaSummary["status"] | undefined
    readonly limit?: number | undefined
  }) => Effect.Effect<ReadonlyArray<SagaSummary>, SagaError.JournalError>
  /** One page of sagas, newest first, filtered (keyset paging: stable while new sagas start). */
  readonly page: (options: ListOptions) => Effect.Effect<SagaPage, SagaError.JournalError | InvalidCursor>
  /** Counts by status, the sagas waiting for a person, and the last hour's throughput and latency. */
  readonly overview: Effect.Effect<Overview, SagaError.JournalError>
  /**
   * Mark a `failed` saga resolved by hand, with the reason (journaled as `SagaResolved`): it leaves `failed()`
   * and its compensation is no longer retried. `false` when the saga is not `failed` or already resolved.
   */
  readonly resolve: (sagaId: string, reason: string) => Effect.Effect<boolean, SagaError.JournalError>
  /** The `failed` sagas not resolved by hand, oldest end first (at most `limit`, default 100). */
  readonly failed: (
    options?: { readonly limit?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<FailedSaga>, SagaError.JournalError>
  /**
   * Delete the rows of sagas that ended `completed` or `compensated` (and `failed` with `failed: true`) more than
   * `olderThan` ago; how many sagas. The recovery runner calls it (retention).
   */
  readonly prune: (
    olderThan: Duration.DurationInput,
    options?: { readonly failed?: boolean | undefined }
  ) => Effect.Effect<number, SagaError.JournalError>
}

/**
 * @since 0.1.0
 */
export class Journal extends Context.Tag("@polysaga/journal/Journal")<Journal, JournalService>() {}

/**
 * The `failed` sagas of the journal in the context.
 *
 * @since 0.1.0
 */
export const failed = (
  options?: { readonly limit?: number | undefined }
): Effect.Effect<ReadonlyArray<FailedSaga>, SagaError.JournalError, Journal> =>
  Effect.flatMap(Journal, (journal) => journal.failed(options))

/**
 * Sagas of the journal in the context, newest first, optionally of one status.
 *
 * @since 0.1.0
 */
export const list = (
  options?: { readonly status?: SagaSummary["status"] | undefined; readonly limit?: number | undefined }
): Effect.Effect<ReadonlyArray<SagaSummary>, SagaError.JournalError, Journal> =>
  Effect.flatMap(Journal, (journal) => journal.list(options))

/**
 * Manual intervention: retry the compensation of a `failed` saga (`Saga.retryCompensation`). The saga is taken by
 * this instance (reopened under its lease), its in-doubt steps are resolved again, what is left is undone; it ends
 * `compensated`, or `failed` again with the new error.
 *
 * @since 0.1.0
 */
export const retryCompensation = <R>(
  sagaId: string,
  registry: Step.StepRegistry<R>
): Effect.Effect<RecoveryResult, SagaError.JournalError | SagaError.RecoveryError, R | SagaJournal.SagaJournal> =>
  Saga.retryCompensation(sagaId, registry)
