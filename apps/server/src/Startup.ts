/**
 * Startup: the journal and the sources open in the background while the HTTP server already answers. `/health`
 * (liveness) answers at once; `/ready` and the transaction endpoints answer 503 until everything is open, naming
 * what is still opening (or failed to open).
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import { Unavailable } from "./Api.js"
import { Transactions } from "./Transactions.js"

/**
 * What opens at start, each `opening`, `ok` or `failed: …`: the journal (`journal`) and each source
 * (`source:<tag>`).
 *
 * @since 0.3.0
 * @category models
 */
export type Checks = Readonly<Record<string, string>>

/**
 * How a layer that opens parts reports them.
 *
 * @since 0.3.0
 * @category models
 */
export interface Report {
  readonly opened: (names: ReadonlyArray<string>) => Effect.Effect<void>
  readonly failed: (names: ReadonlyArray<string>, error: unknown) => Effect.Effect<void>
}

/**
 * @since 0.3.0
 * @category tags
 */
export class Startup extends Context.Tag("@polysaga/server/Startup")<Startup, {
  /** What is open, still opening, or failed to open. */
  readonly checks: Effect.Effect<Checks>
  /** The transactions service once everything is open; else a 503 (`NOT_READY`) naming what is not open. */
  readonly transactions: Effect.Effect<Transactions, Unavailable>
  /** Waits until everything is open; fails with the opening's error when it failed. */
  readonly opened: Effect.Effect<void, unknown>
}>() {}

/** The parts not `ok`, as `name (state)`. */
const pending = (checks: Checks) =>
  Object.entries(checks).filter(([, state]) => state !== "ok").map(([name, state]) => `${name} (${state})`)

/**
 * Builds `app` in the background, its resources in a scope of their own that closes with the layer's (after the
 * fiber building it is interrupted, when it still runs: finalizers run in reverse order). `parts` names what opens;
 * `app` reports each part through `Report`.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = <E, R>(
  parts: ReadonlyArray<string>,
  app: (report: Report) => Layer.Layer<Transactions, E, R>
): Layer.Layer<Startup, never, R> =>
  Layer.scoped(
    Startup,
    Effect.gen(function*() {
      const state = yield* Ref.make<Checks>(Object.fromEntries(parts.map((name) => [name, "opening"])))
      const set = (names: ReadonlyArray<string>, value: string) =>
        Ref.update(state, (checks) => ({ ...checks, ...Object.fromEntries(names.map((name) => [name, value])) }))
      const done = yield* Deferred.make<Transactions, E>()
      const scope = yield* Effect.scope
      const resources = yield* Scope.fork(scope, ExecutionStrategy.sequential)
      const report: Report = {
        opened: (names) => set(names, "ok"),
        failed: (names, error) =>
          set(names, `failed: ${error instanceof Error || isMessage(error) ? error.message : String(error)}`)
      }
      yield* Layer.buildWithScope(app(report), resources).pipe(
        Effect.map((context) => Context.get(context, Transactions)),
        Effect.exit,
        Effect.flatMap((exit) => Deferred.done(done, exit)),
        Effect.forkIn(scope)
      )
      const checks = Ref.get(state)
      const notReady = Effect.flatMap(checks, (current) =>
        Effect.fail(
          new Unavailable({
            code: "NOT_READY",
            message: `the service is not ready yet: ${pending(current).join(", ") || "starting"}`
          })
        ))
      return {
        checks,
        transactions: Effect.flatMap(
          Deferred.poll(done),
          Option.match({ onNone: () => notReady, onSome: (result) => Effect.orElse(result, () => notReady) })
        ),
        opened: Effect.asVoid(Deferred.await(done))
      }
    })
  )

const isMessage = (u: unknown): u is { readonly message: string } =>
  typeof u === "object" && u !== null && typeof (u as { message?: unknown }).message === "string"
