/**
 * `polysaga sagas list | show | retry | resolve` (`pnpm polysaga …` at the root): see `Cli`.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Cli from "./Cli.js"

Cli.run(process.argv).pipe(
  Effect.tapErrorTag("CliError", (error) => Console.error(`polysaga: ${error.message}`)),
  Effect.provide(Layer.merge(NodeContext.layer, FetchHttpClient.layer)),
  (program) => NodeRuntime.runMain(program, { disableErrorReporting: true })
)
