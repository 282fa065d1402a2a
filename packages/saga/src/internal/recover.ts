import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { JournalError } from "../SagaError.js"
import { RecoveryError } from "../SagaError.js"
import * as Journal from "../SagaJournal.js"
import type { RecoveryResult, SagaStatus } from "../SagaResult.js"
import type { StepDefinition, StepRegistry } from "../Step.js"
import { bounded, makeLedger, resolveRetried, undo } from "./engine.js"
import { causeMessage, isTransient } from "./errors.js"
import { defaultCompensationRetry } from "./step.js"

/**
 * A step whose last attempt has an intent and no outcome.
 * @internal
 */
export interface Doubt {
  readonly stepId: string
  readonly name: string
  readonly attempt: number
  /** The journaled input (encoded), if the step had one. */
  readonly input: unknown
  readonly hasInput: boolean
}

/**
 * What the journal of one saga says is left to undo.
 * @internal
 */
export interface CompensationPlan {
  readonly sagaId: string
  /** The end the journal records (none when reopened after it): then there is nothing to do. */
  readonly ended: SagaStatus | undefined
  /** Completed, not yet compensated steps, in the order to undo them (reverse completion order). */
  readonly steps: ReadonlyArray<{ readonly stepId: string; readonly name: string; readonly result: unknown }>
  /** Steps whose last attempt has an intent and no outcome. */
  readonly inDoubt: ReadonlyArray<string>
  /** The intents of the steps in doubt, in intent order. */
  readonly doubts: ReadonlyArray<Doubt>
  /**
   * Steps journaled by the saga's plan whose journal holds nothing of them (no outcome): whether they applied is
   * asked of their store's barrier (`resolve`, with the planned input), which fences those that did not.
   */
  readonly planned: ReadonlyArray<Doubt>
  /** The step ids of the saga's plan, in plan order (compensation walks it backwards); none without a plan. */
  readonly order: ReadonlyArray<string> | undefined
  /** The step ids the saga declared when it started, if it did. */
  readonly declared: ReadonlyArray<string> | undefined
  /** Steps with a journaled success, in completion order. */
  readonly succeeded: ReadonlyArray<string>
  /** Whether the saga had started undoing itself (a compensation was journaled). */
  readonly undoing: boolean
  /** Whether a person marked the (failed) saga resolved by hand since its last end. */
  readonly resolved: boolean
}

/** @internal */
export const compensationPlan = (
  sagaId: string,
  entries: ReadonlyArray<Journal.JournalEntry>
): CompensationPlan => {
  const succeeded: Array<{ stepId: string; name: string; result: unknown }> = []
  const inFlight = new Map<string, Doubt>()
  const compensated = new Set<string>()
  let ended: SagaStatus | undefined
  let declared: ReadonlyArray<string> | undefined
  let plan: ReadonlyArray<Journal.PlannedStep> | undefined
  /** Steps the journal holds an intent or an outcome of. */
  const seen = new Set<string>()
  let undoing = false
  let resolved = false
  for (const entry of entries) {
    if (entry.sagaId !== sagaId) continue
    switch (entry._tag) {
      case "SagaStarted":
        declared = entry.steps
        plan = entry.plan
        break
      case "StepIntent":
        seen.add(entry.stepId)
        inFlight.delete(entry.stepId)
        inFlight.set(entry.stepId, {
          stepId: entry.stepId,
          name: entry.name,
          attempt: entry.attempt,
          input: entry.input,
          hasInput: "input" in entry
        })
        break
      case "StepFailed":
        seen.add(entry.stepId)
        inFlight.delete(entry.stepId)
        break
      case "StepSucceeded":
        seen.add(entry.stepId)
        inFlight.delete(entry.stepId)
        succeeded.push({ stepId: entry.stepId, name: entry.name, result: entry.result })
        break
      case "CompensationIntent":
        undoing = true
        break
      case "CompensationSucceeded":
        compensated.add(entry.stepId)
        break
      case "SagaEnded":
        ended = entry.status
        break
      case "SagaReopened":
        ended = undefined
        resolved = false
        break
      case "SagaResolved":
        resolved = true
        break
    }
  }
  const doubts = Array.from(inFlight.values())
  return {
    sagaId,
    ended,
    steps: succeeded.filter((step) => !compensated.has(step.stepId)).reverse(),
    inDoubt: doubts.map((doubt) => doubt.stepId),
    doubts,
    planned: (plan ?? []).flatMap((step): Array<Doubt> =>
      "input" in step && !seen.has(step.stepId)
        ? [{ stepId: step.stepId, name: step.name, attempt: 0, input: step.input, hasInput: true }]
        : []
    ),
    order: plan?.map((step) => step.stepId),
    declared,
    succeeded: succeeded.map((step) => step.stepId),
    undoing,
    resolved
  }
}

