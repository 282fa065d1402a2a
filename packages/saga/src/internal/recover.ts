import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Schema from "effect/Schema"
import type { JournalError } from "../SagaError.js"
import { RecoveryError } from "../SagaError.js"
import * as Journal from "../SagaJournal.js"
import type { RecoveryResult, SagaStatus } from "../SagaResult.js"
import type { StepRegistry } from "../Step.js"
import { makeLedger, undo } from "./engine.js"
import { causeMessage, isTransient } from "./errors.js"
import { defaultCompensationRetry } from "./step.js"

/**
 * What the journal of one saga says is left to undo.
 * @internal
 */
export interface CompensationPlan {
  readonly sagaId: string
  /** The end the journal records, if any: then there is nothing to do. */
  readonly ended: SagaStatus | undefined
  /** Completed, not yet compensated steps, in the order to undo them (reverse completion order). */
  readonly steps: ReadonlyArray<{ readonly stepId: string; readonly name: string; readonly result: unknown }>
  /** Steps whose last attempt has an intent and no outcome. */
  readonly inDoubt: ReadonlyArray<string>
}

/** @internal */
export const compensationPlan = (
  sagaId: string,
  entries: ReadonlyArray<Journal.JournalEntry>
): CompensationPlan => {
  const succeeded: Array<{ stepId: string; name: string; result: unknown }> = []
  const inFlight = new Set<string>()
  const compensated = new Set<string>()
  let ended: SagaStatus | undefined
  for (const entry of entries) {
    if (entry.sagaId !== sagaId) continue
    switch (entry._tag) {
      case "StepIntent":
        inFlight.add(entry.stepId)
        break
      case "StepFailed":
        inFlight.delete(entry.stepId)
        break
      case "StepSucceeded":
        inFlight.delete(entry.stepId)
        succeeded.push({ stepId: entry.stepId, name: entry.name, result: entry.result })
        break
      case "CompensationSucceeded":
        compensated.add(entry.stepId)
        break
      case "SagaEnded":
        ended = entry.status
        break
    }
  }
  return {
    sagaId,
    ended,
    steps: succeeded.filter((step) => !compensated.has(step.stepId)).reverse(),
    inDoubt: Array.from(inFlight)
  }
}

/** After a restart, compensations receive this cause: the saga was cut short. */
const restartCause: Cause.Cause<never> = Cause.interrupt(FiberId.none)

/** @internal */
export const recover: <R>(
  sagaId: string,
  registry: StepRegistry<R>
) => Effect.Effect<RecoveryResult, JournalError | RecoveryError, R | Journal.SagaJournal> = Effect.fn("Saga.recover")(
  function*<R>(sagaId: string, registry: StepRegistry<R>) {
    yield* Effect.annotateCurrentSpan("saga.id", sagaId)
    const journal = yield* Journal.SagaJournal
    const entries = yield* journal.entries(sagaId)
    if (entries.length === 0) return yield* new RecoveryError({ sagaId, reason: "the journal holds no entry for it" })
    const plan = compensationPlan(sagaId, entries)
    if (plan.ended !== undefined) {
      return {
        id: sagaId,
        status: plan.ended,
        alreadyFinished: true,
        compensatedSteps: [],
        pendingCompensations: [],
        inDoubt: []
      }
    }
    const ledger = makeLedger(sagaId, journal, true)
    for (const step of plan.steps) {
      const definition = registry.definitions.get(step.name)
      const compensation = definition === undefined
        ? Effect.fail(new RecoveryError({ sagaId, reason: `no step definition named "${step.name}" in the registry` }))
        : Effect.flatMap(
          Schema.decodeUnknown(definition.result)(step.result),
          (result) => definition.compensate(result, restartCause)
        )
      yield* undo(ledger, step.stepId, compensation, {
        retry: definition?.compensationRetry ?? defaultCompensationRetry,
        isTransient: definition?.isTransient ?? isTransient
      })
    }
    const status: SagaStatus = ledger.halted !== undefined || plan.inDoubt.length > 0 ? "failed" : "compensated"
    const error = ledger.halted !== undefined
      ? causeMessage(ledger.halted.cause)
      : plan.inDoubt.length > 0
      ? `steps in doubt (intent without outcome): ${plan.inDoubt.join(", ")}`
      : undefined
    const at = yield* Clock.currentTimeMillis
    yield* journal.append(
      Journal.SagaEnded.make({ sagaId, at, status, ...(error === undefined ? {} : { error }) })
    )
    yield* Effect.logInfo(`saga recovered: ${status}`)
    return {
      id: sagaId,
      status,
      alreadyFinished: false,
      compensatedSteps: ledger.compensated.slice(),
      pendingCompensations: ledger.pending.slice(),
      inDoubt: plan.inDoubt,
      ...(error === undefined ? {} : { error })
    } satisfies RecoveryResult
  },
  (effect, sagaId) => Effect.annotateLogs(effect, { "saga.id": sagaId })
)

/** @internal */
export const recoverAll = <R>(
  registry: StepRegistry<R>
): Effect.Effect<ReadonlyArray<RecoveryResult>, JournalError | RecoveryError, R | Journal.SagaJournal> =>
  Effect.flatMap(Journal.SagaJournal, (journal) => journal.unfinished).pipe(
    Effect.flatMap((ids) => Effect.forEach(ids, (id) => recover(id, registry))),
    Effect.withSpan("Saga.recoverAll")
  )
