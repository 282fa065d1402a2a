/**
 * Sagas: programs of steps whose completed work is undone, in reverse completion order, when a later step fails.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Types from "effect/Types"
import * as engine from "./internal/engine.js"
import * as graphInternal from "./internal/graph.js"
import * as recovery from "./internal/recover.js"
import type {
  JournalError,
  RecoveryError,
  SagaDefinitionError,
  SagaError,
  StepError,
  StepTimeout
} from "./SagaError.js"
import type * as Journal from "./SagaJournal.js"
import type { RecoveryResult, SagaResult } from "./SagaResult.js"
import * as Step from "./Step.js"

/**
 * @since 0.1.0
 */
export const TypeId: unique symbol = Symbol.for("@polysaga/saga/Saga") as any

/**
 * @since 0.1.0
 */
export type TypeId = typeof TypeId

/**
 * The context every `Saga.step` runs in (the saga's scope of compensations, its id, its journal). `Saga.make`
 * removes it from a body's requirements; you never provide it yourself.
 *
 * @since 0.1.0
 */
export const SagaContext: typeof engine.SagaContext = engine.SagaContext

/**
 * @since 0.1.0
 */
export type SagaContext = engine.SagaContext

/**
 * The level of the line a saga logs when it ends `completed` or `compensated` (`saga completed`): `Debug` by
 * default, below Effect's default minimum, so a library prints nothing per saga. Raise it to print one, e.g.
 * `Effect.provideService(Saga.EndLogLevel, LogLevel.Info)` or `Layer.succeed(Saga.EndLogLevel, LogLevel.Info)`
 * (the service does). A saga that ends `failed` (something is left for a person) is logged at `Error` whatever it
 * is.
 *
 * @since 0.1.0
 * @category logging
 */
export const EndLogLevel: typeof engine.EndLogLevel = engine.EndLogLevel

/**
 * @since 0.1.0
 * @category logging
 */
export type EndLogLevel = engine.EndLogLevel

/**
 * A named saga: a body that runs steps with `Saga.step`. Run it with `run` / `execute`, or as a step of another
 * saga with `Saga.step(saga)`.
 *
 * @since 0.1.0
 */
export interface Saga<A, E = never, R = never> {
  readonly [TypeId]: TypeId
  readonly name: string
  readonly body: Effect.Effect<A, E, R | SagaContext>
}

/**
 * Make a saga from a body. Later steps use earlier results as ordinary values:
 *
 * @example
 * ```ts
 * const order = Saga.make("order", Effect.gen(function*() {
 *   const o = yield* Saga.step(createOrder(input))
 *   yield* Effect.all(o.items.map((item) => Saga.step(reserve(o.id, item))), { concurrency: 4 })
 *   yield* Saga.step(charge(o))
 *   return o.id
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const make = <A, E, R>(name: string, body: Effect.Effect<A, E, R>): Saga<A, E, Exclude<R, SagaContext>> => ({
  [TypeId]: TypeId,
  name,
  body: body as Effect.Effect<A, E, Exclude<R, SagaContext> | SagaContext>
})

/**
 * @since 0.1.0
 */
export const isSaga = (u: unknown): u is Saga<unknown, unknown, unknown> =>
  typeof u === "object" && u !== null && TypeId in u

/**
 * Run a step (or a nested saga) inside a saga body. Its value is the action's value; its failure is the action's
 * own error after retries (so a body can still `catchTag` it), or a `StepError` added by the engine (`StepTimeout`,
 * `SagaDefinitionError` for a duplicate step id, `JournalError`).
 *
 * Once the action completed, its compensation is registered in the saga's scope and fires only if the saga fails.
 * A nested saga's steps get ids `name/stepId`; if the nested saga fails, its own completed steps are undone before
 * its error reaches the parent; if it succeeds, they are undone with the parent's.
 *
 * Concurrent groups are plain Effect: `Effect.all([Saga.step(a), Saga.step(b)], { concurrency: 2 })`.
 *
 * @since 0.1.0
 */
export const step: {
  <A, E, R>(step: Step.Step<A, E, R>): Effect.Effect<A, E | StepError, R | SagaContext>
  <A, E, R>(saga: Saga<A, E, R>): Effect.Effect<A, E, R | SagaContext>
} =
  (<A, E, R>(self: Step.Step<A, E, R> | Saga<A, E, R>) =>
    isSaga(self) ? engine.runNested(self.name, self.body) : engine.runStep(self)) as any

