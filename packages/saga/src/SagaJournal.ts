/**
 * The journal port: where the engine writes what it is about to do and what happened, so a restarted process can
 * finish (compensate) a saga that was cut short.
 *
 * Entries are an Effect `Schema` union whose encoded form is plain JSON: a SQL journal stores
 * `Schema.encode(JournalEntry)(entry)` in a JSON column and decodes it back. The port is three methods; the engine
 * appends, recovery reads; a journal shared by several instances adds `leases`.
 *
 * Without a `SagaJournal` in the context, `Saga.execute` journals nothing (a no-op journal) and still works;
 * `Saga.recover` requires one.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as internal from "./internal/journal.js"
import type { JournalError } from "./SagaError.js"

const base = {
  sagaId: Schema.String,
  /** Epoch milliseconds (Effect `Clock`). */
  at: Schema.Number
}

/**
 * A saga began.
 * @since 0.1.0
 */
export const SagaStarted = Schema.TaggedStruct("SagaStarted", {
  ...base,
  name: Schema.String,
  /**
   * The ids of the steps the saga runs, when they are known before it starts (`ExecuteOptions.steps`, e.g. a
   * warehouse transaction). With them, recovery can tell a saga that did all its steps and only lacked its end
   * record, and ends it `completed` instead of undoing it.
   */
  steps: Schema.optional(Schema.Array(Schema.String)),
  /**
   * The saga's plan, when it was given one (`ExecuteOptions.plan`): its steps in order (an order compensation may walk
   * backwards). A step with an `input` is journaled by the plan: it writes no intent, and recovery asks its store's
   * barrier (the definition's `resolve`, with this input) whether it applied — and thereby fences it — unless the
   * journal holds its outcome. A step without one journals its intent and outcome as it runs.
   */
  plan: Schema.optional(Schema.Array(Schema.Struct({
    stepId: Schema.String,
    name: Schema.String,
    input: Schema.optional(Schema.Unknown)
  })))
})

/**
 * One step of a saga's plan, as journaled in `SagaStarted`.
 * @since 0.1.0
 */
export type PlannedStep = NonNullable<typeof SagaStarted.Type["plan"]>[number]

/**
 * Written before each attempt of a step's action.
 * @since 0.1.0
 */
export const StepIntent = Schema.TaggedStruct("StepIntent", {
  ...base,
  stepId: Schema.String,
  /** The step (definition) name: the key in a `StepRegistry`. */
  name: Schema.String,
  attempt: Schema.Number,
  /**
   * The step's input encoded by its definition's `input` Schema: what recovery hands to the definition's
   * `resolve` when this intent has no outcome.
   */
  input: Schema.optional(Schema.Unknown)
})

/**
 * The attempt succeeded. `result` is the value encoded by the step's result Schema; absent when the step has
 * none (then its compensation cannot be rebuilt after a restart).
 * @since 0.1.0
 */
export const StepSucceeded = Schema.TaggedStruct("StepSucceeded", {
  ...base,
  stepId: Schema.String,
  name: Schema.String,
  attempt: Schema.Number,
  result: Schema.optional(Schema.Unknown),
  /** Written by recovery: the step was in doubt and its definition's `resolve` found it applied. */
  resolved: Schema.optional(Schema.Literal(true)),
  /** When the step's first attempt started, on a step journaled by the plan (it has no intent). */
  startedAt: Schema.optional(Schema.Number)
})

/**
 * The attempt failed (or was interrupted): nothing to undo for it.
 * @since 0.1.0
 */
export const StepFailed = Schema.TaggedStruct("StepFailed", {
  ...base,
  stepId: Schema.String,
  name: Schema.String,
  attempt: Schema.Number,
  error: Schema.String,
  /** Written by recovery: the step was in doubt and its definition's `resolve` found it not applied. */
  resolved: Schema.optional(Schema.Literal(true)),
  /** When the step's first attempt started, on a step journaled by the plan (it has no intent). */
  startedAt: Schema.optional(Schema.Number)
})

/**
 * Written before a step's compensation runs (its retries included).
 * @since 0.1.0
 */
export const CompensationIntent = Schema.TaggedStruct("CompensationIntent", { ...base, stepId: Schema.String })

/**
 * @since 0.1.0
 */
export const CompensationSucceeded = Schema.TaggedStruct("CompensationSucceeded", {
  ...base,
  stepId: Schema.String
})

/**
 * The compensation still failed after its retries.
 * @since 0.1.0
 */
export const CompensationFailed = Schema.TaggedStruct("CompensationFailed", {
  ...base,
  stepId: Schema.String,
  error: Schema.String
})

/**
 * The saga reached its end. A saga without this entry is unfinished.
 * @since 0.1.0
 */
