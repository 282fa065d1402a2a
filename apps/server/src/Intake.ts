/**
 * Intake: the sagas this server is running, and the switch that stops taking new ones on shutdown.
 *
 * Each transaction runs in a fiber of its own (owned by this service, not by the HTTP request), so a client that
 * disconnects does not cut its saga short. On shutdown `drain` refuses new work, waits for the running sagas up to
 * a bound, then interrupts the rest: an interrupted saga undoes its completed steps (journaled) before it ends.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import { Unavailable } from "./Api.js"

/**
 * @since 0.1.0
 */
export class Intake extends Effect.Service<Intake>()("@polysaga/server/Intake", {
  scoped: Effect.gen(function*() {
    const draining = yield* Ref.make(false)
    const fibers = yield* FiberSet.make<unknown, unknown>()

    const shuttingDown = new Unavailable({
      code: "SHUTTING_DOWN",
      message: "the server is shutting down and takes no new transactions; retry on another instance"
    })

    /** Runs `effect` in a fiber owned by the intake and waits for its exit (interrupted if drained too late). */
    const run = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<Exit.Exit<A, E>, Unavailable> =>
      Effect.gen(function*() {
        if (yield* Ref.get(draining)) return yield* shuttingDown
        const fiber = yield* FiberSet.run(fibers, effect, { propagateInterruption: false })
        return yield* Fiber.await(fiber)
      })

    /**
     * Stops intake, waits up to `timeout` for the running sagas, then interrupts what is left and waits up to
     * `compensationTimeout` for their compensations. Sagas still running after that stay unfinished in the
     * journal: the recovery runner of the next start (or another instance) ends them.
     */
    const drain = (options: {
      readonly timeout: Duration.DurationInput
      readonly compensationTimeout: Duration.DurationInput
    }) =>
      Effect.gen(function*() {
        yield* Ref.set(draining, true)
        const running = yield* FiberSet.size(fibers)
        if (running === 0) return
        yield* Effect.logInfo(
          `shutdown: waiting up to ${Duration.format(options.timeout)} for ${running} running transaction(s)`
        )
        const done = yield* FiberSet.awaitEmpty(fibers).pipe(Effect.timeoutOption(options.timeout))
        if (Option.isSome(done)) {
          yield* Effect.logInfo("shutdown: every running transaction finished")
          return
        }
        const left = yield* FiberSet.size(fibers)
        yield* Effect.logWarning(
          `shutdown: interrupting ${left} transaction(s) still running; their completed steps are compensated`
        )
        const cleared = yield* FiberSet.clear(fibers).pipe(Effect.timeoutOption(options.compensationTimeout))
        if (Option.isNone(cleared)) {
          yield* Effect.logError(
            "shutdown: compensations still running at the bound; the journal keeps these sagas unfinished and " +
              "the recovery runner ends them on the next start"
          )
        }
      }).pipe(Effect.withSpan("Intake.drain"))

    return {
      run,
      drain,
      isDraining: Ref.get(draining),
      running: FiberSet.size(fibers)
    } as const
  })
}) {}
