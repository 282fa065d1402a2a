/**
 * Property-test sagas: saga-shape arbitraries, fault injection, an atomicity checker, and the scenario harness
 * behind `@polysaga/saga`'s own properties (usable against any journal).
 *
 * Arbitraries are `effect/FastCheck` ones, so they plug straight into `it.prop` / `it.effect.prop` of
 * `@effect/vitest`.
 *
 * @since 0.1.0
 */
import type { RecoveryResult, Saga, SagaError, SagaJournal, SagaResult, Step } from "@polysaga/saga"
import type * as Effect from "effect/Effect"
import type * as FC from "effect/FastCheck"
import type * as Schedule from "effect/Schedule"
import * as atomicity from "./internal/atomicity.js"
import * as faults from "./internal/faults.js"
import * as scenario from "./internal/scenario.js"
import * as shape from "./internal/shape.js"

// ---------------------------------------------------------------------------------------------------------------
// shapes
// ---------------------------------------------------------------------------------------------------------------

/**
 * The shape of a saga: steps (`s0`, `s1`, … in structural order), sequences, concurrent groups with a bound, and
 * nested sagas (`n0`, `n1`, …).
 *
 * @since 0.1.0
 */
export type SagaShape =
  | { readonly _tag: "Step"; readonly id: string }
  | { readonly _tag: "Sequence"; readonly children: ReadonlyArray<SagaShape> }
  | { readonly _tag: "Concurrent"; readonly children: ReadonlyArray<SagaShape>; readonly concurrency: number }
  | { readonly _tag: "Nested"; readonly name: string; readonly body: SagaShape }

/**
 * @since 0.1.0
 */
export interface ShapeOptions {
  /** Top-level elements (default 4). */
  readonly maxSteps?: number
  /** Children per sequence / group (default 3). */
  readonly maxWidth?: number
  /** Nesting depth (default 3). */
  readonly maxDepth?: number
  /** Generate concurrent groups (default true). */
  readonly concurrent?: boolean
  /** Generate nested sagas (default true). */
  readonly nested?: boolean
}

/**
 * Random saga shapes; the top level is always a sequence.
 *
 * @since 0.1.0
 */
export const sagaShape: (options?: ShapeOptions) => FC.Arbitrary<SagaShape> = shape.sagaShape

/**
 * The step ids of a shape as the engine reports them (`n0/s3` inside nested saga `n0`), in structural order.
 *
 * @since 0.1.0
 */
export const stepIds: (shape: SagaShape) => ReadonlyArray<string> = (self) => shape.stepIds(self)

/**
 * Pairs `[before, after]` of step ids where `after` depends on `before` (an earlier element of a sequence).
 *
 * @since 0.1.0
 */
export const dependencies: (shape: SagaShape) => ReadonlyArray<readonly [string, string]> = (self) =>
  shape.dependencies(self)

// ---------------------------------------------------------------------------------------------------------------
// faults
// ---------------------------------------------------------------------------------------------------------------

/**
 * What goes wrong with one step.
 *
 * @since 0.1.0
 */
export interface StepFaults {
  /** The action first fails this many times with a `Transient` error (survived if its retry schedule allows). */
  readonly transientFailures: number
  /** Then the action fails for good with a business `InjectedFailure`. */
  readonly fails: boolean
  /** The compensation first fails this many times with a `Transient` error. */
  readonly compensationTransientFailures: number
  /** Then the compensation fails for good. */
  readonly compensationFails: boolean
}

/**
 * Faults by step id (the step's own `id`, without nested-saga prefixes). Steps not listed run as they are.
 *
 * @since 0.1.0
 */
export type FaultPlan = Readonly<Record<string, StepFaults>>

/**
 * @since 0.1.0
 */
export interface FaultOptions {
  /** The most transient failures per action / compensation (default 2). */
  readonly maxTransient?: number
  /** Plan a failing step (at most one; default true). */
  readonly failures?: boolean
  /** Plan compensations that fail for good (default true). */
  readonly compensationFailures?: boolean
}

/**
 * A fault plan over the given step ids: at most one failing step, random transient failures, sometimes a
 * compensation that fails for good.
 *
 * @since 0.1.0
 */
export const faultPlan: (stepIds: ReadonlyArray<string>, options?: FaultOptions) => FC.Arbitrary<FaultPlan> =
  faults.faultPlan

/**
 * The failure fault injection raises (wrapped in `SagaError.Transient` for transient ones).
 *
 * @since 0.1.0
 */
export const InjectedFailure: typeof faults.InjectedFailure = faults.InjectedFailure

/**
 * @since 0.1.0
 */
export type InjectedFailure = faults.InjectedFailure

/**
 * @since 0.1.0
 */
export interface InjectOptions {
  /** Retry schedule for steps that have none (so planned transient failures can be survived). */
  readonly retry?: Schedule.Schedule<unknown, unknown>
  /**
   * Compensation retry schedule for every faulty step. The default one sleeps (backoff): under `it.effect`'s
   * `TestClock` pass e.g. `Schedule.recurs(3)`.
   */
  readonly compensationRetry?: Schedule.Schedule<unknown, unknown>
}

/**
 * Wrap steps so they fail as the plan says. Fault counters live in the wrapped step: build the saga inside the
 * property, once per run.
 *
 * @example
 * ```ts
 * const inject = SagaTesting.injectFaults(plan, { compensationRetry: Schedule.recurs(3) })
 * const saga = Saga.make("order", Saga.step(inject(createOrder)))
 * ```
 *
 * @since 0.1.0
 */
