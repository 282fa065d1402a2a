import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import type { ExecuteOptions, PlannedStep } from "../Saga.js"
import {
  CompensationFailed,
  type JournalError,
  SagaDefinitionError,
  type SagaError,
  SagaIdTaken,
  SagaTimeout,
  type StepError,
  StepFailed,
  StepTimeout
} from "../SagaError.js"
import * as Journal from "../SagaJournal.js"
import type { SagaResult, SagaStatus, StepRecord, StepStatus } from "../SagaResult.js"
import type { Step } from "../Step.js"
import { causeMessage, isTransient } from "./errors.js"

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/**
 * The book-keeping of one saga run, shared by the saga and its nested sagas (and used alone by recovery).
 * @internal
 */
export interface Ledger {
  readonly sagaId: string
  readonly journal: Journal.SagaJournal.Service
  /**
   * Is there a journal (not `SagaJournal.noop`)? Without one, no entry is built nor encoded: nothing would hold it.
   */
  readonly journaling: boolean
  readonly compensateOnTimeout: boolean
  /** In start order. */
  readonly records: Map<string, Mutable<StepRecord>>
  /** In completion order. */
  readonly completed: Array<string>
  /** In undo order. */
  readonly compensated: Array<string>
  /** Left undone after a compensation failed. */
  readonly pending: Array<string>
  /** Steps that failed in doubt and whose `resolve` could not tell whether they applied. */
  readonly unresolved: Array<string>
  /**
   * The compensation that failed, after which nothing more is undone. `transient`: its store could not be reached (a
   * transient error, or no answer within {@link cleanupBound}) — the saga is left to recovery, which retries it; else
   * (a conflict) it ends `failed`, for a person.
   */
  halted: { readonly stepId: string; readonly cause: Cause.Cause<unknown>; readonly transient: boolean } | undefined
  /** The journal already held a saga with this id (`SagaIdTaken`): nothing of this run acted or is journaled. */
  idTaken: boolean
  /**
   * The saga's body has ended. A step whose fiber starts now is refused before it acts: a concurrent group's child
   * forked just before a sibling failed can start after the group was interrupted (Effect's `all` does not wait for a
   * child that had not started), and would act after the saga's outcome was decided, never undone.
   */
  closed: boolean
  /**
   * The saga's plan (`ExecuteOptions.plan`), with a journal: its step ids, `true` for a step journaled by the plan
   * (its input is in `SagaStarted`, its store's barrier answers for it: it writes no intent).
   */
  readonly plan: ReadonlyMap<string, boolean> | undefined
  /** A compensation intent was journaled: recovery knows the saga was undoing itself. */
  undoing: boolean
  lastFailure: { readonly stepId: string; readonly cause: Cause.Cause<unknown> } | undefined
  timedOut: boolean
  /**
   * The steps whose fiber has started and not finished, each with the latch it opens when it has (its outcome handled:
   * journaled, its undo registered). A body's end waits for them: Effect's `all` with a concurrency bound returns on a
   * child's failure before its other running children have finished being interrupted, and a step that completes then
   * (a write that cannot be cut off) would otherwise act after the saga's outcome was decided, never undone.
   */
  readonly running: Set<{ readonly stepId: string; readonly done: Deferred.Deferred<void> }>
}

/** @internal */
export const makeLedger = (
  sagaId: string,
  journal: Journal.SagaJournal.Service,
  compensateOnTimeout: boolean,
  plan?: ReadonlyMap<string, boolean>
): Ledger => ({
  sagaId,
  journal,
  journaling: journal !== Journal.noop,
  compensateOnTimeout,
  records: new Map(),
  completed: [],
  compensated: [],
  pending: [],
  unresolved: [],
  halted: undefined,
  idTaken: false,
  closed: false,
  plan: journal === Journal.noop ? undefined : plan,
  undoing: false,
  lastFailure: undefined,
  timedOut: false,
  running: new Set()
})

/** Notes a journal that refused the saga's start because it holds the id (the error goes on as it is). */
const noteIdTaken = (ledger: Ledger) => (error: JournalError | SagaDefinitionError) =>
  Effect.sync(() => {
    if (error._tag === "JournalError" && error.cause instanceof SagaIdTaken) ledger.idTaken = true
  })

/**
 * What a step needs from the saga it runs in.
 * @internal
 */
export interface Runtime {
  readonly ledger: Ledger
  /** Prefix of step ids: `""` at the top, `"child/"` inside a nested saga named `child`. */
  readonly prefix: string
  /** Where completed steps register their compensation. */
  readonly scope: Scope.Scope
}

/**
 * The level of the line a saga logs when it ends `completed` or `compensated`.
 * @internal
 */
