import { SagaError, type Step } from "@polysaga/saga"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as FC from "effect/FastCheck"
import type { FaultOptions, FaultPlan, InjectOptions, StepFaults } from "../index.js"

/** The public `InjectedFailure` (re-exported and documented by the index). */
export class InjectedFailure extends Data.TaggedError("InjectedFailure")<{
  readonly stepId: string
  readonly phase: "action" | "compensation"
  readonly attempt: number
}> {
  override get message(): string {
    return `injected failure: ${this.phase} of step "${this.stepId}", attempt ${this.attempt}`
  }
}

/** @internal */
export const noFaults: StepFaults = {
  transientFailures: 0,
  fails: false,
  compensationTransientFailures: 0,
  compensationFails: false
}

const count = (max: number) =>
  max <= 0 ? FC.constant(0) : FC.oneof({ arbitrary: FC.constant(0), weight: 2 }, FC.integer({ min: 1, max }))

/** @internal */
export const faultPlan = (ids: ReadonlyArray<string>, options: FaultOptions = {}): FC.Arbitrary<FaultPlan> => {
  const maxTransient = options.maxTransient ?? 2
  const perStep = FC.record({
    transientFailures: count(maxTransient),
    compensationTransientFailures: count(maxTransient),
    compensationFails: options.compensationFailures === false
      ? FC.constant(false)
      : FC.oneof({ arbitrary: FC.constant(false), weight: 7 }, FC.constant(true))
  })
  const failing = ids.length === 0 || options.failures === false
    ? FC.constant(undefined)
    : FC.option(FC.constantFrom(...ids), { nil: undefined, freq: 4 })
  return FC.record({ failing, steps: FC.tuple(...ids.map(() => perStep)) }).map(({ failing, steps }) =>
    Object.fromEntries(ids.map((id, i) => [id, { ...steps[i]!, fails: id === failing }]))
  )
}

const failFirst = (
  stepId: string,
  phase: "action" | "compensation",
  transient: number,
  permanent: boolean
) => {
  let attempts = 0
  return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | InjectedFailure | SagaError.Transient, R> =>
    Effect.suspend((): Effect.Effect<A, E | InjectedFailure | SagaError.Transient, R> => {
      attempts++
      if (attempts <= transient) {
        return Effect.fail(
          new SagaError.Transient({ cause: new InjectedFailure({ stepId, phase, attempt: attempts }) })
        )
      }
      return permanent ? Effect.fail(new InjectedFailure({ stepId, phase, attempt: attempts })) : self
    })
}

/** @internal */
export const injectFaults = (plan: FaultPlan, options: InjectOptions = {}) =>
<A, E, R>(
  step: Step.Step<A, E, R>
): Step.Step<A, E | InjectedFailure | SagaError.Transient, R> => {
  const faults = plan[step.id]
  if (faults === undefined) return step
  const action = failFirst(step.id, "action", faults.transientFailures, faults.fails)
  const compensation = failFirst(
    step.id,
    "compensation",
    faults.compensationTransientFailures,
    faults.compensationFails
  )
  return {
    ...step,
    action: action(step.action),
    compensate: (result, cause) => compensation(step.compensate(result, cause)),
    retry: step.retry ?? options.retry,
    compensationRetry: options.compensationRetry ?? step.compensationRetry
  }
}
