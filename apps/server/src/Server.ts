/**
 * The whole service as one layer: tracing, the durable journal and its recovery runner, the warehouse on the
 * configured sources, the intake, and the HTTP API with its graceful shutdown.
 *
 * Built in that order and released in the reverse one: on shutdown the HTTP side drains first (no new work, the
 * running sagas finish or are compensated), then the recovery runner stops, the sources close, the journal closes
 * and the last spans are flushed.
 *
 * @since 0.1.0
 */
import type * as HttpServer from "@effect/platform/HttpServer"
import { Warehouse } from "@polysaga/warehouse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { ServerConfig } from "./Config.js"
import * as Config from "./Config.js"
import { Intake } from "./Intake.js"
import * as adapters from "./internal/adapters.js"
import * as demo from "./internal/demo.js"
import * as http from "./internal/http.js"
import * as journal from "./internal/journal.js"
import * as observability from "./internal/observability.js"
import { Settings } from "./Settings.js"
import { Transactions } from "./Transactions.js"

/**
 * The service for a decoded configuration. Its output is the running `HttpServer` (its `address` tells the port
 * when `port` is 0).
 *
 * @since 0.1.0
 */
export const layer = (config: ServerConfig): Layer.Layer<HttpServer.HttpServer, unknown> => {
  // the sources open (each store connects and checks its connection) while the journal opens: neither needs the other
  const core = Warehouse.layerFromSources({ maxOperations: config.limits.maxOperations }).pipe(
    Layer.provideMerge(Layer.merge(Warehouse.sourcesLayer(config.sources), journal.layer(config)))
  )
  const app = Transactions.Default.pipe(
    Layer.provideMerge(Intake.Default),
    Layer.provideMerge(journal.recoveryLayer(config).pipe(Layer.provideMerge(core))),
    Layer.provideMerge(Layer.succeed(Settings, config))
  )
  return http.layer(config).pipe(
    Layer.provide(app),
    Layer.provide(observability.layer(config)),
    Layer.provide(observability.logging(config))
  )
}

/**
 * The command: read `--config <file>` (or `POLYSAGA_CONFIG`), optionally create the demo tables, and run the
 * service until SIGTERM / SIGINT. An invalid configuration fails with a `ConfigError` naming the field.
 *
 * @since 0.1.0
 */
export const main = (argv: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const args = yield* Config.fromArgs(argv)
    const config = yield* Config.load(args.file)
    yield* Effect.logInfo(
      `polysaga server: ${config.sources.length} source(s) [${
        config.sources.map((s) => `${s.tag}:${s.engine}`).join(", ")
      }], journal ${
        "url" in config.journal
          ? "postgres"
          : `embedded ${config.journal.engine ?? "sqlite"} (${config.journal.embedded})`
      }, ` +
        `auth ${config.apiKeys === undefined ? "OFF" : `${config.apiKeys.length} key(s)`}, ` +
        `tracing ${
          [
            ...(config.otlp === undefined ? [] : [`OTLP ${config.otlp.endpoint}`]),
            ...(config.consoleSpans ? ["console"] : [])
          ].join(" + ") || "off"
        }, metrics at /metrics`
    ).pipe(Effect.provide(observability.logging(config)))
    if (args.initDemo) yield* demo.initDemo(config).pipe(Effect.provide(observability.logging(config)))
    return yield* Layer.launch(layer(config))
  }).pipe(adapters.provide)