export class EndLogLevel extends Context.Reference<EndLogLevel>()("@polysaga/saga/EndLogLevel", {
  defaultValue: (): LogLevel.LogLevel => LogLevel.Debug
}) {}

/** @internal */
export class SagaContext extends Context.Tag("@polysaga/saga/SagaContext")<SagaContext, Runtime>() {}

/**
 * The engine's spans carry no stack trace: the call site of an internal span is always the same line of this file,
 * and capturing it costs an `Error` per span (three per step).
 * @internal
 */
export const captureStackTrace = false

/**
 * Append to the journal where a failure to do so cannot change the outcome any more: log it loudly.
 * @internal
 */
const appendOrLog = (ledger: Ledger, entry: () => Journal.JournalEntry) =>
  ledger.journaling
    ? Effect.suspend(() => ledger.journal.append(entry())).pipe(
      Effect.catchAll((error) => Effect.logError("saga journal append failed", error.message))
    )
    : Effect.void

/** Appends the entry `entry` builds at the current time, when the saga has a journal. */
const append = (ledger: Ledger, entry: (at: number) => Journal.JournalEntry) =>
  ledger.journaling
    ? Effect.flatMap(Clock.currentTimeMillis, (at) => ledger.journal.append(entry(at)))
    : Effect.void

const setStatus = (ledger: Ledger, stepId: string, status: StepStatus, error?: string) => {
  const record = ledger.records.get(stepId)
  if (record === undefined) return
  record.status = status
  if (error !== undefined) record.compensationError = error
}

/**
 * How long a saga waits for one compensation (its retries included) on a store. Past it the call goes on in the
 * background, to its own bound, and the compensation counts as failed — the saga ends `failed` with the step
 * listed, for a person or a retry (undo records are idempotent) — instead of holding the saga's answer while a
 * store hangs.
 * @internal
 */
export const cleanupBound: Duration.Duration = Duration.seconds(10)

/**
 * `effect`, waited for at most {@link cleanupBound}, then failed with a `StepTimeout` and interrupted in the
 * background. It runs in a fiber of its own and the caller only awaits its result or the bound, whichever comes
 * first: so the bound holds where the caller cannot be interrupted (a compensation runs in a scope's finalizer) and
 * when the effect itself cannot be (a driver's cleanup) — without making either interruptible.
 * @internal
 */
export const bounded = <A, E, R>(
  sagaId: string,
  stepId: string,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | StepTimeout, R> =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<A, E | StepTimeout>()
    const work = yield* Effect.forkDaemon(Effect.intoDeferred(effect, done))
    // interruptible even when forked from a finalizer (a fiber inherits its parent's uninterruptible region): else
    // interrupting it waits out the whole bound, and a process holds a live timer for 10 s after every compensation
    const timer = yield* Effect.forkDaemon(
      Effect.sleep(cleanupBound).pipe(
        Effect.zipRight(Deferred.fail(done, new StepTimeout({ sagaId, stepId, timeout: cleanupBound }))),
        Effect.interruptible
      )
    )
    return yield* Deferred.await(done).pipe(
      Effect.ensuring(Effect.zipRight(Fiber.interruptFork(timer), Fiber.interruptFork(work)))
    )
  })

/**
 * Undo one step, unless an earlier compensation failed: then it is only listed as pending.
 * The compensation is retried (transient errors) on its own schedule, within {@link cleanupBound}; journaled, traced.
 * Used by running sagas (as a scope finalizer) and by recovery.
 * @internal
 */
export const undo = <R>(
  ledger: Ledger,
  stepId: string,
  compensation: Effect.Effect<unknown, unknown, R>,
  policy: { readonly retry: Schedule.Schedule<unknown, unknown>; readonly isTransient: (error: unknown) => boolean }
): Effect.Effect<void, never, R> =>
  Effect.gen(function*() {
    if (ledger.halted !== undefined) {
      ledger.pending.push(stepId)
      return
    }
    const sagaId = ledger.sagaId
    const intent = ledger.plan?.get(stepId) === true && (ledger.undoing || !mayComplete(ledger))
      ? Effect.void
      : append(ledger, (at) => Journal.CompensationIntent.make({ sagaId, stepId, at })).pipe(
        Effect.tap(() => void (ledger.undoing = true))
      )
    const exit = yield* intent.pipe(
      Effect.zipRight(
        bounded(sagaId, stepId, Effect.retry(compensation, { schedule: policy.retry, while: policy.isTransient }))
      ),
      Effect.exit,
      Effect.withSpan("Saga.compensate", { attributes: { "saga.id": sagaId, "step.id": stepId }, captureStackTrace })
    )
    const at = yield* Clock.currentTimeMillis
    if (Exit.isSuccess(exit)) {
      ledger.compensated.push(stepId)
      setStatus(ledger, stepId, "compensated")
      yield* Effect.logDebug("step compensated")
      yield* appendOrLog(ledger, () => Journal.CompensationSucceeded.make({ sagaId, stepId, at }))
    } else {
      const error = causeMessage(exit.cause)
      const transient = Option.exists(Cause.failureOption(exit.cause), (e) => policy.isTransient(e) || isTransient(e))
      ledger.halted = { stepId, cause: exit.cause, transient }
      ledger.pending.push(stepId)
      setStatus(ledger, stepId, "compensationFailed", error)
      yield* (transient
        ? Effect.logWarning(
          "compensation failed: its store is unreachable, the saga stops undoing and is left to recovery",
          error
        )
        : Effect.logError("compensation failed: the saga stops undoing and is left for a person", error))
      yield* appendOrLog(ledger, () => Journal.CompensationFailed.make({ sagaId, stepId, at, error }))
    }
    // saga.id is annotated once per saga, by `execute` and by recovery
  }).pipe(Effect.annotateLogs("step.id", stepId))

