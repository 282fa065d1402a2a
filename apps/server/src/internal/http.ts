import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import * as HttpApiSwagger from "@effect/platform/HttpApiSwagger"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Http from "node:http"
import { Api, BadRequest, NotReady } from "../Api.js"
import type { ServerConfig } from "../Config.js"
import { Intake } from "../Intake.js"
import { Settings } from "../Settings.js"
import { Startup } from "../Startup.js"
import * as Auth from "./auth.js"
import * as Body from "./body.js"
import * as Console from "./console.js"
import { Prometheus } from "./observability.js"
import * as Redact from "./redact.js"

const TransactionsHandlers = HttpApiBuilder.group(Api, "transactions", (handlers) =>
  Effect.gen(function*() {
    // 503 (`NOT_READY`) until the journal and the sources are open
    const { transactions } = yield* Startup
    const settings = yield* Settings
    return handlers
      .handleRaw("run", ({ request }) =>
        Effect.flatMap(
          transactions,
          (t) => Effect.flatMap(Body.readJson(request, settings.limits.maxBodyBytes), t.run)
        ))
      .handle("list", ({ urlParams }) => Effect.flatMap(transactions, (t) => t.list(urlParams)))
      .handle("overview", () => Effect.flatMap(transactions, (t) => t.overview()))
      .handle("get", ({ path }) => Effect.flatMap(transactions, (t) => t.get(path.id)))
      .handle("compensate", ({ path }) => Effect.flatMap(transactions, (t) => t.compensate(path.id)))
      .handle("resolve", ({ path, payload }) => Effect.flatMap(transactions, (t) => t.resolve(path.id, payload.reason)))
  }))

const HealthHandlers = HttpApiBuilder.group(Api, "health", (handlers) =>
  Effect.gen(function*() {
    const startup = yield* Startup
    const intake = yield* Intake
    const prometheus = yield* Prometheus
    return handlers
      .handle("health", () => Effect.succeed({ status: "ok" as const }))
      .handle("metrics", () => prometheus.scrape)
      .handle("ready", () =>
        Effect.gen(function*() {
          if (yield* intake.isDraining) {
            return yield* new NotReady({ status: "unavailable", checks: { server: "shutting down" } })
          }
          // still opening (or failed to): what is not open yet
          const opened = yield* Effect.either(startup.transactions)
          if (opened._tag === "Left") {
            return yield* new NotReady({ status: "unavailable", checks: yield* startup.checks })
          }
          const checks = yield* opened.right.readiness()
          if (Object.values(checks).every((check) => check === "ok")) return { status: "ready" as const, checks }
          return yield* new NotReady({ status: "unavailable", checks })
        }))
  }))

/** Malformed path or query parameters answer with the API's own 400 body, like every other bad input. */
const DecodeErrors = HttpApiBuilder.middleware(Api, (app) =>
  Effect.catchIf(
    app as Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, HttpServerRequest.HttpServerRequest>,
    (error): error is HttpApiDecodeError => error instanceof HttpApiDecodeError,
    (error) => {
      const issue = error.issues[0]
      const path = issue === undefined ? undefined : issue.path.map(String).join(".")
      return Effect.fail(
        new BadRequest({
          code: "VALIDATION_ERROR",
          message: issue === undefined ? error.message : `${path}: ${issue.message}`,
          ...(path === undefined || path === "" ? {} : { path })
        })
      )
    }
  ) as HttpApp.Default<never>)

/**
 * Any request no route answers (whatever its path or method): 404 with the API's error body. A catch-all route of
 * the router, so every route added to it — at any path — takes precedence.
 */
const NotFoundRoute = HttpApiBuilder.Router.use((router) =>
  router.all(
    "*",
    Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
      const path = request.url.split("?")[0]!.slice(0, 200)
      return HttpServerResponse.unsafeJson({
        error: { code: "NOT_FOUND", message: `no route for ${request.method} ${path}` }
      }, { status: 404 })
    })
  )
)

/** Request ids a client may send: up to 128 visible ASCII characters without spaces. */
const requestIdPattern = /^[\x21-\x7e]{1,128}$/

/**
 * The request id: the client's `x-request-id` when it is a sane one, else a new UUID. Returned in `x-request-id`,
 * annotated on every log line of the request (`requestId`) and on its server span (`http.request.id`).
 */
const withRequestId = <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const sent = request.headers["x-request-id"]
    const id = sent !== undefined && requestIdPattern.test(sent) ? sent : crypto.randomUUID()
    yield* HttpApp.appendPreResponseHandler((_request, response) =>
      Effect.succeed(HttpServerResponse.setHeader(response, "x-request-id", id))
    )
    // inside the logger: the server span of a request with a query is made there (see Redact.logged)
    return yield* Redact.logged(Effect.zipRight(Effect.annotateCurrentSpan("http.request.id", id), app)).pipe(
      Effect.annotateLogs("requestId", id)
    )
  })