/** After a restart, compensations receive this cause: the saga was cut short. */
const restartCause: Cause.Cause<never> = Cause.interrupt(FiberId.none)

const retryPolicy = (definition: StepDefinition<any, any, any> | undefined) => ({
  retry: definition?.compensationRetry ?? defaultCompensationRetry,
  isTransient: definition?.isTransient ?? isTransient
})

/**
 * Ask an in-doubt step's definition whether it applied: `Some(value)` (decoded, ready to compensate) or `None`.
 * Retried like a compensation, the whole of it within {@link bounded}: a resolver that hangs (one that does not bound
 * itself, on a store that does not answer) fails with a transient `StepTimeout` — the saga is left for a later pass —
 * instead of holding the recovery runner, and every saga it has yet to recover, for as long as the store hangs.
 */
const resolveDoubt = <R>(sagaId: string, doubt: Doubt, definition: StepDefinition<any, any, R>) =>
  Effect.gen(function*() {
    const input = definition.input === undefined ? undefined : doubt.hasInput
      ? yield* Schema.decodeUnknown(definition.input)(doubt.input)
      : yield* Effect.fail(new Error("the intent carries no input (the step was made without one)"))
    return yield* bounded(
      sagaId,
      doubt.stepId,
      resolveRetried(
        Effect.suspend(() => definition.resolve!(input, { sagaId, stepId: doubt.stepId })),
        retryPolicy(definition)
      )
    )
  }).pipe(
    Effect.withSpan("Saga.resolve", { attributes: { "saga.id": sagaId, "step.id": doubt.stepId } })
  ) as Effect.Effect<Option.Option<unknown>, unknown, R>

/**
 * Drive an unfinished saga to its end from its journal entries: resolve the steps in doubt through their
 * definitions, then end it `completed` (every declared step done) or undo what was done.
 */
