/**
 * The journal port: where the engine writes what it is about to do and what happened, so a restarted process can
 * finish (compensate) a saga that was cut short.
 *
 * Entries are an Effect `Schema` union whose encoded form is plain JSON: a SQL journal stores
 * `Schema.encode(JournalEntry)(entry)` in a JSON column and decodes it back. The port is three methods; the engine
 * appends, recovery reads.
 *
 * Without a `SagaJournal` in the context, `Saga.execute` journals nothing (a no-op journal) and still works;
 * `Saga.recover` requires one.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
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
export const SagaStarted = Schema.TaggedStruct("SagaStarted", { ...base, name: Schema.String })

/**
 * Written before each attempt of a step's action.
 * @since 0.1.0
 */
export const StepIntent = Schema.TaggedStruct("StepIntent", {
  ...base,
  stepId: Schema.String,
  /** The step (definition) name: the key in a `StepRegistry`. */
  name: Schema.String,
  attempt: Schema.Number
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
  result: Schema.optional(Schema.Unknown)
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
  error: Schema.String
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
  SagaEnded
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
    /** Ids of the sagas that have a `SagaStarted` and no `SagaEnded`, oldest first. */
    readonly unfinished: Effect.Effect<ReadonlyArray<string>, JournalError>
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
) => Effect.Effect<SagaJournal.Service & { readonly all: Effect.Effect<ReadonlyArray<JournalEntry>> }> =
  internal.makeMemory

/**
 * A layer of a fresh in-memory journal.
 *
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<SagaJournal> = internal.layerMemory(SagaJournal)

/**
 * A journal that records nothing (what `Saga.execute` uses when no `SagaJournal` is provided).
 *
 * @since 0.1.0
 */
export const noop: SagaJournal.Service = internal.noop
