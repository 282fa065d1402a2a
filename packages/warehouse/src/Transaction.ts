/**
 * The seed's `transaction(operations, options)` and its result.
 *
 * @since 0.1.0
 */
import { Limits, Undo } from "@polysaga/store"
import * as Schema from "effect/Schema"

/**
 * Options, with the seed's defaults: `timeout` 30000 ms, `retryOnFailure` false, `maxRetries` 3,
 * `compensateOnTimeout` true. `id` sets the saga id (default: a random UUID).
 *
 * @since 0.1.0
 */
export const TransactionOptions = Schema.Struct({
  timeout: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 30_000 }),
  retryOnFailure: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  maxRetries: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 100)), { default: () => 3 }),
  compensateOnTimeout: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  id: Schema.optional(
    Schema.NonEmptyTrimmedString.pipe(
      Schema.maxLength(200),
      Schema.filter(Limits.isStorableText, { message: () => "must not hold a NUL character or a lone surrogate" })
    )
  )
})

/**
 * @since 0.1.0
 */
export type TransactionOptions = typeof TransactionOptions.Encoded

/**
 * One step's result: the records it produced (inserted, updated as after the update, deleted as before,
 * selected), how many, and its error if it failed.
 *
 * @since 0.1.0
 */
export const StepResult = Schema.Struct({
  data: Schema.optional(Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Unknown }))),
  affectedRows: Schema.optional(Schema.Number),
  error: Schema.optional(Schema.String)
})

/**
 * The seed's `ISagaResult`, plus the saga `id` and, when `failed`, the steps left to undo.
 *
 * @since 0.1.0
 */
export const TransactionResult = Schema.Struct({
  id: Schema.String,
  status: Schema.Literal("completed", "compensated", "failed"),
  executionTime: Schema.Number,
  stepResults: Schema.Record({ key: Schema.String, value: StepResult }),
  compensatedSteps: Schema.Array(Schema.String),
  pendingCompensations: Schema.optional(Schema.Array(Schema.String)),
  error: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 */
export type TransactionResult = typeof TransactionResult.Type

/**
 * What a step journals: the source tag, what it produced, and the undo record its compensation applies.
 *
 * @since 0.1.0
 */
export const StepOutcome = Schema.Struct({
  tag: Schema.String,
  records: Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  affected: Schema.Number,
  undo: Undo.UndoRecord
})

/**
 * @since 0.1.0
 */
export type StepOutcome = typeof StepOutcome.Type
