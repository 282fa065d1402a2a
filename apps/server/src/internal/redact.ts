import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpTraceContext from "@effect/platform/HttpTraceContext"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"

/**
 * A URL as logs and traces show it: the query is replaced by `REDACTED` (a client may put an API key or a token
 * there; the API reads nothing secret from it).
 */
export const url = (raw: string): string => {
  const q = raw.indexOf("?")
  return q === -1 || q === raw.length - 1 ? raw : `${raw.slice(0, q)}?REDACTED`
}

const holdsQuery = (request: HttpServerRequest.HttpServerRequest) => url(request.url) !== request.url

/**
 * A request with a query gets its server span here, without the query (the platform's tracer, which would record
 * `url.full` and `url.query`, is off for it: {@link withRedactedTraces}).
 */
const traced =
  (request: HttpServerRequest.HttpServerRequest) => <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> =>
    holdsQuery(request)
      ? Effect.withSpan(app, `http.server ${request.method}`, {
        kind: "server",
        parent: Option.getOrUndefined(HttpTraceContext.fromHeaders(request.headers)),
        attributes: {
          "http.request.method": request.method,
          "url.path": url(request.url).slice(0, request.url.indexOf("?")),
          "url.query": "REDACTED"
        }
      })
      : app

/**
 * Logs every request (`http.method`, `http.url`, `http.status`) with the query of its URL redacted. The app itself
 * sees the request as it came.
 */
export const logged = <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    Effect.provideService(
      HttpMiddleware.logger(Effect.provideService(app, HttpServerRequest.HttpServerRequest, request)),
      HttpServerRequest.HttpServerRequest,
      request.modify({ url: url(request.url) })
    ).pipe(traced(request)))

/** Around the serving layer: the platform's request tracer is off for a request with a query. */
export const withRedactedTraces = <A, E, R>(serve: Layer.Layer<A, E, R>): Layer.Layer<A, E, R> =>
  HttpMiddleware.withTracerDisabledWhen(serve, holdsQuery)
