/**
 * What an operator plugs in: JSON logs with the request id, `x-request-id` in and out, spans on the console,
 * Prometheus metrics at `/metrics`, and JSON 404s for paths no route answers. Against the real PostgreSQL.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { afterEach, vi } from "vitest"
import { Client, resetSchema, serverLayer, SqlLive } from "./support.js"

const schema = "server_observability"
const insert = (id: number) => ({
  operations: [{ operation: "insert", from: { type: "database", tag: "db1", entity: "table1" }, data: { id } }]
})

afterEach(() => void vi.restoreAllMocks())

/** What the server prints while `body` runs: console.log lines and console.dir objects. */
const capture = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const objects: Array<unknown> = []
    vi.spyOn(console, "log").mockImplementation((...args: Array<unknown>) => void lines.push(args.join(" ")))
    vi.spyOn(console, "dir").mockImplementation((value: unknown) => void objects.push(value))
    const result = yield* body
    return { result, lines, objects }
  })

// one server for both tests (its start is most of their time), on a fresh schema
const Env = serverLayer({
  sources: [{ tag: "db1", type: "database", engine: "postgres", url: "${POLYSAGA_PG_URL}", schema }],
  logFormat: "json",
  consoleSpans: true
}).pipe(Layer.provideMerge(Layer.effectDiscard(resetSchema(schema).pipe(Effect.provide(SqlLive)))))

layer(Env, { timeout: "240 seconds", excludeTestServices: true })("what an operator plugs in", (it) => {
  it.effect("logs as JSON with the request id, returns x-request-id, prints spans with it", () =>
    Effect.gen(function*() {
      const { lines, objects, result } = yield* capture(
        Effect.gen(function*() {
          const client = yield* Client
          const sent = yield* client.request("POST", "/v1/transactions", {
            body: insert(1),
            headers: { "x-request-id": "req-7f3a" }
          })
          const fresh = yield* client.request("GET", "/health")
          return { sent, fresh }
        })
      )
      assert.strictEqual(result.sent.status, 200)
      assert.strictEqual(result.sent.headers.get("x-request-id"), "req-7f3a")
      assert.match(result.fresh.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/)
      const json = lines.flatMap((line) => {
        try {
          return [JSON.parse(line) as { message: unknown; annotations: Record<string, unknown> }]
        } catch {
          return []
        }
      })
      assert.isAbove(json.length, 0, lines.join("\n"))
      assert.strictEqual(json.length, lines.length, `every line is JSON:\n${lines.join("\n")}`)
      const tagged = json.filter((line) => line.annotations["requestId"] === "req-7f3a")
      assert.includeMembers(tagged.map((line) => line.message), ["saga completed", "Sent HTTP response"])
      const sentLog = tagged.find((line) => line.message === "Sent HTTP response")!
      assert.strictEqual(sentLog.annotations["http.status"], 200)
      const spans = objects as Array<{ name: string; traceId: string; attributes: Record<string, unknown> }>
      const request = spans.find((span) => span.attributes["http.request.id"] === "req-7f3a")
      assert.isDefined(request, spans.map((span) => span.name).join(", "))
      assert.isTrue(spans.some((span) => span.name === "Warehouse.transaction" && span.traceId === request!.traceId))
    }))

  it.effect("serves Prometheus metrics and a JSON 404 for unknown paths", () =>
    Effect.gen(function*() {
      const { result } = yield* capture(
        Effect.gen(function*() {
          const client = yield* Client
          const done = yield* client.request("POST", "/v1/transactions", { body: insert(2) })
          const metrics = yield* client.request("GET", "/metrics")
          const nope = yield* client.request("GET", "/nope?token=secret")
          const root = yield* client.request("DELETE", "/")
          return { done, metrics, nope, root }
        })
      )
      assert.strictEqual(result.done.status, 200)
      assert.strictEqual(result.metrics.status, 200)
      assert.match(result.metrics.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/)
      const text = result.metrics.body as string
      assert.match(text, /^# HELP polysaga_sagas_total /m)
      // (every series also carries the OpenTelemetry scope label, otel_scope_name)
      assert.match(text, /^polysaga_sagas_total\{status="completed",[^}]*\} [1-9]/m)
      assert.match(text, /^polysaga_sagas_in_flight\{[^}]*\} 0$/m)
      assert.match(text, /^polysaga_step_duration_seconds_count\{engine="postgres",outcome="success",[^}]*\} [1-9]/m)
      assert.match(
        text,
        /^polysaga_step_duration_seconds_bucket\{engine="postgres",outcome="success",[^}]*le="\+Inf"\}/m
      )
      assert.match(text, /^# TYPE polysaga_recoveries_total counter$/m)
      assert.match(text, /^polysaga_recoveries_total\{status="error",[^}]*\} 0$/m)
      assert.strictEqual(result.nope.status, 404)
      assert.deepStrictEqual(result.nope.body, { error: { code: "NOT_FOUND", message: "no route for GET /nope" } })
      assert.strictEqual(result.root.status, 404)
      assert.deepStrictEqual(result.root.body, { error: { code: "NOT_FOUND", message: "no route for DELETE /" } })
    }))
})
