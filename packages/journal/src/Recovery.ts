/**
 * The recovery runner: at start and then continuously, claim the unfinished sagas whose lease expired (their
 * instance died or stalled) and drive each to an end with `Saga.recover` and a step registry; prune finished sagas
 * older than the retention.
 *
 * @since 0.1.0
 */
import type { RecoveryResult, SagaError, SagaJournal, Step } from "@polysaga/saga"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as internal from "./internal/recovery.js"
import type { Journal } from "./Journal.js"

/**
 * @since 0.1.0
 */
export interface RecoveryOptions {
  /** Pause between passes (default 5 seconds). */
  readonly interval?: Duration.DurationInput | undefined
  /**
   * The most sagas one instance holds claimed at a time (default 20). A saga is claimed only when a worker is free to
   * recover it, so at most `min(batch, concurrency)` are held.
   */
  readonly batch?: number | undefined
  /** Sagas recovered concurrently (default 4). */
  readonly concurrency?: number | undefined
  /** Finished sagas are deleted this long after their end (default 7 days). */
  readonly retention?: Duration.DurationInput | undefined
  /** Prune `failed` sagas too (default false: they wait for a person). */
  readonly pruneFailed?: boolean | undefined
}

/**
 * One pass: claim expired sagas, one at a time per worker (`concurrency` of them), until none is left, and recover
 * each; their results. A saga whose recovery did not end it (journal or registry trouble, a store still unreachable, a
 * defect, an interruption) is logged and released for a later pass. Each in-doubt step is asked at most
 * `Saga.bounded`'s 10 s (its retries included), so a store that hangs holds no pass longer than that per step.
 *
 * @since 0.1.0
 */
export const runOnce: <R>(
  registry: Step.StepRegistry<R>,
  options?: RecoveryOptions
) => Effect.Effect<ReadonlyArray<RecoveryResult>, SagaError.JournalError, R | SagaJournal.SagaJournal> =
  internal.runOnce

/**
 * The runner as a scoped layer: a first pass (and pruning) before the layer is ready, then a background fiber
 * repeating it every `interval`, interrupted with the scope. Errors are logged, never fatal.
 *
 * @example
 * ```ts
 * const App = Warehouse.layer(config).pipe(
 *   Layer.provideMerge(Recovery.layer(Warehouse.registry)),
 *   Layer.provideMerge(PostgresJournal.layer({ url }))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layer = <R>(
  registry: Step.StepRegistry<R>,
  options?: RecoveryOptions
): Layer.Layer<never, never, R | SagaJournal.SagaJournal | Journal> =>
  Layer.scopedDiscard(internal.run(registry, options))