/**
 * Could recovery still find every step of the saga's plan applied (and end it `completed`)? Then the first
 * compensation of a step journaled by the plan journals its intent (recovery must know the saga was undoing); once
 * the body ended with a planned step that never started or that failed without doubt (its barrier answers "not
 * applied" and fences it), it cannot, and the plan's compensations journal no intent.
 */
const mayComplete = (ledger: Ledger): boolean =>
  !ledger.closed || Array.from(ledger.plan?.keys() ?? []).every((id) => {
    const record = ledger.records.get(id)
    return record !== undefined && (record.status !== "failed" || ledger.unresolved.includes(id))
  })

/**
 * The exit a scope of completed steps is closed with: a failure undoes them, success keeps them. A timeout with
 * `compensateOnTimeout: false` keeps them.
 */
const closeExit = (ledger: Ledger, exit: Exit.Exit<unknown, unknown>): Exit.Exit<unknown, unknown> =>
  Exit.isFailure(exit) && ledger.timedOut && !ledger.compensateOnTimeout ? Exit.void : exit

/**
 * Is a failed resolution of an in-doubt step tried again (on the compensation's schedule)? A transient error, but not
 * a resolver that timed out (it bounds itself, as the warehouse's does: trying again would multiply the wait on a
 * store that hangs); it stays transient for recovery, which leaves the saga for a later pass.
 * @internal
 */
export const retriesResolution = (error: unknown, transient: (error: unknown) => boolean): boolean =>
  (transient(error) || isTransient(error)) && !(error instanceof StepTimeout)

/**
 * Asks a step's `resolve` whether it applied, tried again on the compensation's schedule while it fails with a
 * transient error ({@link retriesResolution}) — and only while the first attempt began less than {@link cleanupBound}
 * ago. A store whose transient errors take about the bound to arrive (a driver's server selection or connection
 * timeout, as long as the bound) would otherwise hold the saga's answer, or the recovery runner, one bound per attempt
 * (six attempts: a minute, and a saga in doubt that long per pass of recovery). Past it the step stays unresolved, for
 * a later pass of recovery.
 * @internal
 */
export const resolveRetried = <A, E, R>(
  resolve: Effect.Effect<A, E, R>,
  policy: { readonly retry: Schedule.Schedule<unknown, unknown>; readonly isTransient: (error: unknown) => boolean }
): Effect.Effect<A, E, R> =>
  Effect.flatMap(Clock.currentTimeMillis, (began) =>
    Effect.retry(resolve, {
      schedule: policy.retry,
      while: (error) =>
        retriesResolution(error, policy.isTransient)
          ? Effect.map(Clock.currentTimeMillis, (now) => now - began < Duration.toMillis(cleanupBound))
          : Effect.succeed(false)
    }))

/**
 * Did this failure leave the step in doubt (it may have applied)? Only asked of steps that can `resolve`. An
 * interruption mid-action (a saga timeout) counts: the request may have reached the store.
 */
const inDoubt = (step: Step<any, any, any>, cause: Cause.Cause<unknown>): boolean =>
  step.resolve !== undefined &&
  (Cause.isInterruptedOnly(cause) || Option.exists(Cause.failureOption(cause), step.isInDoubt))

/**
 * Why `value` is not of `schema`'s type, or `undefined` when it is: a step's input or result checked where no journal
 * encodes it (the type is tested first; the message is only built for a value that fails).
 */
const misfit = (schema: Schema.Schema<any, any>, value: unknown): string | undefined =>
  guard(schema)(value) ? undefined : Either.match(Schema.validateEither(schema)(value), {
    onLeft: (error) => error.message,
    onRight: () => undefined
  })

