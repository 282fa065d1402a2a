/**
 * The error family of `@polysaga/saga`. Every error is a `Data.TaggedError` that says where it came from
 * (saga id, step id) and carries the underlying `Cause` or error.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as internal from "./internal/errors.js"

/**
 * A step (or the saga body itself, then `stepId` is `undefined`) failed: every completed step was undone.
 * `cause` is the full failure `Cause` of the step's action.
 *
 * @since 0.1.0
 */
export class StepFailed extends Data.TaggedError("StepFailed")<{
  readonly sagaId: string
  readonly stepId: string | undefined
  readonly cause: Cause.Cause<unknown>
}> {
  override get message(): string {
    const where = this.stepId === undefined ? "its body" : `step "${this.stepId}"`
    return `Saga "${this.sagaId}" failed in ${where}: ${internal.causeMessage(this.cause)}`
  }
}

/**
 * A compensation still failed after its retries: the saga is `failed` and needs a person. `pending` lists every
 * step left undone (this one first), `trigger` is the failure that started the undo.
 *
 * @since 0.1.0
 */
export class CompensationFailed extends Data.TaggedError("CompensationFailed")<{
  readonly sagaId: string
  readonly stepId: string
  readonly cause: Cause.Cause<unknown>
  readonly trigger: Cause.Cause<unknown>
  readonly pending: ReadonlyArray<string>
}> {
  override get message(): string {
    return `Saga "${this.sagaId}": compensation of step "${this.stepId}" failed (${
      internal.causeMessage(this.cause)
    }); left undone: ${this.pending.join(", ")}`
  }
}

/**
 * The saga-level timeout elapsed. `compensated` says whether the completed steps were undone
 * (`compensateOnTimeout`).
 *
 * @since 0.1.0
 */
export class SagaTimeout extends Data.TaggedError("SagaTimeout")<{
  readonly sagaId: string
  readonly timeout: Duration.Duration
  readonly compensated: boolean
}> {
  override get message(): string {
    return `Saga "${this.sagaId}" timed out after ${internal.formatDuration(this.timeout)}`
  }
}

/**
 * The saga is malformed: a duplicate step id, a bad dependency graph, a result that does not encode with its
 * step's Schema. Raised before (or instead of) the offending step's action.
 *
 * @since 0.1.0
 */
export class SagaDefinitionError extends Data.TaggedError("SagaDefinitionError")<{
  readonly sagaId: string
  readonly stepId: string | undefined
  readonly reason: string
}> {
  override get message(): string {
    const where = this.stepId === undefined ? "" : ` (step "${this.stepId}")`
    return `Saga "${this.sagaId}" is malformed${where}: ${this.reason}`
  }
}

/**
 * One attempt of a step exceeded the step's `timeout`. It is transient: the step's retry schedule (if any) retries
 * it.
 *
 * @since 0.1.0
 */
export class StepTimeout extends Data.TaggedError("StepTimeout")<{
  readonly sagaId: string
  readonly stepId: string
  readonly timeout: Duration.Duration
}> {
  readonly transient = true as const
  /** The attempt was cut off while its action may have reached the store: whether it applied is unknown. */
  readonly inDoubt = true as const
  override get message(): string {
    return `Step "${this.stepId}" of saga "${this.sagaId}" timed out after ${internal.formatDuration(this.timeout)}`
  }
}

/**
 * A journal could not be written or read.
 *
 * @since 0.1.0
 */
export class JournalError extends Data.TaggedError("JournalError")<{
  readonly operation: string
  readonly sagaId: string | undefined
  readonly cause: unknown
}> {
  override get message(): string {
    return `Saga journal ${this.operation} failed${this.sagaId === undefined ? "" : ` for saga "${this.sagaId}"`}: ${
      internal.errorMessage(this.cause)
    }`
  }
}

/**
 * The journal already holds a saga with this id: another instance started one under it first. Nothing of this run
 * was journaled or done (a saga's start is written with its first step's intent, before that step acts). It is the
 * `cause` of the `JournalError` that append fails with, and `Saga.execute` reports it as `SagaResult.idTaken`.
 *
 * @since 0.1.0
 */
export class SagaIdTaken extends Data.TaggedError("SagaIdTaken")<{
  readonly sagaId: string
}> {
  override get message(): string {
    return `the journal already holds a saga with the id "${this.sagaId}"`
  }
}

/**
 * Recovery from the journal could not start (e.g. the journal holds no saga with that id).
 *
 * @since 0.1.0
 */
export class RecoveryError extends Data.TaggedError("RecoveryError")<{
  readonly sagaId: string
  readonly reason: string
}> {
  override get message(): string {
    return `Cannot recover saga "${this.sagaId}": ${this.reason}`
  }
}

/**
 * A marker for transient failures (connection lost, deadlock, timeout): wrap an error in `Transient` (or give it a
 * `transient: true` field) and step retry schedules will retry it. Anything else is a business error and is never
 * retried.
 *
 * @since 0.1.0
 */
export class Transient extends Data.TaggedError("Transient")<{
  readonly cause: unknown
}> {
  readonly transient = true as const
  override get message(): string {
    return `Transient: ${internal.errorMessage(this.cause)}`
  }
}

/**
 * The default transient classification: an object with a `transient: true` field (`Transient`, `StepTimeout`, or a
 * store error that sets it). Steps may override it with their own `isTransient`.
 *
 * @since 0.1.0
 */
export const isTransient: (error: unknown) => boolean = internal.isTransient

/**
 * The default in-doubt classification: an object with an `inDoubt: true` field (`StepTimeout`, or a store error whose
 * reply was lost: a connection dropped or a timeout after the request was sent). A step that fails in doubt may have
 * taken effect; when the step can ask (`resolve`, e.g. a store's step barrier), the engine resolves it before the
 * saga compensates: applied → undone like a completed step, not applied → fenced. Steps may override it with their
 * own `isInDoubt`.
 *
 * @since 0.1.0
 */
export const isInDoubt: (error: unknown) => boolean = internal.isInDoubt

/**
 * The errors the engine may add to a step's own error (in `Saga.step`).
 *
 * @since 0.1.0
 */
export type StepError = StepTimeout | SagaDefinitionError | JournalError

/**
 * What `Saga.run` fails with.
 *
 * @since 0.1.0
 */
export type SagaError = StepFailed | CompensationFailed | SagaTimeout | SagaDefinitionError
