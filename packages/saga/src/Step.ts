/**
 * A step: an action paired with the compensation that undoes it.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import type * as Schema from "effect/Schema"
import * as internal from "./internal/step.js"

/**
 * @since 0.1.0
 */
export const TypeId: typeof internal.TypeId = internal.TypeId

/**
 * @since 0.1.0
 */
export type TypeId = typeof TypeId

/**
 * A step of a saga. Run it inside a saga with `Saga.step(step)`.
 *
 * - `action` runs once per attempt; only errors classified transient by `isTransient` are retried, on `retry`.
 * - `timeout` bounds each attempt; a timed-out attempt fails with the transient `StepTimeout` (and is interrupted).
 * - `compensate` receives the action's result and the failure `Cause` that triggered the undo. It runs
 *   uninterruptibly and is retried on `compensationRetry` (transient errors only).
 * - `result`: a Schema for the action's value. It makes the step journal-able: the value is encoded into the
 *   journal, and a restarted process can rebuild the compensation from a `StepDefinition` of the same `name`.
 * - `input`: the step's input and its Schema; encoded into every `StepIntent`, so that recovery can ask the
 *   definition's `resolve` whether a step cut short by a crash applied.
 *   (Both are encoded when the saga has a journal; without one nothing is journaled, so nothing is encoded.)
 *
 * @since 0.1.0
 */
export interface Step<A, E = never, R = never> {
  readonly [TypeId]: TypeId
  /** The step (definition) name: the key of its definition in a `StepRegistry`. */
  readonly name: string
  /** Unique within its saga; defaults to `name`. */
  readonly id: string
  readonly action: Effect.Effect<A, E, R>
  readonly compensate: (result: A, cause: Cause.Cause<unknown>) => Effect.Effect<unknown, unknown, R>
  readonly result: Schema.Schema<A, any> | undefined
  readonly input: StepInput | undefined
  readonly retry: Schedule.Schedule<unknown, unknown> | undefined
  readonly timeout: Duration.Duration | undefined
  readonly compensationRetry: Schedule.Schedule<unknown, unknown>
  readonly isTransient: (error: unknown) => boolean
  /** Which failures leave the step in doubt (it may have applied); see `resolve`. */
  readonly isInDoubt: (error: unknown) => boolean
  /**
   * Did an attempt that failed in doubt (an `isInDoubt` error, or interrupted mid-action) apply? `Some(result)`:
   * the engine compensates it at once and the step still fails; `None`: it did not (a store barrier fences it, so
   * a late arrival is refused). Without it, an in-doubt failure is an ordinary failure.
   */
  readonly resolve: ((context: StepContext) => Effect.Effect<Option.Option<A>, unknown, R>) | undefined
}

/**
 * A step's input with the Schema that encodes it into the journal.
 *
 * @since 0.1.0
 */
export interface StepInput {
  readonly schema: Schema.Schema<any, any>
  readonly value: unknown
}

/**
 * Where a step runs: its saga and its step id (what a store barrier keys on).
 *
 * @since 0.1.0
 */
export interface StepContext {
  readonly sagaId: string
  readonly stepId: string
}

/**
 * Options shared by `make` and `fromDefinition`.
 *
 * @since 0.1.0
 */
export interface RunOptions {
  /** Unique step id within the saga (default: the name). Use it when one definition runs several times. */
  readonly id?: string
  /** Retry schedule for transient failures of the action (default: no retry). */
  readonly retry?: Schedule.Schedule<unknown, unknown>
  /** Per-attempt timeout of the action. */
  readonly timeout?: Duration.DurationInput
}

/**
 * Options of a compensation, shared by `make` and `define`.
 *
 * @since 0.1.0
 */
export interface CompensationOptions {
  /** Retry schedule of the compensation (default: `defaultCompensationRetry`). */
  readonly compensationRetry?: Schedule.Schedule<unknown, unknown>
  /** Which errors are transient (default: `SagaError.isTransient`). Applies to action and compensation. */
  readonly isTransient?: (error: unknown) => boolean
  /** Which errors leave the action in doubt (default: `SagaError.isInDoubt`); used with `resolve`. */
  readonly isInDoubt?: (error: unknown) => boolean
}

/**
 * Exponential backoff from 100 ms, doubled each time, with jitter, at most 5 retries.
 *
 * @since 0.1.0
 */
