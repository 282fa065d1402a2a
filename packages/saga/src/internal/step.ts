import type * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Schema from "effect/Schema"
import type * as Step from "../Step.js"
import { isInDoubt, isTransient } from "./errors.js"

/** @internal */
export const TypeId: unique symbol = Symbol.for("@polysaga/saga/Step") as any

/** @internal */
export const defaultCompensationRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("100 millis").pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(5))
)

const noCompensation = () => Effect.void

/** @internal */
export const make = <A, E, R, R2>(
  options: Step.RunOptions & Step.CompensationOptions & {
    readonly name: string
    readonly action: Effect.Effect<A, E, R>
    readonly compensate?: (result: NoInfer<A>, cause: Cause.Cause<unknown>) => Effect.Effect<unknown, unknown, R2>
    readonly result?: Schema.Schema<A, any>
    readonly input?: Step.StepInput
    readonly resolve?: (context: Step.StepContext) => Effect.Effect<Option.Option<NoInfer<A>>, unknown, R2>
  }
): Step.Step<A, E, R | R2> => ({
  [TypeId]: TypeId,
  name: options.name,
  id: options.id ?? options.name,
  action: options.action,
  compensate: options.compensate ?? noCompensation,
  result: options.result,
  input: options.input,
  retry: options.retry,
  timeout: options.timeout === undefined ? undefined : Duration.decode(options.timeout),
  compensationRetry: options.compensationRetry ?? defaultCompensationRetry,
  isTransient: options.isTransient ?? isTransient,
  isInDoubt: options.isInDoubt ?? isInDoubt,
  resolve: options.resolve
})

/** @internal */
export const fromDefinition = <A, I, R, In, E, R2>(
  definition: Step.StepDefinition<A, I, R, In>,
  action: Effect.Effect<A, E, R2>,
  options?: Step.RunOptions & { readonly input?: In }
): Step.Step<A, E, R | R2> =>
  make({
    ...(options?.id === undefined ? {} : { id: options.id }),
    ...(options?.retry === undefined ? {} : { retry: options.retry }),
    ...(options?.timeout === undefined ? {} : { timeout: options.timeout }),
    ...(definition.input === undefined || options === undefined || !("input" in options) ? {} : {
      input: { schema: definition.input, value: options.input }
    }),
    ...(definition.compensationRetry ? { compensationRetry: definition.compensationRetry } : {}),
    ...(definition.isTransient ? { isTransient: definition.isTransient } : {}),
    ...(definition.isInDoubt ? { isInDoubt: definition.isInDoubt } : {}),
    ...(definition.resolve === undefined ? {} : {
      resolve: (context: Step.StepContext) => definition.resolve!(options?.input as In, context)
    }),
    name: definition.name,
    action,
    compensate: definition.compensate,
    result: definition.result
  })

/** @internal */
export const registry = (...definitions: ReadonlyArray<Step.StepDefinition<any, any, any>>): Step.StepRegistry<any> => {
  const map = new Map<string, Step.StepDefinition<any, any, any>>()
  for (const definition of definitions) {
    if (map.has(definition.name)) {
      throw new Error(`StepRegistry: two step definitions are named "${definition.name}"`)
    }
    map.set(definition.name, definition)
  }
  return { definitions: map }
}
