import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type { OtlpConfig } from "../Config.js"

/**
 * Traces over OTLP/HTTP when configured (request → `Warehouse.transaction` → `Saga.execute` → `Saga.step`), off
 * otherwise. Spans are batched and flushed when the server stops.
 */
export const layer = (otlp: OtlpConfig | undefined): Layer.Layer<never> =>
  otlp === undefined ? Layer.empty : NodeSdk.layer(() => ({
    resource: { serviceName: otlp.serviceName },
    spanProcessor: new BatchSpanProcessor(
      new OTLPTraceExporter({
        url: otlp.endpoint,
        headers: Object.fromEntries(
          Object.entries(otlp.headers ?? {}).map(([name, value]) => [name, Redacted.value(value)])
        )
      }),
      { scheduledDelayMillis: 1000 }
    ),
    shutdownTimeout: "5 seconds"
  }))
