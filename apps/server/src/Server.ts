/**
 * The whole service as one layer: tracing, the intake, the HTTP API with its graceful shutdown, and behind it
 * (`Startup`) the durable journal and its recovery runner and the warehouse on the configured sources.
 *
 * The HTTP server listens first, so `/health` (liveness) answers at once; the journal and the sources open in the
 * background, and until they are open `/ready` and the transaction endpoints answer 503 naming what is still opening.
 * The layer is built once they are open (and fails when they cannot open). Released in the reverse order: on
 * shutdown the HTTP side drains first (no new work, the running sagas finish or are compensated), then the recovery
 * runner stops, the sources close, the journal closes and the last spans are flushed.
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
import * as Startup from "./Startup.js"
import { Transactions } from "./Transactions.js"

/**
 * The service for a decoded configuration. Its output is the running `HttpServer` (its `address` tells the port
 * when `port` is 0).
 *
 * @since 0.1.0
 */
export const layer = (config: ServerConfig): Layer.Layer<HttpServer.HttpServer | Startup.Startup, unknown> => {
  const sources = config.sources.map((source) => `source:${source.tag}`)
  const app = (report: Startup.Report) => {
    const reported = <A, E, R>(names: ReadonlyArray<string>, layer: Layer.Layer<A, E, R>) =>
      layer.pipe(Layer.tap(() => report.opened(names)), Layer.tapError((error) => report.failed(names, error)))
    // the sources open (each store connects and checks its connection) while the journal opens: neither needs the
    // other
    const core = Warehouse.layerFromSources({ maxOperations: config.limits.maxOperations }).pipe(
      Layer.provideMerge(
        Layer.merge(
          reported(sources, Warehouse.sourcesLayer(config.sources)),
          reported(["journal"], journal.layer(config))
        )
      )
    )
    return Transactions.Default.pipe(Layer.provide(journal.recoveryLayer(config).pipe(Layer.provideMerge(core))))
  }
  // the HTTP server listens first (`/health` answers at once); the journal and the sources open behind it, and the
  // layer is built once they are open (it fails when they cannot open)
  const served = http.layer(config).pipe(
    Layer.provideMerge(Startup.layer(["journal", ...sources], app)),
    Layer.provideMerge(Intake.Default),
    Layer.provide(Layer.succeed(Settings, config))
  )
  const opened = Layer.effectDiscard(Effect.gen(function*() {
    yield* (yield* Startup.Startup).opened
    yield* Effect.logInfo(
      `Ready: the journal and ${sources.length} source(s) are open (${
        Math.round(performance.now())
      } ms after the process started)`
    )
  }))
  return opened.pipe(
    Layer.provideMerge(served),
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