/**
 * A dependency graph of steps: each node names the earlier nodes it needs and receives their values; nodes whose
 * needs are met run concurrently, at most `concurrency` at a time (default: unbounded; 1 runs them one by one in
 * declaration order). A failure starts no further node and lets the running ones finish (a write is never cut
 * off half-way); then compensation walks the graph backwards: a node is undone only after every node that
 * needed it was undone, independent nodes concurrently (at most `concurrency` at a time; with 1, in reverse
 * order).
 *
 * @example
 * ```ts
 * const { order, charge } = yield* Saga.graph()
 *   .add("order", [], () => Saga.step(createOrder))
 *   .add("stock", ["order"], ({ order }) => Saga.step(reserve(order.id)))
 *   .add("charge", ["order"], ({ order }) => Saga.step(charge(order)))
 *   .add("event", ["stock", "charge"], ({ charge }) => Saga.step(logEvent(charge)))
 *   .run({ concurrency: 2 })
 * ```
 *
 * @since 0.1.0
 */
export interface Graph<Out, E, R> {
  readonly add: <const K extends string, const D extends ReadonlyArray<keyof Out & string>, A, E2, R2>(
    key: K,
    needs: D,
    run: (deps: { readonly [P in D[number]]: Out[P] }) => Effect.Effect<A, E2, R2>
  ) => Graph<Types.Simplify<Out & { readonly [P in K]: A }>, E | E2, R | R2>
  readonly run: (options?: { readonly concurrency?: number }) => Effect.Effect<Out, E | SagaDefinitionError, R>
}

/**
 * Start a dependency graph (see `Graph`).
 *
 * @since 0.1.0
 */
export const graph = (): Graph<{}, never, SagaContext> => graphInternal.make() as any

/**
 * Options of `run` and `execute`.
 *
 * @since 0.1.0
 */
export interface ExecuteOptions {
  /** The saga id (default: a random UUID). Use it to find the saga in the journal. */
  readonly id?: string | undefined
  /** Saga-level timeout, compensations not included. */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * On timeout: `true` (default) undoes the completed steps (`compensated`); `false` leaves them done and reports
   * `failed` with them in `pendingCompensations`.
   */
  readonly compensateOnTimeout?: boolean | undefined
  /**
   * The ids of every step the saga runs, when they are known before it starts (a static saga, such as a warehouse
   * transaction). Journaled with `SagaStarted`: a saga cut short after all these steps completed, before its end
   * was recorded, is then recovered as `completed` instead of being undone.
   */
  readonly steps?: ReadonlyArray<string> | undefined
  /**
   * The saga's plan: every step it runs, in an order compensation may walk backwards (a dependency order), known
   * before it starts; it declares the steps as `steps` does. A step given with its `input` (encoded with the input's
   * Schema) is **journaled by the plan** when it runs with a `resolve` (a store barrier): the plan is written before
   * the first step acts, and the step itself writes no intent — a durable journal keeps its outcome to write with the
   * saga's next entry (normally its end). After a crash, recovery asks each such step's barrier whether it applied
   * (`resolve`), which fences the steps that did not, then ends the saga `completed` or undoes what applied in
   * reverse plan order. A step without `input` here (its input depends on an earlier step's result), or without
   * `resolve`, journals its intent and outcome as it runs. With a journal, a plan-journaled saga costs the journal
   * two writes (the plan and the end) plus one when it starts undoing after every planned step may have applied.
   */
  readonly plan?: ReadonlyArray<PlannedStep> | undefined
}

/**
 * One step of a saga's plan (see `ExecuteOptions.plan`).
 *
 * @since 0.1.0
 */
export interface PlannedStep {
  /** The step's id, as it runs (`Step.id`). */
  readonly id: string
  /** The step (definition) name: the key of its definition in a `StepRegistry`. */
  readonly name: string
  /** The step's input and its Schema, when it is known before the saga starts: the step is journaled by the plan. */
  readonly input?: Step.StepInput | undefined
}

/**
 * Run a saga and always get its record: status, per-step records, what was undone and what was left. Never fails;
 * if the running fiber is interrupted (e.g. on SIGTERM), the completed steps are undone first and the fiber then
 * ends interrupted.
 *
 * Journals to the `SagaJournal` in the context if there is one; without one, nothing is journaled.
 *
 * @since 0.1.0
 */