/** `Schema.is`, made once per Schema (making it compiles the Schema). */
const guards = new WeakMap<Schema.Schema<any, any>, (u: unknown) => boolean>()
const guard = (schema: Schema.Schema<any, any>): (u: unknown) => boolean => {
  let is = guards.get(schema)
  if (is === undefined) {
    is = Schema.is(schema)
    guards.set(schema, is)
  }
  return is
}

/** Waits for the running steps whose id starts with `prefix` (see {@link Ledger.running}). */
const awaitRunning = (ledger: Ledger, prefix: string) =>
  Effect.forEach(
    Array.from(ledger.running).filter((step) => step.stepId.startsWith(prefix)),
    (step) => Deferred.await(step.done),
    { discard: true }
  )

/**
 * Runs a step's fiber as one of {@link Ledger.running} until it has finished (registered and let go uninterruptibly,
 * so no interruption leaves a latch that never opens). A step that starts after the saga's body ended is refused by
 * the step itself.
 */
const tracked = (ledger: Ledger, stepId: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      if (ledger.closed) return restore(effect)
      const running = { stepId, done: Deferred.unsafeMake<void>(FiberId.none) }
      ledger.running.add(running)
      return Effect.ensuring(
        restore(effect),
        Effect.suspend(() => {
          ledger.running.delete(running)
          return Deferred.succeed(running.done, undefined)
        })
      )
    })
  )