const drive = <R>(
  journal: Journal.SagaJournal.Service,
  sagaId: string,
  registry: StepRegistry<R>,
  plan: CompensationPlan
): Effect.Effect<RecoveryResult, JournalError | RecoveryError, R> =>
  Effect.gen(function*() {
    const applied: Array<{
      readonly stepId: string
      readonly compensation: Effect.Effect<unknown, unknown, R>
      readonly definition: StepDefinition<any, any, R>
    }> = []
    const resolvedSteps: Array<{ readonly stepId: string; readonly applied: boolean }> = []
    const unresolved: Array<string> = []
    const problems: Array<string> = []
    /** A store could not be reached: the saga is left unfinished for a later pass rather than ended `failed`. */
    const unreachable: Array<string> = []
    for (const doubt of [...plan.doubts, ...plan.planned]) {
      const definition = registry.definitions.get(doubt.name)
      if (definition?.resolve === undefined) {
        unresolved.push(doubt.stepId)
        continue
      }
      const exit = yield* Effect.exit(resolveDoubt(sagaId, doubt, definition))
      const { stepId } = doubt
      const outcome = { sagaId, stepId, name: doubt.name, attempt: doubt.attempt, resolved: true as const }
      const at = yield* Clock.currentTimeMillis
      if (Exit.isFailure(exit)) {
        const error = causeMessage(exit.cause)
        const transient = retryPolicy(definition).isTransient
        if (Option.exists(Cause.failureOption(exit.cause), (e) => transient(e) || isTransient(e))) {
          unreachable.push(`step ${stepId} could not be resolved: ${error}`)
          yield* Effect.logWarning("an in-doubt step could not be resolved yet: its store is unreachable", error)
          continue
        }
        unresolved.push(stepId)
        problems.push(`step ${stepId} could not be resolved: ${error}`)
        yield* Effect.logError("an in-doubt step could not be resolved", error)
      } else if (Option.isSome(exit.value)) {
        const value = exit.value.value
        const result = yield* Effect.either(Schema.encodeUnknown(definition.result)(value))
        yield* journal.append(Journal.StepSucceeded.make({
          ...outcome,
          at,
          ...(result._tag === "Right" ? { result: result.right } : {})
        }))
        applied.unshift({ stepId, compensation: definition.compensate(value, restartCause), definition })
        resolvedSteps.push({ stepId, applied: true })
      } else {
        const error = "not applied (resolved after the saga was cut short)"
        yield* journal.append(Journal.StepFailed.make({ ...outcome, at, error }))
        resolvedSteps.push({ stepId, applied: false })
      }
    }

    if (unreachable.length > 0) {
      // nothing is undone before every doubt is settled: the saga stays unfinished, a later pass retries it
      return yield* new RecoveryError({ sagaId, reason: `${unreachable.join("; ")} (left for a later pass)` })
    }
    const done = new Set([...plan.succeeded, ...applied.map((step) => step.stepId)])
    const completed = plan.declared !== undefined && !plan.undoing && unresolved.length === 0 &&
      plan.declared.every((id) => done.has(id))
    const ledger = makeLedger(sagaId, journal, true)
    if (!completed) {
      const journaled = plan.steps.map((step) => {
        const definition = registry.definitions.get(step.name)
        const compensation = definition === undefined
          ? Effect.fail(
            new RecoveryError({ sagaId, reason: `no step definition named "${step.name}" in the registry` })
          )
          : Effect.flatMap(
            Schema.decodeUnknown(definition.result)(step.result),
            (result) => definition.compensate(result, restartCause)
          )
        return { stepId: step.stepId, compensation, definition }
      })
      const toUndo = [...applied, ...journaled]
      if (plan.order !== undefined) {
        // reverse plan order (a dependency order); a step outside the plan first
        const position = new Map(plan.order.map((id, i) => [id, i]))
        const at = (stepId: string) => position.get(stepId) ?? Number.MAX_SAFE_INTEGER
        toUndo.sort((a, b) => at(b.stepId) - at(a.stepId))
      }
      for (const step of toUndo) {
        yield* undo(ledger, step.stepId, step.compensation, retryPolicy(step.definition))
      }
    }
    if (ledger.halted?.transient === true) {
      // a store could not be reached: what was undone is journaled, the rest is retried on a later pass
      return yield* new RecoveryError({
        sagaId,
        reason: `the compensation of ${ledger.halted.stepId} could not reach its store: ${
          causeMessage(ledger.halted.cause)
        } (left for a later pass)`
      })
    }
    const status: SagaStatus = completed
      ? "completed"
      : ledger.halted !== undefined || unresolved.length > 0
      ? "failed"
      : "compensated"
    const reasons = [
      ...(ledger.halted === undefined ? [] : [causeMessage(ledger.halted.cause)]),
      ...(unresolved.length === 0 ? [] : [`steps in doubt (intent without outcome): ${unresolved.join(", ")}`]),
      ...problems
    ]
    const error = reasons.length === 0 ? undefined : reasons.join("; ")
    const at = yield* Clock.currentTimeMillis
    yield* journal.append(Journal.SagaEnded.make({ sagaId, at, status, ...(error === undefined ? {} : { error }) }))
    yield* (status === "failed" ? Effect.logError : Effect.logInfo)(`saga recovered: ${status}`)
    return {
      id: sagaId,
      status,
      alreadyFinished: false,
      compensatedSteps: ledger.compensated.slice(),
      pendingCompensations: ledger.pending.slice(),
      inDoubt: unresolved,
      resolvedSteps,
      ...(error === undefined ? {} : { error })
    } satisfies RecoveryResult
  })