export const injectFaults: (
  plan: FaultPlan,
  options?: InjectOptions
) => <A, E, R>(step: Step.Step<A, E, R>) => Step.Step<A, E | InjectedFailure | SagaError.Transient, R> =
  faults.injectFaults

// ---------------------------------------------------------------------------------------------------------------
// atomicity
// ---------------------------------------------------------------------------------------------------------------

/**
 * The saga broke atomicity: what was found, with the result and both states.
 *
 * @since 0.1.0
 */
export const AtomicityViolation: typeof atomicity.AtomicityViolation = atomicity.AtomicityViolation

/**
 * @since 0.1.0
 */
export type AtomicityViolation = atomicity.AtomicityViolation

/**
 * @since 0.1.0
 */
export interface AtomicityOptions<A, E, R, S, R2> {
  readonly saga: Saga.Saga<A, E, R>
  /** Reads the observable state (e.g. a snapshot of the stores the saga writes). */
  readonly state: Effect.Effect<S, never, R2>
  /**
   * When the saga completed: are all its effects present? `true`, or a description of what is missing.
   * Default: no check.
   */
  readonly completed?: (after: S, value: A, before: S) => true | string | false
  /** Equality of states for the compensated case (default: `node:util` `isDeepStrictEqual`). */
  readonly equivalence?: (before: S, after: S) => boolean
  readonly execute?: Saga.ExecuteOptions
}

/**
 * Execute a saga between two reads of the state and check atomicity: completed → all effects present;
 * compensated → the state equals the initial state; failed → what was left is listed. Fails with
 * `AtomicityViolation`, else returns the result.
 *
 * @since 0.1.0
 */
export const checkAtomicity: <A, E, R, S, R2>(
  options: AtomicityOptions<A, E, R, S, R2>
) => Effect.Effect<SagaResult<A>, AtomicityViolation, R | R2> = atomicity.checkAtomicity

// ---------------------------------------------------------------------------------------------------------------
// scenarios: the engine's own properties
// ---------------------------------------------------------------------------------------------------------------

/**
 * A random saga: its shape, its fault plan, maybe a step at which the running saga is interrupted from outside,
 * and where (0 ≤ cut < 1, a fraction of the journal) the process is taken to die for the recovery check.
 *
 * @since 0.1.0
 */
export interface SagaScenario {
  readonly shape: SagaShape
  readonly plan: FaultPlan
  readonly interruptAt: string | undefined
  readonly cut: number
  /**
   * Steps journal their input and their definition has `resolve`: recovery settles the steps in doubt at the cut
   * (applied exactly when their action ran) instead of reporting them.
   */
  readonly resolvable: boolean
}

/**
 * @since 0.1.0
 */
export interface ScenarioOptions extends ShapeOptions, FaultOptions {
  /** Generate interruptions (default true). */
  readonly interruption?: boolean
  /** Generate resolvable steps (default true: half the scenarios). */
  readonly resolution?: boolean
}

/**
 * @since 0.1.0
 */
export interface RunScenarioOptions {
  /**
   * The journal to run the scenario against (default: a fresh in-memory one). The saga gets a fresh random id;
   * its cut journal is appended as the saga `<id>:cut` and recovered there.
   */
  readonly journal?: SagaJournal.SagaJournal.Service | undefined
}

/**
 * @since 0.1.0
 */
export const sagaScenario: (options?: ScenarioOptions) => FC.Arbitrary<SagaScenario> = scenario.sagaScenario

/**
 * What the steps of a scenario observed (step ids as the engine reports them).
 *
 * @since 0.1.0
 */
export type ScenarioEvent =
  | { readonly _tag: "Started"; readonly stepId: string; readonly input: string }
  | { readonly _tag: "Completed"; readonly stepId: string }
  | { readonly _tag: "Compensated"; readonly stepId: string }

/**
 * @since 0.1.0
 */
export interface ScenarioRun {
  readonly scenario: SagaScenario
  /** Undefined when the saga was interrupted (its outcome is then in the journal). */
  readonly result: SagaResult<string> | undefined
  readonly events: ReadonlyArray<ScenarioEvent>
  readonly journal: ReadonlyArray<SagaJournal.JournalEntry>
  /** `Saga.recover` run on the journal cut at `scenario.cut`, and the compensations it ran. */
  readonly recovery: {
    readonly journal: ReadonlyArray<SagaJournal.JournalEntry>
    readonly result: RecoveryResult
    readonly undone: ReadonlyArray<string>
  }
}

/**
 * Run a scenario: build the saga (every step returns its id; sequences pass values on), execute it with a journal
 * (in memory unless `options.journal`), interrupt it if planned, then recover the cut journal. Deterministic
 * schedules, no sleeps.
 *
 * @since 0.1.0
 */
export const runScenario: (scenario: SagaScenario, options?: RunScenarioOptions) => Effect.Effect<ScenarioRun> =
  scenario.runScenario

/**
 * The invariants of a run, as a list of violations (empty when all hold): exactly the completed steps are
 * compensated, each once, a step before anything it depended on; nothing after a failure starts; the status
 * matches the plan; `compensatedSteps` / `pendingCompensations` are exact; results flow; retries absorb transient
 * failures; every journal intent has one outcome; recovery from the cut journal undoes exactly what was completed
 * and not compensated (and, for resolvable steps, the steps in doubt whose action ran, first).
 *
 * @since 0.1.0
 */
export const checkScenario: (run: ScenarioRun) => ReadonlyArray<string> = scenario.checkScenario