/** @internal */
export const runStep = <A, E, R>(
  step: Step<A, E, R>
): Effect.Effect<A, E | StepError, R | SagaContext> =>
  Effect.flatMap(SagaContext, ({ ledger, prefix, scope }) => {
    const { sagaId } = ledger
    const stepId = prefix + step.id
    const name = step.name
    return Effect.gen(function*() {
      if (ledger.closed) return yield* Effect.interrupt
      if (ledger.records.has(stepId)) {
        return yield* new SagaDefinitionError({
          sagaId,
          stepId,
          reason:
            `duplicate step id "${stepId}": step ids must be unique within a saga, give the step an explicit \`id\``
        })
      }
      // journaled by the saga's plan: no intent, its store's barrier answers for it
      const planned = ledger.plan?.get(stepId) === true
      if (planned && step.resolve === undefined) {
        return yield* new SagaDefinitionError({
          sagaId,
          stepId,
          reason:
            `step "${stepId}" is journaled by the saga's plan (given with its input) but has no \`resolve\`: recovery could not tell whether it applied`
        })
      }
      const startedAt = yield* Clock.currentTimeMillis
      const record: Mutable<StepRecord> = { id: stepId, name, status: "running", attempts: 0, startedAt }
      const since = planned ? { startedAt } : {}
      if (step.input !== undefined && !ledger.journaling) {
        // no journal encodes it: the input is checked against its Schema all the same
        const error = misfit(step.input.schema, step.input.value)
        if (error !== undefined) {
          return yield* new SagaDefinitionError({
            sagaId,
            stepId,
            reason: `the input does not fit the step's input Schema: ${error}`
          })
        }
      }
      const input = step.input === undefined || !ledger.journaling || planned ? {} : {
        input: yield* Schema.encodeUnknown(step.input.schema)(step.input.value).pipe(
          Effect.mapError((error) =>
            new SagaDefinitionError({
              sagaId,
              stepId,
              reason: `the input does not encode with the step's input Schema: ${error.message}`
            })
          ),
          Effect.tapError((error) =>
            Effect.sync(() => {
              record.status = "failed"
              record.error = error.message
            })
          )
        )
      }
      ledger.records.set(stepId, record)
      yield* Effect.logDebug("step started")

      const timed = step.timeout === undefined ? step.action : Effect.timeoutFail(step.action, {
        duration: step.timeout,
        onTimeout: () => new StepTimeout({ sagaId, stepId, timeout: step.timeout! })
      })
      const attempt = Effect.suspend(() => {
        const n = ++record.attempts
        const entry = { sagaId, stepId, name, attempt: n }
        const intent = planned
          ? Effect.void
          : append(ledger, (at) => Journal.StepIntent.make({ ...entry, at, ...input })).pipe(
            Effect.tapError(noteIdTaken(ledger))
          )
        return intent.pipe(
          Effect.zipRight(timed),
          Effect.onExit((exit) =>
            // an in-doubt attempt keeps its intent open until it is resolved (recovery resolves it after a crash); a
            // saga whose id the journal holds journals nothing; a step of the plan journals its failure once, at the
            // end of its attempts
            planned || Exit.isSuccess(exit) || inDoubt(step, exit.cause) || ledger.idTaken ?
              Effect.void :
              Clock.currentTimeMillis.pipe(
                Effect.flatMap((at) =>
                  appendOrLog(ledger, () => Journal.StepFailed.make({ ...entry, at, error: causeMessage(exit.cause) }))
                )
              )
          ),
          Effect.withSpan("Saga.step.attempt", {
            attributes: { "saga.id": sagaId, "step.id": stepId, "step.name": name, "step.attempt": n },
            captureStackTrace
          })
        )
      })
      const retried = step.retry === undefined ? attempt : Effect.retry(attempt, {
        schedule: step.retry,
        while: (error) => !ledger.idTaken && step.isTransient(error)
      })

      const onFailure = (cause: Cause.Cause<unknown>) =>
        Effect.gen(function*() {
          const at = yield* Clock.currentTimeMillis
          record.status = "failed"
          record.error = causeMessage(cause)
          record.duration = at - startedAt
          ledger.lastFailure = { stepId, cause }
          yield* Effect.annotateCurrentSpan({ "step.outcome": "failed", "step.attempts": record.attempts })
          yield* Effect.logWarning("step failed", record.error)
        })

      /** The failure of a step of the plan, journaled once (a durable journal keeps it for the saga's next entry). */
      const plannedFailed = (cause: Cause.Cause<unknown>) =>
        Effect.zipRight(
          onFailure(cause),
          planned && !ledger.idTaken
            ? Effect.flatMap(Clock.currentTimeMillis, (at) =>
              appendOrLog(ledger, () =>
                Journal.StepFailed.make({
                  sagaId,
                  stepId,
                  name,
                  attempt: record.attempts,
                  at,
                  error: record.error!,
                  startedAt
                })))
            : Effect.void
        )

      const onSuccess = (value: A) =>
        Effect.gen(function*() {
          const at = yield* Clock.currentTimeMillis
          record.status = "completed"
          record.result = value
          record.duration = at - startedAt
          yield* Effect.annotateCurrentSpan({ "step.outcome": "completed", "step.attempts": record.attempts })
          yield* Effect.logDebug("step completed")
          if (!ledger.journaling) {
            // no journal encodes it: the result is checked against its Schema all the same
            const error = step.result === undefined ? undefined : misfit(step.result, value)
            if (error === undefined) return
            return yield* new SagaDefinitionError({
              sagaId,
              stepId,
              reason: `the result does not fit the step's result Schema: ${error}`
            })
          }
          const encoded = step.result === undefined ? {} : {
            result: yield* Schema.encodeUnknown(step.result)(value).pipe(
              Effect.mapError((error) =>
                new SagaDefinitionError({
                  sagaId,
                  stepId,
                  reason: `the result does not encode with the step's result Schema: ${error.message}`
                })
              )
            )
          }
          yield* ledger.journal.append(
            Journal.StepSucceeded.make({ sagaId, stepId, name, attempt: record.attempts, at, ...encoded, ...since })
          )
        }).pipe(Effect.tapError((error) => Effect.sync(() => void (record.error = error.message))))

      /**
       * The action failed in doubt: ask the step whether it applied before the saga compensates. Applied → journal
       * it as resolved and undo it now (the step still fails); not applied → journal the failure (the store fenced
       * it). When it cannot tell, the intent stays open for a person or a later recovery, and the saga ends `failed`.
       */
      const settle = (cause: Cause.Cause<unknown>) =>
        Effect.gen(function*() {
          const entry = { sagaId, stepId, name, attempt: record.attempts, resolved: true as const, ...since }
          // run in this fiber (a compensation runs in one of its own): a resolver whose store can hang bounds itself
          // (the warehouse's does)
          const resolved = yield* resolveRetried(Effect.suspend(() => step.resolve!({ sagaId, stepId })), {
            retry: step.compensationRetry,
            isTransient: step.isTransient
          }).pipe(
            Effect.exit,
            Effect.withSpan("Saga.resolve", { attributes: { "saga.id": sagaId, "step.id": stepId }, captureStackTrace })
          )
          yield* onFailure(cause)
          const at = yield* Clock.currentTimeMillis
          if (Exit.isFailure(resolved)) {
            ledger.unresolved.push(stepId)
            record.error = `${record.error}; in doubt, not resolved: ${causeMessage(resolved.cause)}`
            return yield* Effect.logError("an in-doubt step could not be resolved", causeMessage(resolved.cause))
          }
          if (Option.isNone(resolved.value)) {
            yield* Effect.logInfo("an in-doubt step did not apply")
            return yield* appendOrLog(ledger, () => Journal.StepFailed.make({ ...entry, at, error: record.error! }))
          }
          const value = resolved.value.value
          const keep = ledger.timedOut && !ledger.compensateOnTimeout
          yield* Effect.logInfo(
            `an in-doubt step applied: ${keep ? "kept (compensateOnTimeout: false)" : "undoing it"}`
          )
          yield* appendOrLog(ledger, () => {
            const encoded = step.result === undefined ? {} : Option.match(
              Option.getRight(Schema.encodeUnknownEither(step.result)(value)),
              { onNone: () => ({}), onSome: (result) => ({ result }) }
            )
            return Journal.StepSucceeded.make({ ...entry, at, ...encoded })
          })
          if (keep) {
            record.status = "completed"
            record.result = value
            return void ledger.completed.push(stepId)
          }
          yield* undo(ledger, stepId, step.compensate(value, cause), {
            retry: step.compensationRetry,
            isTransient: step.isTransient
          })
        })

      // The heart of the engine: the compensation is a finalizer of the saga's scope that fires only when the
      // scope closes with a failure. The action itself stays interruptible (timeouts, interruption).
      return yield* Effect.uninterruptibleMask((restore) =>
        Effect.acquireRelease(
          restore(retried).pipe(
            Effect.exit,
            Effect.flatMap((exit) =>
              Exit.isSuccess(exit)
                ? Effect.sync(() => void ledger.completed.push(stepId)).pipe(Effect.zipRight(exit))
                : inDoubt(step, exit.cause)
                ? Effect.zipRight(settle(exit.cause), exit)
                : Effect.zipRight(plannedFailed(exit.cause), exit)
            )
          ),
          (value, exit) =>
            Exit.isFailure(exit)
              ? undo(ledger, stepId, step.compensate(value, exit.cause), {
                retry: step.compensationRetry,
                isTransient: step.isTransient
              })
              : Effect.void
        ).pipe(Effect.tap(onSuccess), Scope.extend(scope))
      )
    }).pipe(
      // saga.id is annotated once, by `execute`
      Effect.annotateLogs("step.id", stepId),
      Effect.withSpan("Saga.step", {
        attributes: { "saga.id": sagaId, "step.id": stepId, "step.name": name },
        captureStackTrace
      }),
      tracked(ledger, stepId)
    )
  })