/**
 * Around every request: while draining, anything but `/health` is refused with 503 and `Connection: close`; a 401
 * says which scheme it wants; requests are logged with their request id (the query of the URL redacted).
 */
const edge = (app: HttpApp.Default) =>
  Effect.gen(function*() {
    const intake = yield* Intake
    const request = yield* HttpServerRequest.HttpServerRequest
    if ((yield* intake.isDraining) && request.url !== "/health") {
      return HttpServerResponse.unsafeJson({
        error: { code: "SHUTTING_DOWN", message: "the server is shutting down; retry on another instance" }
      }, { status: 503, headers: { connection: "close", "retry-after": "1" } })
    }
    yield* HttpApp.appendPreResponseHandler((_request, response) =>
      Effect.succeed(
        response.status === 401
          ? HttpServerResponse.setHeader(response, "www-authenticate", "Bearer realm=\"polysaga\"")
          : response
      )
    )
    return yield* app
  }).pipe(withRequestId)

/** The Node HTTP server object, kept to stop accepting connections at the start of a shutdown. */
export class NodeServer extends Context.Tag("@polysaga/server/NodeServer")<NodeServer, Http.Server>() {}

const nodeServer = (config: ServerConfig) =>
  Layer.unwrapEffect(Effect.sync(() => {
    const server = Http.createServer()
    // a client that sends nothing is not kept forever (slowloris); in-flight requests are not affected
    server.headersTimeout = 30_000
    server.requestTimeout = 0
    return Layer.merge(
      NodeHttpServer.layer(() => server, { port: config.port, host: config.host }),
      Layer.succeed(NodeServer, server)
    )
  }))

/**
 * The graceful shutdown, as the finalizer of a layer built after the HTTP server: stop accepting connections,
 * refuse new requests (503), wait for the running sagas within `shutdownTimeoutMs` (then interrupt and
 * compensate them), let the last responses go out, then close the remaining connections.
 */
const drain = Layer.scopedDiscard(Effect.gen(function*() {
  const intake = yield* Intake
  const server = yield* NodeServer
  const settings = yield* Settings
  const shutdown = Effect.gen(function*() {
    yield* Effect.logInfo("shutdown: stopped accepting connections and new transactions")
    const closed = yield* Deferred.make<void>()
    server.close(() => Deferred.unsafeDone(closed, Effect.void))
    server.closeIdleConnections()
    yield* intake.drain({ timeout: `${settings.shutdownTimeoutMs} millis`, compensationTimeout: "15 seconds" })
    // the responses of the last sagas: connections close once idle
    yield* Effect.sync(() => server.closeIdleConnections()).pipe(
      Effect.repeat(Schedule.spaced("50 millis")),
      Effect.raceFirst(Deferred.await(closed)),
      Effect.timeoutOption("3 seconds")
    )
    server.closeAllConnections()
    yield* Effect.logInfo("shutdown: HTTP server closed")
  })
  // A finalizer runs uninterruptibly on the fiber that SIGTERM interrupted: an interruptible region there would be
  // interrupted at once. The bounded waits run in a fiber of their own, which the finalizer awaits.
  yield* Effect.addFinalizer(() => Effect.flatMap(Effect.forkDaemon(Effect.interruptible(shutdown)), Fiber.join))
}))

/** "Listening on <address>", with how long the process took to get there (its start-up time). */
const logListening = <A, E, R>(layer: Layer.Layer<A, E, R>) =>
  Layer.effectDiscard(
    HttpServer.addressFormattedWith((address) =>
      Effect.logInfo(`Listening on ${address} (${Math.round(performance.now())} ms after the process started)`)
    )
  ).pipe(Layer.provideMerge(layer))

/**
 * The HTTP side: the API with its handlers, middleware, `/openapi.json`, `/docs` and the console at `/`, on a Node
 * server, with the graceful shutdown. Needs the transactions service, the intake and the settings.
 */
export const layer = (config: ServerConfig) => {
  const api = HttpApiBuilder.api(Api).pipe(
    Layer.provide([TransactionsHandlers, HealthHandlers]),
    Layer.provide(Auth.layer(config.apiKeys))
  )
  const http = HttpApiBuilder.serve(edge).pipe(
    Layer.provide([
      HttpApiSwagger.layer({ path: "/docs" }),
      Console.layer,
      HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" }),
      DecodeErrors,
      NotFoundRoute
    ]),
    Layer.provide(api),
    Redact.withRedactedTraces,
    logListening,
    Layer.provideMerge(nodeServer(config))
  )
  return drain.pipe(Layer.provideMerge(http))
}