export const defaultCompensationRetry: Schedule.Schedule<unknown, unknown> = internal.defaultCompensationRetry

/**
 * Make a step.
 *
 * @example
 * ```ts
 * const createOrder = Step.make({
 *   name: "createOrder",
 *   action: orders.create(input),
 *   compensate: (order) => orders.cancel(order.id),
 *   retry: Schedule.recurs(3)
 * })
 * ```
 *
 * @since 0.1.0
 */
export const make: <A, E = never, R = never, R2 = never>(
  options: RunOptions & CompensationOptions & {
    readonly name: string
    readonly action: Effect.Effect<A, E, R>
    /** Default: nothing to undo. */
    readonly compensate?: (result: NoInfer<A>, cause: Cause.Cause<unknown>) => Effect.Effect<unknown, unknown, R2>
    readonly result?: Schema.Schema<A, any>
    /** Journaled into every intent (see `StepDefinition.input`). */
    readonly input?: StepInput
    /** Asked after an in-doubt failure whether the action applied (see `Step.resolve`). */
    readonly resolve?: (context: StepContext) => Effect.Effect<Option.Option<NoInfer<A>>, unknown, R2>
  }
) => Step<A, E, R | R2> = internal.make

/**
 * A named, journal-able step definition: its compensation depends only on the (decoded) result, so a restarted
 * process can rebuild it from the journal. Register definitions in a `StepRegistry`; make steps from them with
 * `fromDefinition`.
 *
 * A step cut short by a crash (an intent without outcome in the journal) is **in doubt**: whether its action took
 * effect is unknown. A definition that can find out declares an `input` Schema (the step's input is then
 * journaled with each intent) and `resolve`, which recovery calls with the decoded input and the step's context:
 * `Some(result)` — it applied, compensate it like a completed step; `None` — it did not, nothing to undo (a store
 * with a barrier also fences it, so a late attempt is refused). Without `resolve`, an in-doubt step makes the
 * recovery `failed`, listed for a person. The running process uses the same `resolve` when an attempt fails in doubt
 * (a lost reply, a timeout): `fromDefinition` steps resolve such a failure before the saga compensates.
 *
 * @since 0.1.0
 */
export interface StepDefinition<A, I = any, R = never, In = any> extends CompensationOptions {
  readonly name: string
  readonly result: Schema.Schema<A, I>
  readonly compensate: (result: A, cause: Cause.Cause<unknown>) => Effect.Effect<unknown, unknown, R>
  /** The Schema of the step's input (JSON-encodable), journaled with each intent for `resolve`. */
  readonly input?: Schema.Schema<In, any> | undefined
  /**
   * Did the in-doubt step apply? Called by recovery with the journaled input (`undefined` without an `input`
   * Schema); retried like a compensation (`compensationRetry`, transient errors only).
   */
  readonly resolve?: ((input: In, context: StepContext) => Effect.Effect<Option.Option<A>, unknown, R>) | undefined
}

/**
 * Define a journal-able step.
 *
 * @since 0.1.0
 */
export const define = <A, I, R = never, In = unknown>(
  definition: StepDefinition<A, I, R, In>
): StepDefinition<A, I, R, In> => definition

/**
 * Make a step from a definition and the action of this run; `options.input` is journaled with the definition's
 * `input` Schema.
 *
 * @since 0.1.0
 */
export const fromDefinition: <A, I, R, In, E = never, R2 = never>(
  definition: StepDefinition<A, I, R, In>,
  action: Effect.Effect<A, E, R2>,
  options?: RunOptions & { readonly input?: NoInfer<In> }
) => Step<A, E, R | R2> = internal.fromDefinition

/**
 * Step definitions by name, used to rebuild compensations from a journal after a restart.
 *
 * @since 0.1.0
 */
export interface StepRegistry<R = never> {
  readonly definitions: ReadonlyMap<string, StepDefinition<any, any, R>>
}

/**
 * Build a registry. Throws on two definitions with the same name (a programming error, caught at start-up).
 *
 * @since 0.1.0
 */
export const registry: <const Defs extends ReadonlyArray<StepDefinition<any, any, any>>>(
  ...definitions: Defs
) => StepRegistry<Defs[number] extends StepDefinition<any, any, infer R> ? R : never> = internal.registry

/**
 * @since 0.1.0
 */
export const isStep = (u: unknown): u is Step<unknown, unknown, unknown> =>
  typeof u === "object" && u !== null && TypeId in u