/**
 * A saga run as a step of its parent: its steps get ids `parent-prefix/name/…`. On failure its own completed steps
 * are undone before the error reaches the parent (a nested saga is atomic); on success its compensations join the
 * parent's scope at this point of completion order.
 * @internal
 */
export const runNested = <A, E, R>(
  name: string,
  body: Effect.Effect<A, E, R>
): Effect.Effect<A, E, Exclude<R, SagaContext> | SagaContext> =>
  Effect.flatMap(SagaContext, (parent) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const child: Runtime = { ledger: parent.ledger, prefix: `${parent.prefix}${name}/`, scope }
        const exit = yield* restore(body).pipe(Effect.provideService(SagaContext, child), Effect.exit)
        yield* awaitRunning(parent.ledger, child.prefix)
        if (Exit.isSuccess(exit)) {
          yield* Scope.addFinalizerExit(parent.scope, (parentExit) => Scope.close(scope, parentExit))
        } else {
          yield* Scope.close(scope, closeExit(parent.ledger, exit))
        }
        return yield* exit
      })
    ).pipe(Effect.withSpan("Saga.nested", {
      attributes: { "saga.id": parent.ledger.sagaId, "saga.name": name },
      captureStackTrace
    })))

/**
 * Runs `task` once `duration` has passed on the context's clock; returns what cancels it. The default clock has a
 * timer for it (no fiber); another clock (`TestClock`) is slept on in a fiber of its own.
 */
const schedule = (duration: Duration.Duration, task: () => void): Effect.Effect<() => void> =>
  Effect.clockWith((clock) => {
    // the default clock's scheduler (`setTimeout`) is not in the `Clock` interface: asked for when there is one
    const scheduler = (clock as { readonly scheduler?: () => Effect.Effect<Clock.ClockScheduler> }).scheduler
    return typeof scheduler === "function"
      ? Effect.map(scheduler.call(clock), (timers) => {
        const cancel = timers.unsafeSchedule(task, duration)
        return () => void cancel()
      })
      : Effect.map(
        Effect.forkDaemon(Effect.interruptible(Effect.zipRight(clock.sleep(duration), Effect.sync(task)))),
        (fiber) => () => fiber.unsafeInterruptAsFork(FiberId.none)
      )
  })

/**
 * The exit of `body` (run in a fiber of its own) cut off by the saga's timeout: when `timeout` passes first, the
 * saga is marked timed out and the body's fiber interrupted (its running steps end in doubt or interrupted), then the
 * exit is a `SagaTimeout` failure. One fiber and a timer per saga, not a race's two fibers and their sleep.
 * `restore`: the caller's interruptibility, under which the saga is awaited (an interruption of the caller
 * interrupts the body and waits for it).
 */
