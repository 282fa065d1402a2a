import { type RecoveryResult, Saga, SagaError, SagaJournal, SagaMetrics, type Step } from "@polysaga/saga"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { Journal } from "../Journal.js"
import type { RecoveryOptions } from "../Recovery.js"

const noLeases = new SagaError.JournalError({
  operation: "claim",
  sagaId: undefined,
  cause: new Error("the SagaJournal in the context has no leases: use Saga.recoverAll at start-up instead")
})

/**
 * Claim expired sagas until none is left, and drive each to an end: `concurrency` workers (at most `batch`), each
 * claiming one saga when it is free to recover it — a saga is never held (its lease renewed) while it waits behind
 * others. A saga whose recovery did not end it — it failed (journal or registry trouble, a store still unreachable),
 * died or was interrupted — is released, so that it is retried (here or elsewhere) on a later pass; a defect in one
 * saga's recovery neither stops the others nor leaves its lease renewed by an instance that no longer works on it.
 * @internal
 */
export const runOnce = <R>(
  registry: Step.StepRegistry<R>,
  options: RecoveryOptions = {}
): Effect.Effect<ReadonlyArray<RecoveryResult>, SagaError.JournalError, R | SagaJournal.SagaJournal> =>
  Effect.gen(function*() {
    const journal = yield* SagaJournal.SagaJournal
    const leases = journal.leases
    if (leases === undefined) return yield* noLeases
    const workers = Math.max(1, Math.min(options.batch ?? 20, options.concurrency ?? 4))
    const results: Array<RecoveryResult> = []
    const recoverOne = (id: string) =>
      Saga.recover(id, registry).pipe(
        Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Effect.ignore(leases.release(id))),
        Effect.tap((result) =>
          Effect.zipRight(
            Effect.sync(() => void results.push(result)),
            Metric.increment(Metric.tagged(SagaMetrics.recoveries, "status", result.status))
          )
        ),
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause) ? Effect.failCause(Cause.stripFailures(cause)) : Effect.logError(
            "recovery of a saga failed; it is released for a later pass",
            Option.getOrElse(
              Option.map(Cause.failureOption(cause), (error) => error.message),
              () => Cause.pretty(cause)
            )
          ).pipe(Effect.zipRight(Metric.increment(Metric.tagged(SagaMetrics.recoveries, "status", "error"))))
        ),
        Effect.annotateLogs("saga.id", id)
      )
    const worker = Effect.gen(function*() {
      while (true) {
        const [id] = yield* leases.claim(1)
        if (id === undefined) return
        yield* Effect.logInfo("recovery: claimed an unfinished saga").pipe(Effect.annotateLogs("saga.id", id))
        yield* recoverOne(id)
      }
    })
    yield* Effect.all(Array.from({ length: workers }, () => worker), { concurrency: "unbounded", discard: true })
    return results
  }).pipe(Effect.withSpan("Recovery.runOnce"))

/** @internal */
export const run = <R>(registry: Step.StepRegistry<R>, options: RecoveryOptions = {}) =>
  Effect.gen(function*() {
    const admin = yield* Journal
    const retention = Duration.decode(options.retention ?? "7 days")
    const pass = Effect.gen(function*() {
      yield* runOnce(registry, options)
      const pruned = yield* admin.prune(retention, { failed: options.pruneFailed ?? false })
      if (pruned > 0) yield* Effect.logInfo(`recovery: pruned ${pruned} finished sagas older than the retention`)
    }).pipe(Effect.catchAllCause((cause) => Effect.logError("recovery pass failed", cause)))
    // at start (the layer is ready once the first pass is done), then continuously
    yield* pass
    yield* Effect.forkScoped(
      Effect.repeat(pass, Schedule.spaced(options.interval ?? "5 seconds")).pipe(
        Effect.delay(options.interval ?? "5 seconds")
      )
    )
  })
