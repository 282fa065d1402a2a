import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Saga, SagaMetrics } from "@polysaga/saga"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import type { ServerConfig } from "../Config.js"

/** The Prometheus text of the current metrics (Effect's metric registry, read through OpenTelemetry). */
export class Prometheus extends Context.Tag("@polysaga/server/Prometheus")<Prometheus, {
  readonly scrape: Effect.Effect<string>
}>() {}

/**
 * OpenTelemetry for the service: spans over OTLP/HTTP (`otlp`, batched, flushed when the server stops) and/or
 * printed to stdout (`consoleSpans`), and Effect's metrics (`SagaMetrics` and the rest of the registry) read by a
 * Prometheus exporter that `/metrics` serializes (no listener of its own).
 */
export const layer = (config: ServerConfig): Layer.Layer<Prometheus> =>
  Layer.unwrapEffect(Effect.sync(() => {
    const exporter = new PrometheusExporter({ preventServerStart: true })
    const serializer = new PrometheusSerializer()
    const otlp = config.otlp === undefined ? [] : [
      new BatchSpanProcessor(
        new OTLPTraceExporter({
          url: config.otlp.endpoint,
          headers: Object.fromEntries(
            Object.entries(config.otlp.headers ?? {}).map(([name, value]) => [name, Redacted.value(value)])
          )
        }),
        { scheduledDelayMillis: 1000 }
      )
    ]
    const console = config.consoleSpans ? [new SimpleSpanProcessor(new ConsoleSpanExporter())] : []
    const sdk = NodeSdk.layer(() => ({
      resource: { serviceName: config.otlp?.serviceName ?? "polysaga-server" },
      spanProcessor: [...otlp, ...console],
      metricReader: exporter,
      shutdownTimeout: "5 seconds"
    }))
    const scrape = Effect.promise(() => exporter.collect()).pipe(
      Effect.map(({ resourceMetrics }) => serializer.serialize(resourceMetrics))
    )
    return Layer.mergeAll(sdk, Layer.succeed(Prometheus, { scrape }), Layer.effectDiscard(zeroes))
  }))

/** Every series of the saga metrics at 0 from the start: a dashboard tells "none yet" from "not reported". */
const zeroes = Effect.all([
  ...["completed", "compensated", "failed"].map((status) =>
    Metric.incrementBy(Metric.tagged(SagaMetrics.sagas, "status", status), 0)
  ),
  ...["completed", "compensated", "failed", "error"].map((status) =>
    Metric.incrementBy(Metric.tagged(SagaMetrics.recoveries, "status", status), 0)
  ),
  Metric.incrementBy(SagaMetrics.inFlight, 0)
], { discard: true })

const logLevels = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  error: LogLevel.Error
} as const

/**
 * The log level and format of the configuration: `logFormat: "json"` writes one JSON object per line (message,
 * level, timestamp, annotations such as `requestId`, spans) in place of the pretty logger.
 */
export const logging = (config: Pick<ServerConfig, "logLevel" | "logFormat">): Layer.Layer<never> =>
  Layer.mergeAll(
    Logger.minimumLogLevel(logLevels[config.logLevel]),
    // the service logs a line per transaction at info (`saga completed`, with its request id); the library's
    // default is Debug
    Layer.succeed(Saga.EndLogLevel, LogLevel.Info),
    config.logFormat === "json"
      ? Layer.merge(
        Logger.replace(Logger.defaultLogger, Logger.withConsoleLog(Logger.jsonLogger)),
        Logger.replace(Logger.prettyLoggerDefault, Logger.withConsoleLog(Logger.jsonLogger))
      )
      : Layer.empty
  )
