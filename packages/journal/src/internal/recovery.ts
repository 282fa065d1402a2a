import { type RecoveryResult, Saga, SagaError, SagaJournal, SagaMetrics, type Step } from "@polysaga/saga"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
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
 * Claim expired sagas in batches until none is left, and drive each to an end. A saga whose recovery failed
 * (journal or registry trouble) is released, so that it is retried (here or elsewhere) on a later pass.
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
    const batch = options.batch ?? 20
    const results: Array<RecoveryResult> = []
    while (true) {
      const ids = yield* leases.claim(batch)
      if (ids.length > 0) yield* Effect.logInfo(`recovery: claimed ${ids.length} unfinished sagas`)
      const recovered = yield* Effect.forEach(ids, (id) =>
        Saga.recover(id, registry).pipe(
          Effect.tap((result) => Metric.increment(Metric.tagged(SagaMetrics.recoveries, "status", result.status))),
          Effect.map(Option.some),
          Effect.catchAll((error) =>
            Effect.logError("recovery of a saga failed; it is released for a later pass", error.message).pipe(
              Effect.zipRight(Metric.increment(Metric.tagged(SagaMetrics.recoveries, "status", "error"))),
              Effect.zipRight(Effect.ignore(leases.release(id))),
              Effect.as(Option.none<RecoveryResult>())
            )
          ),
          Effect.annotateLogs("saga.id", id)
        ), { concurrency: options.concurrency ?? 4 })
      for (const result of recovered) if (Option.isSome(result)) results.push(result.value)
      if (ids.length < batch) return results
    }
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
