import type * as Effect from "effect/Effect"
import type { Overview } from "../Journal.js"

/** One journal entry as stored: its tag, its step (if any) and its JSON. @internal */
export interface StoredEntry {
  readonly kind: string
  readonly stepId: string | null
  readonly json: string
}

/** A saga row as the listings read it. @internal */
export interface SagaRow {
  readonly id: string
  readonly name: string
  readonly status: "running" | "completed" | "compensated" | "failed"
  readonly error: string | null
  readonly started_at: Date
  readonly ended_at: Date | null
}

/** A saga row as a page lists it: with its resolution by hand, and its start in epoch microseconds (exact). @internal */
export interface PageRow extends SagaRow {
  readonly resolved_at: Date | null
  readonly resolution: string | null
  readonly micros: string
}

/** A page's filters, and where the previous page ended. @internal */
export interface PageQuery {
  readonly status?: SagaRow["status"] | undefined
  readonly from?: Date | undefined
  readonly to?: Date | undefined
  readonly id?: string | undefined
  readonly resolved?: boolean | undefined
  readonly after?: { readonly micros: string; readonly id: string } | undefined
  readonly limit: number
}

/**
 * The journal's SQL on one engine (PostgreSQL or SQLite), for one owner and lease length. Every write that depends
 * on the saga's row (its owner, its status) checks it in the same statement or transaction, so fencing holds.
 * @internal
 */
export interface Statements {
  /** Create or migrate the schema. */
  readonly migrate: Effect.Effect<void, unknown>
  /** The saga row (leased to this owner) and its first entries, unless the id exists; whether it was new. */
  readonly insertStart: (
    saga: {
      readonly id: string
      readonly name: string
      readonly status: SagaRow["status"]
      readonly error: string | null
    },
    entries: ReadonlyArray<StoredEntry>
  ) => Effect.Effect<boolean, unknown>
  /** Entries of a running saga this owner holds, in order; `end` also ends the saga. Whether they were written. */
  readonly insertEntries: (
    sagaId: string,
    entries: ReadonlyArray<StoredEntry>,
    end: { readonly status: SagaRow["status"]; readonly error: string | null } | undefined
  ) => Effect.Effect<boolean, unknown>
  /** A saga's entries (decoded JSON, not yet checked), in order. */
  readonly entries: (sagaId: string) => Effect.Effect<ReadonlyArray<unknown>, unknown>
  /** Ids of the running sagas, oldest first. */
  readonly unfinished: Effect.Effect<ReadonlyArray<string>, unknown>
  /** Lease up to `limit` running sagas whose lease expired to this owner; their ids. */
  readonly claim: (limit: number) => Effect.Effect<ReadonlyArray<string>, unknown>
  /** Extend this owner's leases on these running sagas; how many. */
  readonly renew: (ids: ReadonlyArray<string>) => Effect.Effect<number, unknown>
  /** Let this owner's lease on a running saga expire now. */
  readonly release: (sagaId: string) => Effect.Effect<void, unknown>
  /** A `failed` saga (not resolved by hand) running again under this owner, with the `SagaReopened` entry. */
  readonly reopen: (sagaId: string, entry: StoredEntry) => Effect.Effect<boolean, unknown>
  /** The `failed` sagas not resolved by hand, oldest end first, each row once per entry (in order). */
  readonly failed: (limit: number) => Effect.Effect<ReadonlyArray<SagaRow & { readonly entry: unknown }>, unknown>
  /** Sagas newest first (start, then id, both descending), filtered, after the cursor. */
  readonly page: (query: PageQuery) => Effect.Effect<ReadonlyArray<PageRow>, unknown>
  /** Counts by status, the sagas waiting for a person, the last hour's throughput and latency. */
  readonly overview: Effect.Effect<Overview, unknown>
  /** Mark a `failed` saga not yet resolved as resolved by hand, with the `SagaResolved` entry; whether it was. */
  readonly resolve: (sagaId: string, reason: string, entry: StoredEntry) => Effect.Effect<boolean, unknown>
  /** Delete the sagas of these statuses that ended more than `olderThanMs` ago; how many. */
  readonly prune: (olderThanMs: number, statuses: ReadonlyArray<SagaRow["status"]>) => Effect.Effect<number, unknown>
}