export const execute = <A, E, R>(
  saga: Saga<A, E, R>,
  options?: ExecuteOptions
): Effect.Effect<SagaResult<A>, never, R> =>
  Effect.map(engine.execute(saga.name, saga.body, options), (outcome) => outcome.result) as any

/**
 * Run a saga for its value. Fails with a `SagaError`: `StepFailed` (everything undone), `SagaTimeout`,
 * `CompensationFailed` (something left undone) or `SagaDefinitionError`.
 *
 * @since 0.1.0
 */
export const run = <A, E, R>(saga: Saga<A, E, R>, options?: ExecuteOptions): Effect.Effect<A, SagaError, R> =>
  Effect.flatMap(
    engine.execute(saga.name, saga.body, options),
    ({ cause, error, result }): Effect.Effect<A, SagaError> =>
      result.status === "completed"
        ? Exit.succeed(result.value as A)
        : Option.isSome(error)
        ? Exit.fail(error.value)
        : Exit.failCause(cause as any)
  ) as any

/**
 * What the journal of a saga says is left to undo, in order; see `recover`.
 *
 * @since 0.1.0
 */
export type CompensationPlan = recovery.CompensationPlan

/**
 * Read a saga's journal entries into its compensation plan: completed steps not yet compensated, in reverse
 * completion order, and the steps in doubt (an intent without outcome).
 *
 * @since 0.1.0
 */
export const compensationPlan: (sagaId: string, entries: ReadonlyArray<Journal.JournalEntry>) => CompensationPlan =
  recovery.compensationPlan

/**
 * Backward recovery of a saga the journal shows as unfinished (a restarted process): first each step in doubt (an
 * intent without outcome) is settled by its definition's `resolve`, when it has one (journaled as the step's
 * outcome); then a saga that declared its steps (`ExecuteOptions.steps`) and did them all ends `completed`;
 * otherwise each completed step's compensation is rebuilt from the registry definition of its name and its
 * journaled result and run in reverse completion order (same retry and stop-at-first-failure rules as a live
 * saga), and the end is journaled. A saga already ended is left alone. Compensations should be idempotent: one
 * journaled as started but not finished is run again. On a journal with leases, recover only sagas this instance
 * holds (claimed): appends for others are refused.
 *
 * @since 0.1.0
 */
export const recover: <R>(
  sagaId: string,
  registry: Step.StepRegistry<R>
) => Effect.Effect<RecoveryResult, JournalError | RecoveryError, R | Journal.SagaJournal> = recovery.recover

/**
 * Manual intervention on a `failed` saga (a compensation failed, or a step stayed in doubt): journal that it is
 * reopened (`SagaReopened`; on a journal with leases, it is taken by this instance), resolve its steps still in
 * doubt, undo what is left in reverse completion order, and journal the new end — `compensated`, or `failed`
 * again with the new error. Fails with `RecoveryError` when the saga is not `failed`.
 *
 * @since 0.1.0
 */
export const retryCompensation: <R>(
  sagaId: string,
  registry: Step.StepRegistry<R>
) => Effect.Effect<RecoveryResult, JournalError | RecoveryError, R | Journal.SagaJournal> = recovery.retryCompensation

/**
 * `recover` every saga the journal shows as unfinished. Call it at start-up, before this process starts sagas of
 * its own (a saga running right now is unfinished too). On a journal with leases, it recovers the sagas it can
 * claim (those whose lease expired) instead.
 *
 * @since 0.1.0
 */
export const recoverAll: <R>(
  registry: Step.StepRegistry<R>
) => Effect.Effect<ReadonlyArray<RecoveryResult>, JournalError | RecoveryError, R | Journal.SagaJournal> =
  recovery.recoverAll

/**
 * Runs `effect` in a fiber of its own and waits for it at most the engine's cleanup bound (10 s), even where the
 * caller cannot be interrupted (a compensation, an in-doubt step's resolution): past it, `StepTimeout`, and the
 * effect is left to finish in the background (a driver's rollback on a store that hangs cannot be cut off). The
 * engine bounds compensations with it; a step's `resolve` that calls a store that can hang uses it too.
 *
 * @since 0.1.0
 * @category combinators
 */
export const bounded: <A, E, R>(
  sagaId: string,
  stepId: string,
  effect: Effect.Effect<A, E, R>
) => Effect.Effect<A, E | StepTimeout, R> = engine.bounded
