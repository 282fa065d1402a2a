import * as Layer from "effect/Layer"

/**
 * Effect's tracer backed by the globally registered OpenTelemetry tracer provider, when one is registered and
 * `@opentelemetry/api` and `@effect/opentelemetry` (optional peers) can be loaded; otherwise no layer (Effect's own
 * spans, exported nowhere).
 * @internal
 */
export const globalTracer = async (name: string): Promise<Layer.Layer<never>> => {
  const modules = await Promise.all([import("@opentelemetry/api"), import("@effect/opentelemetry/Tracer")]).catch(
    () => undefined
  )
  if (modules === undefined) return Layer.empty
  const [api, Tracer] = modules
  const provider = api.trace.getTracerProvider()
  // the global provider is a proxy; until an SDK registers itself, it delegates to the no-op provider
  const noop = new api.ProxyTracerProvider().getDelegate()
  if (provider instanceof api.ProxyTracerProvider && provider.getDelegate() === noop) return Layer.empty
  return Tracer.layerWithoutOtelTracer.pipe(Layer.provide(Layer.succeed(Tracer.OtelTracer, provider.getTracer(name))))
}
