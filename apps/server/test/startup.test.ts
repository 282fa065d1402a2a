/**
 * Liveness before readiness: the HTTP server answers `/health` at once, while the journal and the sources still
 * open; `/ready` and the transaction endpoints answer 503 naming what is not open yet, until it is. A source's
 * PostgreSQL sits behind a loopback gate that holds its connections until the test opens it.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Net from "node:net"
import * as Config from "../src/Config.js"
import * as Server from "../src/Server.js"
import { apiKey, makeClient, mongoDatabase, schema, tmpDir } from "./support.js"

/** A loopback proxy to `target` that holds every connection until `open()`, then forwards them. */
const gate = (target: URL) =>
  Effect.acquireRelease(
    Effect.async<{ readonly port: number; readonly open: () => void; readonly close: (done: () => void) => void }>(
      (resume) => {
        const held: Array<Net.Socket> = []
        const sockets = new Set<Net.Socket>()
        let opened = false
        const forward = (client: Net.Socket) => {
          const upstream = Net.connect(Number(target.port), target.hostname)
          sockets.add(upstream)
          client.pipe(upstream).pipe(client)
          for (const socket of [client, upstream]) {
            socket.on("error", () => {
              client.destroy()
              upstream.destroy()
            })
          }
        }
        const server = Net.createServer((client) => {
          sockets.add(client)
          if (opened) forward(client)
          else held.push(client)
        })
        server.listen(0, "127.0.0.1", () =>
          resume(Effect.succeed({
            port: (server.address() as Net.AddressInfo).port,
            open: () => {
              opened = true
              for (const client of held.splice(0)) forward(client)
            },
            close: (done) => {
              for (const socket of sockets) socket.destroy()
              server.close(() => done())
            }
          })))
      }
    ),
    (g) => Effect.async<void>((resume) => g.close(() => resume(Effect.void)))
  )

/** A free loopback port: the server's own, known before it listens. */
const freePort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as Net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

describe("startup", () => {
  it.live(
    "/health answers while the sources open; /ready and the transactions answer 503 naming them until then",
    () =>
      Effect.gen(function*() {
        const pg = new URL(process.env.POLYSAGA_PG_URL!)
        const held = yield* gate(pg)
        const port = yield* freePort
        const gated = new URL(pg)
        gated.port = String(held.port)
        const config = yield* Config.decode({
          host: "127.0.0.1",
          port,
          apiKeys: [apiKey],
          journal: { embedded: tmpDir("startup-journal") },
          sources: [
            { tag: "gated-postgres", type: "database", engine: "postgres", url: gated.toString(), schema },
            {
              tag: "profiles-mongo",
              type: "database",
              engine: "mongodb",
              url: "${POLYSAGA_MONGO_URL}",
              database: mongoDatabase
            }
          ]
        })
        const starting = yield* Effect.forkScoped(Layer.build(Server.layer(config)))
        const client = makeClient(`http://127.0.0.1:${port}`, apiKey)
        // live: the process answers although a source is still connecting
        const health = yield* Effect.tryPromise(() =>
          fetch(`http://127.0.0.1:${port}/health`).then(async (r) => ({ status: r.status, body: await r.json() }))
        ).pipe(Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("30 seconds"))))
        assert.strictEqual(health.status, 200)
        assert.deepStrictEqual(health.body, { status: "ok" })
        // not ready: the gated source is named
        const notReady = yield* client.request("GET", "/ready")
        assert.strictEqual(notReady.status, 503)
        assert.strictEqual(notReady.body.status, "unavailable")
        assert.strictEqual(notReady.body.checks["source:gated-postgres"], "opening", JSON.stringify(notReady.body))
        assert.include(["opening", "ok"], notReady.body.checks.journal)
        const refused = yield* client.request("POST", "/v1/transactions", {
          body: {
            operations: [{
              operation: "insert",
              from: { type: "database", tag: "profiles-mongo", entity: "profiles" },
              data: { userId: "startup" }
            }]
          }
        })
        assert.strictEqual(refused.status, 503)
        assert.strictEqual(refused.body.error.code, "NOT_READY")
        assert.include(refused.body.error.message, "source:gated-postgres (opening)")
        const list = yield* client.request("GET", "/v1/transactions")
        assert.strictEqual(list.status, 503)
        // the source connects: the layer is built, everything is ready
        held.open()
        yield* Fiber.join(starting)
        const ready = yield* client.request("GET", "/ready")
        assert.strictEqual(ready.status, 200, JSON.stringify(ready.body))
        assert.deepStrictEqual(ready.body.checks, {
          journal: "ok",
          "source:gated-postgres": "ok",
          "source:profiles-mongo": "ok"
        })
        assert.strictEqual((yield* client.request("GET", "/v1/transactions")).status, 200)
      }).pipe(Effect.scoped),
    { timeout: 60_000 }
  )
})
