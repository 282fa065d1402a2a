/**
 * The record `Saga.execute` always returns, and the record of a recovery.
 *
 * @since 0.1.0
 */

/**
 * - `completed`: every step succeeded, `value` is set.
 * - `compensated`: a step failed (or the saga timed out with `compensateOnTimeout`, or was interrupted) and every
 *   completed step was undone.
 * - `failed`: something is left undone (a compensation failed after its retries, or the saga timed out with
 *   `compensateOnTimeout: false`); `pendingCompensations` lists it for a person.
 *
 * @since 0.1.0
 */
export type SagaStatus = "completed" | "compensated" | "failed"

/**
 * `running` only shows while a step is in flight (never in a finished result unless the saga was cut short).
 *
 * @since 0.1.0
 */
export type StepStatus = "running" | "completed" | "failed" | "compensated" | "compensationFailed"

/**
 * What happened to one step, keyed by its step id in `SagaResult.steps`.
 *
 * @since 0.1.0
 */
export interface StepRecord {
  /** Unique within the saga: the step's `id` (default: its name), prefixed by `parent/` inside nested sagas. */
  readonly id: string
  /** The step's (definition) name. */
  readonly name: string
  readonly status: StepStatus
  /** The action's value, once it completed. */
  readonly result?: unknown
  /** Message of the action's final failure. */
  readonly error?: string
  /** Message of the compensation's final failure. */
  readonly compensationError?: string
  /** Attempts of the action (1 + retries). */
  readonly attempts: number
  /** Epoch milliseconds (Effect `Clock`) when the step started. */
  readonly startedAt: number
  /** Milliseconds from start until the action completed or finally failed (all attempts). */
  readonly duration?: number
}

/**
 * @since 0.1.0
 */
export interface SagaResult<A> {
  /** The saga id: `options.id` or a generated UUID. */
  readonly id: string
  /** The saga's name. */
  readonly name: string
  readonly status: SagaStatus
  /** Milliseconds from start to end, compensations included. */
  readonly executionTime: number
  /** One record per step that started, in start order. */
  readonly steps: Readonly<Record<string, StepRecord>>
  /** Step ids in the order their actions completed. */
  readonly completedSteps: ReadonlyArray<string>
  /** Step ids in the order they were undone. */
  readonly compensatedSteps: ReadonlyArray<string>
  /** Step ids left undone (non-empty exactly when `status` is `failed`), in the order they should be undone. */
  readonly pendingCompensations: ReadonlyArray<string>
  /** Message of the failure that made the saga undo itself (absent when completed). */
  readonly error?: string
  /** Message of the compensation failure that stopped the undo (only when `failed` by a compensation). */
  readonly compensationError?: string
  /** Set when the journal could not record the saga's end: the outcome above holds but the journal lags. */
  readonly journalError?: string
  /**
   * Set when the journal already held a saga with this id (`SagaIdTaken`: another instance started one under it at
   * the same moment): none of this run's steps acted and nothing of it was journaled; the other saga is untouched.
   */
  readonly idTaken?: true
  /** The saga's value, only when `completed`. */
  readonly value?: A
}

/**
 * The outcome of `Saga.recover`: the backward recovery of a saga found unfinished in the journal.
 *
 * @since 0.1.0
 */
export interface RecoveryResult {
  readonly id: string
  /**
   * `compensated` or `failed`; `completed` when the saga declared its steps and every one of them was done (it only
   * lacked its end record). For a saga the journal already shows as ended, the status it ended with.
   */
  readonly status: SagaStatus
  /** True when the journal already held the saga's end: nothing was run. */
  readonly alreadyFinished: boolean
  /** Step ids undone now, in order. */
  readonly compensatedSteps: ReadonlyArray<string>
  /** Step ids still left undone (a compensation failed, or a definition/result was missing). */
  readonly pendingCompensations: ReadonlyArray<string>
  /**
   * Steps whose last attempt has an intent but no outcome: the process died during the action, whether it took
   * effect is unknown, and their definition could not tell (no `resolve`, or it failed). Their presence makes the
   * status `failed`.
   */
  readonly inDoubt: ReadonlyArray<string>
  /** In-doubt steps settled by their definition's `resolve`: `applied` ones were then compensated (or kept). */
  readonly resolvedSteps: ReadonlyArray<{ readonly stepId: string; readonly applied: boolean }>
  readonly error?: string
}
