import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { Client, count, resetTables, run, serverLayer, SqlLive } from "./support.js"

/** Every log line the server writes, as text with its annotations. */
const lines: Array<string> = []
const capture = Logger.make(({ annotations, message }) => {
  lines.push(`${JSON.stringify(message)} ${JSON.stringify(Object.fromEntries(annotations))}`)
})

const Env = serverLayer({ limits: { maxBodyBytes: 1024 * 1024, maxOperations: 20 } }).pipe(
  Layer.provide(Logger.add(capture)),
  Layer.provideMerge(Layer.effectDiscard(resetTables)),
  Layer.provideMerge(SqlLive)
)

const from = {
  postgres: { type: "database", tag: "db1", entity: "table1" },
  mongo: { type: "database", tag: "profiles-mongo", entity: "profiles" },
  neo4j: { type: "graph", tag: "events-neo4j", entity: "HostileEvent" },
  chroma: { type: "vector", tag: "user-search", entity: "hostile_vectors" }
}

const postRaw = (raw: string) => Effect.flatMap(Client, (c) => c.request("POST", "/v1/transactions", { raw }))

const refused = (
  response: { readonly status: number; readonly body: any },
  code: string,
  path: string | undefined
) => {
  assert.strictEqual(response.status, 400, JSON.stringify(response.body))
  assert.strictEqual(response.body.error.code, code, JSON.stringify(response.body))
  assert.strictEqual(response.body.error.path, path, JSON.stringify(response.body))
}

layer(Env, { timeout: "90 seconds", excludeTestServices: true })("hostile input over HTTP", (it) => {
  it.effect("a where nested 10,000 levels deep is a 400 with its path on every store, never a 500", () =>
    Effect.gen(function*() {
      const deep = `${"{\"$not\":".repeat(10_000)}{"id":"x"}${"}".repeat(10_000)}`
      for (const source of Object.values(from)) {
        const response = yield* postRaw(
          `{"operations":[{"operation":"select","from":${JSON.stringify(source)},"where":${deep}}]}`
        )
        assert.strictEqual(response.status, 400, JSON.stringify(response.body).slice(0, 300))
        assert.strictEqual(response.body.error.code, "VALIDATION_ERROR")
        assert.isTrue(response.body.error.path.startsWith("operations[0].where.$not.$not"))
        assert.include(response.body.error.message, "nests deeper than 32 levels")
      }
    }))

  it.effect("NUL, lone surrogates and prototype keys are refused before the first write; the journal has no saga", () =>
    Effect.gen(function*() {
      const client = yield* Client
      const before = yield* count("table1")
      const insert = (data: string) => `{"operation":"insert","from":${JSON.stringify(from.postgres)},"data":${data}}`
      const cases: ReadonlyArray<readonly [string, string, string]> = [
        [`{"s":"a\\u0000b","id":1}`, "VALIDATION_ERROR", "operations[1].data.s"],
        [`{"s":"a\\ud800b","id":1}`, "VALIDATION_ERROR", "operations[1].data.s"],
        [`{"__proto__":"x","id":1}`, "VALIDATION_ERROR", "operations[1].data.__proto__"],
        [`{"constructor":"x","id":1}`, "VALIDATION_ERROR", "operations[1].data.constructor"]
      ]
      for (const [i, [data, code, path]] of cases.entries()) {
        const id = `hostile-${run}-${i}`
        // the first operation is valid: the bad second one must stop the transaction before it writes
        const response = yield* postRaw(
          `{"operations":[${insert(`{"id":${1000 + i}}`)},${insert(data)}],"options":{"id":"${id}"}}`
        )
        refused(response, code, path)
        const journaled = yield* client.request("GET", `/v1/transactions/${id}`)
        assert.strictEqual(journaled.status, 404)
      }
      const badId = yield* postRaw(`{"operations":[${insert(`{"id":1}`)}],"options":{"id":"a\\u0000b"}}`)
      refused(badId, "VALIDATION_ERROR", "options.id")
      assert.strictEqual(yield* count("table1"), before)
    }))

  it.effect("an error path is named once, on Chroma as on the other stores", () =>
    Effect.gen(function*() {
      const client = yield* Client
      const response = yield* client.request("POST", "/v1/transactions", {
        body: {
          operations: [{
            operation: "select",
            from: from.chroma,
            where: { $or: [{ name: { $like: "a%" } }, { name: "b" }] }
          }]
        }
      })
      refused(response, "UNSUPPORTED_OPERATOR", "operations[0].where.$or[0].name.$like")
    }))

  it.effect("a key in the query string never reaches the log", () =>
    Effect.gen(function*() {
      const client = yield* Client
      const secret = `sk-${run}-do-not-log`
      const response = yield* client.request("GET", `/v1/transactions?api_key=${secret}&limit=5`)
      assert.isBelow(response.status, 500)
      yield* client.request("GET", `/v1/transactions/nope?token=${secret}`)
      const logged = lines.filter((line) => line.includes("http.url"))
      assert.isTrue(logged.some((line) => line.includes("/v1/transactions?REDACTED")), logged.join("\n"))
      assert.isTrue(logged.some((line) => line.includes("/v1/transactions/nope?REDACTED")), logged.join("\n"))
      assert.isFalse(lines.some((line) => line.includes(secret)))
    }))
})