const withTimeout = <A, R>(
  ledger: Ledger,
  timeout: Duration.Duration,
  body: Effect.Effect<A, unknown, R>,
  restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>
): Effect.Effect<Exit.Exit<A, unknown>, never, R> =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(body)
    const id = yield* Effect.fiberId
    const cancel = yield* schedule(timeout, () => {
      if (fiber.unsafePoll() !== null) return
      ledger.timedOut = true
      fiber.unsafeInterruptAsFork(id)
    })
    const exit = yield* restore(Fiber.await(fiber)).pipe(
      Effect.onInterrupt(() => Fiber.interrupt(fiber)),
      Effect.ensuring(Effect.sync(cancel)),
      Effect.exit
    )
    if (ledger.timedOut) {
      return Exit.fail(new SagaTimeout({ sagaId: ledger.sagaId, timeout, compensated: ledger.compensateOnTimeout }))
    }
    return Exit.isSuccess(exit) ? exit.value : Exit.failCause(exit.cause)
  })

/** @internal */
export interface Outcome<A> {
  readonly result: SagaResult<A>
  /** The typed error `Saga.run` fails with; none when completed or when only interrupted. */
  readonly error: Option.Option<SagaError>
  readonly cause: Cause.Cause<unknown>
}

const attribute = (ledger: Ledger, cause: Cause.Cause<unknown>): string | undefined => {
  const last = ledger.lastFailure
  if (last === undefined) return undefined
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure)) return last.stepId
  const lastFailure = Cause.failureOption(last.cause)
  return Option.isSome(lastFailure) && lastFailure.value === failure.value ? last.stepId : undefined
}

const sagaError = (
  ledger: Ledger,
  cause: Cause.Cause<unknown>,
  timeout: Duration.Duration | undefined
): Option.Option<SagaError> => {
  const { sagaId } = ledger
  if (ledger.halted !== undefined) {
    return Option.some(
      new CompensationFailed({
        sagaId,
        stepId: ledger.halted.stepId,
        cause: ledger.halted.cause,
        trigger: cause,
        pending: ledger.pending.slice()
      })
    )
  }
  if (ledger.timedOut && timeout !== undefined) {
    return Option.some(new SagaTimeout({ sagaId, timeout, compensated: ledger.compensateOnTimeout }))
  }
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure) && failure.value instanceof SagaDefinitionError) return Option.some(failure.value)
  if (Cause.isInterruptedOnly(cause)) return Option.none()
  return Option.some(new StepFailed({ sagaId, stepId: attribute(ledger, cause), cause }))
}

/** The plan as `SagaStarted` journals it: each planned input encoded with its Schema. */
const encodePlan = (sagaId: string, plan: ReadonlyArray<PlannedStep>) =>
  Effect.forEach(plan, ({ id, input, name }) =>
    input === undefined
      ? Effect.succeed<Journal.PlannedStep>({ stepId: id, name })
      : Schema.encodeUnknown(input.schema)(input.value).pipe(
        Effect.map((encoded): Journal.PlannedStep => ({ stepId: id, name, input: encoded })),
        Effect.mapError((error) =>
          new SagaDefinitionError({
            sagaId,
            stepId: id,
            reason: `the planned input does not encode with the step's input Schema: ${error.message}`
          })
        )
      ))

/** @internal */
export const execute = <A, E, R>(
  name: string,
  body: Effect.Effect<A, E, R | SagaContext>,
  options: ExecuteOptions = {}
): Effect.Effect<Outcome<A>, never, Exclude<R, SagaContext>> =>
  Effect.suspend(() => {
    const sagaId = options.id ?? randomUUID()
    return executeWithId(sagaId, name, body, options).pipe(
      Effect.annotateLogs({ "saga.id": sagaId, "saga.name": name }),
      Effect.withSpan("Saga.execute", { attributes: { "saga.id": sagaId, "saga.name": name }, captureStackTrace })
    )
  })