const readPlan = (journal: Journal.SagaJournal.Service, sagaId: string) =>
  Effect.flatMap(journal.entries(sagaId), (entries) =>
    entries.length === 0
      ? Effect.fail(new RecoveryError({ sagaId, reason: "the journal holds no entry for it" }))
      : Effect.succeed(compensationPlan(sagaId, entries)))

/** @internal */
export const recover: <R>(
  sagaId: string,
  registry: StepRegistry<R>
) => Effect.Effect<RecoveryResult, JournalError | RecoveryError, R | Journal.SagaJournal> = Effect.fn("Saga.recover")(
  function*<R>(sagaId: string, registry: StepRegistry<R>) {
    yield* Effect.annotateCurrentSpan("saga.id", sagaId)
    const journal = yield* Journal.SagaJournal
    const plan = yield* readPlan(journal, sagaId)
    if (plan.ended !== undefined) {
      return {
        id: sagaId,
        status: plan.ended,
        alreadyFinished: true,
        compensatedSteps: [],
        pendingCompensations: [],
        inDoubt: [],
        resolvedSteps: []
      } satisfies RecoveryResult
    }
    return yield* drive(journal, sagaId, registry, plan)
  },
  (effect, sagaId) => Effect.annotateLogs(effect, { "saga.id": sagaId })
)

/** @internal */
export const retryCompensation: <R>(
  sagaId: string,
  registry: StepRegistry<R>
) => Effect.Effect<RecoveryResult, JournalError | RecoveryError, R | Journal.SagaJournal> = Effect.fn(
  "Saga.retryCompensation"
)(
  function*<R>(sagaId: string, registry: StepRegistry<R>) {
    yield* Effect.annotateCurrentSpan("saga.id", sagaId)
    const journal = yield* Journal.SagaJournal
    const before = yield* readPlan(journal, sagaId)
    if (before.ended !== "failed") {
      return yield* new RecoveryError({
        sagaId,
        reason: before.ended === undefined
          ? "it is unfinished, not failed (recovery drives it to an end)"
          : `it is not failed: it ended ${before.ended}`
      })
    }
    if (before.resolved) {
      return yield* new RecoveryError({ sagaId, reason: "it was resolved by hand: its compensation is not retried" })
    }
    const reason = "retry of its compensation"
    if (journal.leases !== undefined) {
      if (!(yield* journal.leases.reopen(sagaId, reason))) {
        return yield* new RecoveryError({ sagaId, reason: "it is no longer failed (it was reopened meanwhile)" })
      }
    } else {
      const at = yield* Clock.currentTimeMillis
      yield* journal.append(Journal.SagaReopened.make({ sagaId, at, reason }))
    }
    yield* Effect.logInfo("retrying the compensation of a failed saga")
    return yield* drive(journal, sagaId, registry, yield* readPlan(journal, sagaId))
  },
  (effect, sagaId) => Effect.annotateLogs(effect, { "saga.id": sagaId })
)

/** @internal */
export const recoverAll = <R>(
  registry: StepRegistry<R>
): Effect.Effect<ReadonlyArray<RecoveryResult>, JournalError | RecoveryError, R | Journal.SagaJournal> =>
  Effect.flatMap(
    Journal.SagaJournal,
    (journal) => journal.leases === undefined ? journal.unfinished : journal.leases.claim(10_000)
  ).pipe(
    Effect.flatMap((ids) => Effect.forEach(ids, (id) => recover(id, registry))),
    Effect.withSpan("Saga.recoverAll")
  )
