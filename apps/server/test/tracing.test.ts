import * as HttpServer from "@effect/platform/HttpServer"
import { assert, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as http from "node:http"
import * as Config from "../src/Config.js"
import * as Server from "../src/Server.js"
import { makeClient, resetSchema, SqlLive, tmpDir } from "./support.js"

const schema = "server_tracing"

interface Span {
  readonly name: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly traceId: string
}

/** A stand-in OTLP/HTTP collector on loopback: keeps the spans of every JSON export. */
const collector = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly spans: Array<Span>; readonly server: http.Server }>((resume) => {
    const spans: Array<Span> = []
    const server = http.createServer((req, res) => {
      let body = ""
      req.on("data", (c) => (body += c))
      req.on("end", () => {
        const json = JSON.parse(body)
        for (const resource of json.resourceSpans ?? []) {
          for (const scope of resource.scopeSpans ?? []) spans.push(...scope.spans)
        }
        res.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      resume(Effect.succeed({ url: `http://127.0.0.1:${port}/v1/traces`, spans, server }))
    })
  }),
  ({ server }) => Effect.sync(() => server.close())
)

it.scopedLive(
  "with otlp configured, a request is traced down to the saga's steps over OTLP/HTTP",
  () =>
    Effect.gen(function*() {
      yield* resetSchema(schema).pipe(Effect.provide(SqlLive))
      const otlp = yield* collector
      const config = yield* Config.decode({
        port: 0,
        journal: { embedded: tmpDir("tracing") },
        sources: [{ tag: "db1", type: "database", engine: "postgres", url: "${POLYSAGA_PG_URL}", schema }],
        otlp: { endpoint: otlp.url, serviceName: "polysaga-test" }
      })
      const response = yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(Server.layer(config))
        const address = Context.get(context, HttpServer.HttpServer).address as HttpServer.TcpAddress
        return yield* makeClient(`http://127.0.0.1:${address.port}`, undefined).request("POST", "/v1/transactions", {
          body: {
            operations: [{
              operation: "insert",
              from: { type: "database", tag: "db1", entity: "table1" },
              data: { id: 9 }
            }]
          }
        })
      }))
      // the server is stopped: its spans are flushed
      assert.strictEqual(response.body.status, "completed")
      const byId = new Map(otlp.spans.map((s) => [s.spanId, s]))
      const step = otlp.spans.find((s) => s.name === "Saga.step")
      assert.isDefined(step, otlp.spans.map((s) => s.name).join(", "))
      const chain: Array<string> = []
      for (let span: Span | undefined = step; span !== undefined; span = byId.get(span.parentSpanId ?? "")) {
        chain.push(span.name)
      }
      assert.includeMembers(chain, ["Saga.step", "Saga.execute", "Warehouse.transaction", "Transactions.run"])
      assert.match(chain.at(-1)!, /^http\.server POST/)
    }),
  180_000
)