export const SagaEnded = Schema.TaggedStruct("SagaEnded", {
  ...base,
  status: Schema.Literal("completed", "compensated", "failed"),
  error: Schema.optional(Schema.String)
})

/**
 * A `failed` saga was taken back to retry its compensation (`Saga.retryCompensation`): it is unfinished again
 * until the next `SagaEnded`.
 * @since 0.1.0
 */
export const SagaReopened = Schema.TaggedStruct("SagaReopened", { ...base, reason: Schema.String })

/**
 * A person marked a `failed` saga resolved by hand (they repaired what its compensation could not undo), with
 * their reason. It stays `failed` — its compensation did not run — but no longer waits for a person, and its
 * compensation is not retried any more.
 * @since 0.1.0
 */
export const SagaResolved = Schema.TaggedStruct("SagaResolved", { ...base, reason: Schema.String })

/**
 * Every journal entry.
 * @since 0.1.0
 */
export const JournalEntry = Schema.Union(
  SagaStarted,
  StepIntent,
  StepSucceeded,
  StepFailed,
  CompensationIntent,
  CompensationSucceeded,
  CompensationFailed,
  SagaEnded,
  SagaReopened,
  SagaResolved
)

/**
 * @since 0.1.0
 */
export type JournalEntry = typeof JournalEntry.Type

/**
 * The encoded (JSON) form of an entry.
 * @since 0.1.0
 */
export type JournalEntryEncoded = typeof JournalEntry.Encoded

/**
 * @since 0.1.0
 */
export declare namespace SagaJournal {
  /**
   * @since 0.1.0
   */
  export interface Service {
    /** Append one entry. The engine waits for it before running the action an intent announces. */
    readonly append: (entry: JournalEntry) => Effect.Effect<void, JournalError>
    /** All entries of a saga, in append order. */
    readonly entries: (sagaId: string) => Effect.Effect<ReadonlyArray<JournalEntry>, JournalError>
    /** Ids of the sagas that have a `SagaStarted` and no `SagaEnded` (after their last `SagaReopened`), oldest first. */
    readonly unfinished: Effect.Effect<ReadonlyArray<string>, JournalError>
    /**
     * Leases, for a journal that several instances share (durable journals). Absent on journals of one process
     * (the in-memory one): then `Saga.recoverAll` takes every unfinished saga.
     */
    readonly leases?: Leases | undefined
  }

  /**
   * Who works on which saga. Every unfinished saga is leased to one owner (an instance) until a point in time;
   * the owner renews the leases of the sagas it is running. A saga whose lease expired (its owner died or
   * stalled) can be claimed by another instance, which then drives it to an end. A journal with leases refuses
   * appends for a saga from an instance that does not hold it (fencing): an instance that lost a lease stops
   * writing to that saga.
   *
   * @since 0.1.0
   */
  export interface Leases {
    /** This instance's owner id: the sagas it starts are leased to it. */
    readonly owner: string
    /** How long a lease lasts without renewal. */
    readonly duration: Duration.Duration
    /**
     * Take up to `limit` unfinished sagas whose lease has expired, never one that another instance holds or is
     * claiming at this moment; they are leased to this owner. Their ids, oldest first.
     */
    readonly claim: (limit: number) => Effect.Effect<ReadonlyArray<string>, JournalError>
    /** Extend the leases of the unfinished sagas this instance is working on; how many. */
    readonly renew: Effect.Effect<number, JournalError>
    /** Let the lease of a saga this instance holds expire now, so that any instance may claim it. */
    readonly release: (sagaId: string) => Effect.Effect<void, JournalError>
    /**
     * Take a `failed` saga back to unfinished under this owner and journal a `SagaReopened` (one step), to
     * retry its compensation. `false` when the saga is not `failed`.
     */
    readonly reopen: (sagaId: string, reason: string) => Effect.Effect<boolean, JournalError>
  }
}

/**
 * @since 0.1.0
 */
export class SagaJournal extends Context.Tag("@polysaga/saga/SagaJournal")<SagaJournal, SagaJournal.Service>() {}

/**
 * An in-memory journal. Entries are stored as their JSON encoding (so what works here works in a SQL journal),
 * optionally seeded with earlier entries (e.g. to test recovery). `all` reads every entry.
 *
 * @since 0.1.0
 */
export const makeMemory: (
  initial?: ReadonlyArray<JournalEntry>
) => Effect.Effect<SagaJournal.Service & { readonly all: Effect.Effect<ReadonlyArray<JournalEntry>> }> = internal
  .makeMemory(JournalEntry)

/**
 * A layer of a fresh in-memory journal.
 *
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<SagaJournal> = internal.layerMemory(SagaJournal, JournalEntry)

/**
 * A journal that records nothing (what `Saga.execute` uses when no `SagaJournal` is provided).
 *
 * @since 0.1.0
 */
export const noop: SagaJournal.Service = internal.noop