const executeWithId = <A, E, R>(
  sagaId: string,
  name: string,
  body: Effect.Effect<A, E, R | SagaContext>,
  options: ExecuteOptions
): Effect.Effect<Outcome<A>, never, Exclude<R, SagaContext>> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const journal = Option.getOrElse(yield* Effect.serviceOption(Journal.SagaJournal), () => Journal.noop)
      const plan = options.plan
      const ledger = makeLedger(
        sagaId,
        journal,
        options.compensateOnTimeout ?? true,
        plan === undefined ? undefined : new Map(plan.map((step) => [step.id, step.input !== undefined]))
      )
      const timeout = options.timeout === undefined ? undefined : Duration.decode(options.timeout)
      const start = yield* Clock.currentTimeMillis
      yield* Effect.logDebug("saga started")

      const declared = plan !== undefined
        ? { steps: plan.map((step) => step.id) }
        : options.steps === undefined
        ? {}
        : { steps: options.steps }
      const started = ledger.journaling
        ? Effect.flatMap(
          plan === undefined ? Effect.succeed({}) : Effect.map(encodePlan(sagaId, plan), (plan) => ({ plan })),
          (planned) => journal.append(Journal.SagaStarted.make({ sagaId, name, at: start, ...declared, ...planned }))
        ).pipe(Effect.tapError(noteIdTaken(ledger)), Effect.zipRight(body))
        : body
      const scope = yield* Scope.make()
      const runtime: Runtime = { ledger, prefix: "", scope }
      const provided = Effect.provideService(started, SagaContext, runtime) as Effect.Effect<
        A,
        unknown,
        Exclude<R, SagaContext>
      >
      const exit = yield* (timeout === undefined
        ? Effect.exit(restore(provided))
        : withTimeout(ledger, timeout, restore(provided), restore))
      ledger.closed = true
      yield* awaitRunning(ledger, "")
      yield* Scope.close(scope, closeExit(ledger, exit))

      const left = ledger.completed.filter((id) => ledger.records.get(id)?.status === "completed").reverse()
      const status: SagaStatus = Exit.isSuccess(exit)
        ? "completed"
        : ledger.halted !== undefined || left.length > 0 || ledger.unresolved.length > 0
        ? "failed"
        : "compensated"
      const end = yield* Clock.currentTimeMillis
      const error = Exit.isFailure(exit) ? causeMessage(exit.cause) : undefined
      // a step that failed in doubt and could not be resolved, or a compensation whose store could not be reached, keeps
      // the saga unfinished in a real journal: recovery settles it (resolves the step, undoes what is left) once the
      // store answers again
      const leftToRecovery = (ledger.unresolved.length > 0 || ledger.halted?.transient === true) &&
        ledger.journaling
      const ended = leftToRecovery || ledger.idTaken || !ledger.journaling
        ? Exit.void
        : yield* journal.append(
          Journal.SagaEnded.make({ sagaId, at: end, status, ...(error === undefined ? {} : { error }) })
        ).pipe(Effect.tapError(noteIdTaken(ledger)), Effect.exit)
      if (leftToRecovery) {
        yield* Effect.logWarning(`left to recovery: ${[...ledger.unresolved, ...ledger.pending].join(", ")}`)
        // this instance no longer renews it: recovery (here or elsewhere) can claim it once its store answers
        if (journal.leases !== undefined) {
          yield* journal.leases.release(sagaId).pipe(
            Effect.catchAll((error) => Effect.logError("the lease of a saga left to recovery was not released", error))
          )
        }
      }
      const steps: Record<string, StepRecord> = {}
      for (const [id, record] of ledger.records) steps[id] = { ...record }
      const result: SagaResult<A> = {
        id: sagaId,
        name,
        status,
        executionTime: end - start,
        steps,
        completedSteps: ledger.completed.slice(),
        compensatedSteps: ledger.compensated.slice(),
        pendingCompensations: ledger.halted !== undefined
          ? [...ledger.pending, ...ledger.unresolved]
          : status === "failed"
          ? [...left, ...ledger.unresolved]
          : [],
        ...(error === undefined ? {} : { error }),
        ...(ledger.halted === undefined ? {} : { compensationError: causeMessage(ledger.halted.cause) }),
        ...(Exit.isSuccess(ended) || ledger.idTaken ? {} : { journalError: ended.cause.toString() }),
        ...(ledger.idTaken ? { idTaken: true as const } : {}),
        ...(Exit.isSuccess(exit) ? { value: exit.value } : {})
      }
      yield* Effect.annotateCurrentSpan({ "saga.status": status })
      if (ledger.idTaken) {
        yield* Effect.logWarning("the journal already holds a saga with this id: this run did nothing")
      } else if (Exit.isFailure(ended)) yield* Effect.logError("saga journal could not record the end", ended.cause)
      yield* Effect.logWithLevel(
        status === "failed" ? LogLevel.Error : yield* EndLogLevel,
        `saga ${status}`,
        ...(error ? [error] : [])
      )
      return {
        result,
        error: Exit.isSuccess(exit) ? Option.none() : sagaError(ledger, exit.cause, timeout),
        cause: Exit.isSuccess(exit) ? Cause.empty : exit.cause
      }
    })
  )
