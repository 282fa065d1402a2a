import { Saga, type SagaResult } from "@polysaga/saga"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { isDeepStrictEqual } from "node:util"
import type { AtomicityOptions } from "../index.js"

/** The public `AtomicityViolation` (re-exported and documented by the index). */
export class AtomicityViolation extends Data.TaggedError("AtomicityViolation")<{
  readonly reason: string
  readonly result: SagaResult<unknown>
  readonly before: unknown
  readonly after: unknown
}> {
  override get message(): string {
    return `Saga "${this.result.name}" (${this.result.status}) is not atomic: ${this.reason}`
  }
}

/** @internal */
export const checkAtomicity = <A, E, R, S, R2>(
  options: AtomicityOptions<A, E, R, S, R2>
): Effect.Effect<SagaResult<A>, AtomicityViolation, R | R2> =>
  Effect.gen(function*() {
    const before = yield* options.state
    const result = yield* Saga.execute(options.saga, options.execute)
    const after = yield* options.state
    const equivalent = options.equivalence ?? isDeepStrictEqual
    const violation = (reason: string) => new AtomicityViolation({ reason, result, before, after })
    switch (result.status) {
      case "completed": {
        const verdict = options.completed?.(after, result.value as A, before) ?? true
        if (verdict !== true) {
          return yield* violation(`completed, but not every effect is present${verdict ? `: ${verdict}` : ""}`)
        }
        break
      }
      case "compensated":
        if (!equivalent(before, after)) return yield* violation("compensated, but the state differs from the start")
        if (result.pendingCompensations.length > 0) {
          return yield* violation("compensated, yet compensations are pending")
        }
        break
      case "failed":
        if (result.pendingCompensations.length === 0) {
          return yield* violation("failed, but no pending compensation says what was left")
        }
        break
    }
    return result
  })
