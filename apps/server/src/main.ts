#!/usr/bin/env node
/**
 * `pnpm server --config <file> [--init-demo]` (or `POLYSAGA_CONFIG=<file>`): runs the warehouse service until
 * SIGTERM / SIGINT. Exits 1 with one line naming the problem when the configuration is invalid or a store or the
 * journal cannot be reached at start.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Server from "./Server.js"

Server.main(process.argv.slice(2)).pipe(
  Effect.tapErrorCause((cause) => {
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure) && failure.value instanceof Error) {
      return Effect.logError(`polysaga server: ${failure.value.message}`)
    }
    return Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError("polysaga server stopped", cause)
  }),
  (program) => NodeRuntime.runMain(program, { disableErrorReporting: true })
)
