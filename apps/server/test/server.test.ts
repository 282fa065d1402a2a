import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as http from "node:http"
import {
  apiKey,
  chromaGet,
  Client,
  count,
  cypher,
  env,
  mongoDatabase,
  run,
  serverEnvWithStores,
  serverLayer,
  Sql,
  SqlLive,
  Stores
} from "./support.js"

const Env = serverEnvWithStores({ logLevel: "warning" })

const post = (body: unknown) => Effect.flatMap(Client, (c) => c.request("POST", "/v1/transactions", { body }))

const vector = [0.12, 0.56, 0.33, 0.91]

/** The seed's first example. */
const basic = (userId: string) => [
  {
    operation: "insert",
    from: { type: "database", tag: "orders-postgres", entity: "orders" },
    data: { userId, total: 99.99, status: "pending" }
  },
  {
    operation: "insert",
    from: { type: "graph", tag: "activity-neo4j", entity: "OrderEvent" },
    data: { type: "ORDER_PLACED", userId, timestamp: new Date().toISOString() }
  },
  {
    operation: "upsert",
    from: { type: "vector", tag: "user-behavior", entity: "behaviors" },
    data: { id: `${userId}_purchase`, vector, metadata: { action: "purchase", amount: 99.99 } }
  }
]

/** The seed's failure example. */
const failing = [
  { operation: "insert", from: { type: "database", tag: "db1", entity: "table1" }, data: { id: 1 } },
  { operation: "insert", from: { type: "database", tag: "db2", entity: "table2" }, data: { id: 1 } },
  { operation: "insert", from: { type: "database", tag: "db3", entity: "table3" }, data: { invalidData: true } }
]

/** Row counts of every test table: "nothing written" means these do not move. */
const snapshot = Effect.all({
  orders: count("orders"),
  users: count("users"),
  payments: count("payments"),
  table1: count("table1"),
  table2: count("table2"),
  table3: count("table3"),
  stock: Effect.flatMap(Sql, (sql) => sql`SELECT "productId", quantity FROM server_test.inventory ORDER BY 1`)
})

layer(Env, { timeout: "90 seconds", excludeTestServices: true })("the warehouse service over HTTP", (it) => {
  it.effect("the seed's basic transaction: 200 completed, the order, the graph event and the vector are stored", () =>
    Effect.gen(function*() {
      const userId = `user_${run}_basic`
      const { body, status } = yield* post({ operations: basic(userId) })
      assert.strictEqual(status, 200, JSON.stringify(body))
      assert.strictEqual(body.status, "completed")
      assert.isString(body.id)
      assert.deepStrictEqual(Object.keys(body.stepResults), ["step_0", "step_1", "step_2"])
      assert.deepStrictEqual(body.compensatedSteps, [])
      const sql = yield* Sql
      const orders = yield* sql`SELECT "userId", total::text, status FROM server_test.orders WHERE "userId" = ${userId}`
      assert.deepStrictEqual(orders, [{ userId, total: "99.99", status: "pending" }])
      const events = yield* cypher("MATCH (e:OrderEvent {userId: $userId}) RETURN e.type AS type", { userId })
      assert.deepStrictEqual(events, [{ type: "ORDER_PLACED" }])
      assert.deepStrictEqual(yield* chromaGet("behaviors", [`${userId}_purchase`]), [`${userId}_purchase`])

      // the journal tells the same story
      const client = yield* Client
      const record = yield* client.request("GET", `/v1/transactions/${body.id}`)
      assert.strictEqual(record.status, 200)
      assert.strictEqual(record.body.status, "completed")
      assert.deepStrictEqual(record.body.steps.map((s: any) => [s.id, s.status, s.tag]), [
        ["step_0", "completed", "orders-postgres"],
        ["step_1", "completed", "activity-neo4j"],
        ["step_2", "completed", "user-behavior"]
      ])
      assert.isNumber(record.body.executionTime)
      assert.strictEqual(record.body.steps[0].data[0].userId, userId)
    }))

  // on the real clock (the layer excludes the test services): the service's own timers run as in production
  it.effect("a transaction's timeout holds over HTTP: 1 ms for four graph writes answers compensated, nothing left", () =>
    Effect.gen(function*() {
      const key = `clock_${run}`
      const operations = [0, 1, 2, 3].map((i) => ({
        operation: "insert",
        from: { type: "graph", tag: "events-neo4j", entity: "ClockProbe" },
        data: { key, i }
      }))
      const { body, status } = yield* post({ operations, options: { timeout: 1 } })
      assert.strictEqual(status, 200, JSON.stringify(body))
      assert.strictEqual(body.status, "compensated", JSON.stringify(body))
      assert.match(body.error, /timed out after 1ms/)
      assert.isAbove(body.executionTime, 0, "measured on the real clock")
      assert.deepStrictEqual(yield* cypher("MATCH (n:ClockProbe {key: $key}) RETURN n.i AS i", { key }), [])
    }))

  it.effect("the seed's multi-database write: user in PostgreSQL, profile in MongoDB, node in Neo4j, vector in Chroma", () =>
    Effect.gen(function*() {
      const userId = `user_${run}_multi`
      const { body, status } = yield* post({
        operations: [
          {
            operation: "insert",
            from: { type: "database", tag: "users-postgres", entity: "users" },
            data: { id: userId, email: `${userId}@example.com`, name: "John Doe", createdAt: new Date().toISOString() }
          },
          {
            operation: "insert",
            from: { type: "database", tag: "profiles-mongo", entity: "profiles" },
            data: { userId, bio: "", avatar: null, preferences: { theme: "dark" } }
          },
          {
            operation: "insert",
            from: { type: "graph", tag: "social-neo4j", entity: "User" },
            data: { id: userId, name: "John Doe", joinedAt: new Date().toISOString() }
          },
          {
            operation: "upsert",
            from: { type: "vector", tag: "user-search", entity: "users" },
            data: { id: userId, vector, metadata: { name: "John Doe", email: `${userId}@example.com` } }
          }
        ]
      })
      assert.strictEqual(status, 200, JSON.stringify(body))
      assert.strictEqual(body.status, "completed")
      const sql = yield* Sql
      assert.deepStrictEqual(yield* sql`SELECT name FROM server_test.users WHERE id = ${userId}`, [{
        name: "John Doe"
      }])
      const { mongo } = yield* Stores
      const profile = yield* Effect.promise(() =>
        mongo.db(mongoDatabase).collection("profiles").findOne({ userId }, { projection: { _id: 0 } })
      )
      assert.deepStrictEqual(profile as unknown, { userId, bio: "", avatar: null, preferences: { theme: "dark" } })
      assert.deepStrictEqual(yield* cypher("MATCH (u:User {id: $userId}) RETURN u.name AS name", { userId }), [{
        name: "John Doe"
      }])
      assert.deepStrictEqual(yield* chromaGet("users", [userId]), [userId])
    }))

  it.effect("the seed's order processing: enough stock completes; a short stock compensates and restores the stock", () =>
    Effect.gen(function*() {
      const order = (id: string, items: Array<{ productId: string; quantity: number }>) => [
        {
          operation: "insert",
          from: { type: "database", tag: "orders-db", entity: "orders" },
          data: { id, userId: `user_${run}`, items, total: 30, status: "processing" }
        },
        ...items.map((item) => ({
          operation: "update",
          from: { type: "database", tag: "inventory-db", entity: "inventory" },
          data: { quantity: { $decrement: item.quantity } },
          where: { productId: { $eq: item.productId }, quantity: { $gte: item.quantity } }
        })),
        {
          operation: "insert",
          from: { type: "database", tag: "payments-db", entity: "payments" },
          data: { orderId: id, amount: 30, status: "pending", method: "card" }
        },
        {
          operation: "insert",
          from: { type: "graph", tag: "events-neo4j", entity: "OrderEvent" },
          data: { orderId: id, userId: `user_${run}`, type: "ORDER_CREATED", timestamp: new Date().toISOString() }
        }
      ]
      const sql = yield* Sql
      const ok = yield* post({ operations: order(`order_${run}_1`, [{ productId: "prod_1", quantity: 2 }]) })
      assert.strictEqual(ok.body.status, "completed", JSON.stringify(ok.body))
      const before = yield* snapshot
      const short = yield* post({
        operations: order(`order_${run}_2`, [{ productId: "prod_1", quantity: 1 }, {
          productId: "prod_3",
          quantity: 6
        }])
      })
      assert.strictEqual(short.status, 200)
      assert.strictEqual(short.body.status, "compensated")
      assert.deepStrictEqual(short.body.compensatedSteps, ["step_0", "step_1"])
      assert.include(short.body.stepResults.step_2.error, "no record matches")
      assert.deepStrictEqual(yield* snapshot, before)
      assert.deepStrictEqual(yield* sql`SELECT quantity FROM server_test.inventory WHERE "productId" = 'prod_1'`, [{
        quantity: 98
      }])
      assert.deepStrictEqual(
        yield* cypher("MATCH (e:OrderEvent {orderId: $id}) RETURN count(e) AS n", { id: `order_${run}_2` }).pipe(
          Effect.map((rows) => rows.map((r) => Number(r.n)))
        ),
        [0]
      )
    }))

  it.effect("the seed's failure example: 200 compensated, step_0 and step_1 undone, the journal shows the undo", () =>
    Effect.gen(function*() {
      const { body, status } = yield* post({ operations: failing })
      assert.strictEqual(status, 200)
      assert.strictEqual(body.status, "compensated")
      assert.deepStrictEqual(body.compensatedSteps, ["step_0", "step_1"])
      assert.include(body.error, "check constraint")
      assert.strictEqual(yield* count("table1"), 0)
      assert.strictEqual(yield* count("table2"), 0)
      assert.strictEqual(yield* count("table3"), 0)
      const client = yield* Client
      const record = yield* client.request("GET", `/v1/transactions/${body.id}`)
      assert.strictEqual(record.body.status, "compensated")
      assert.deepStrictEqual(record.body.steps.map((s: any) => [s.id, s.status, s.compensation?.status]), [
        ["step_0", "compensated", "succeeded"],
        ["step_1", "compensated", "succeeded"],
        ["step_2", "failed", undefined]
      ])
      assert.deepStrictEqual(record.body.compensatedSteps, ["step_1", "step_0"])
      assert.deepStrictEqual(record.body.pendingCompensations, [])
      assert.include(record.body.steps[2].error, "check constraint")
      // only a failed transaction has a compensation to retry
      const retry = yield* client.request("POST", `/v1/transactions/${body.id}/compensate`)
      assert.strictEqual(retry.status, 409)
      assert.strictEqual(retry.body.error.code, "NOT_FAILED")
    }))

  it.effect("bad input: 400 with code, message and path, and nothing is written", () =>
    Effect.gen(function*() {
      const before = yield* snapshot
      const good = failing.slice(0, 2)
      const withThird = (tag: string, entity: string, data: Record<string, unknown>) => ({
        operations: [...good, { operation: "insert", from: { type: "database", tag, entity }, data }]
      })
      const cases: ReadonlyArray<[unknown, string, string | undefined]> = [
        [withThird("nowhere", "table3", { id: 1 }), "SOURCE_NOT_FOUND", "operations[2].from.tag"],
        [withThird("db3", "no_table", { id: 1 }), "ENTITY_NOT_FOUND", "operations[2].from.entity"],
        [withThird("db3", "table3", { nope: 1 }), "FIELD_NOT_FOUND", "operations[2].data.nope"],
        [{ operations: [...good, { operation: "explode" }] }, "VALIDATION_ERROR", "operations[2].operation"],
        [{ operations: good, options: { timeout: -5 } }, "VALIDATION_ERROR", "options.timeout"],
        [{ operations: "all of them" }, "VALIDATION_ERROR", "operations"],
        [{ ops: good }, "VALIDATION_ERROR", "ops"],
        [{ operations: good, extra: true }, "VALIDATION_ERROR", "extra"],
        [{ operations: [] }, "VALIDATION_ERROR", "operations"]
      ]
      for (const [request, code, path] of cases) {
        const { body, status } = yield* post(request)
        assert.strictEqual(status, 400, JSON.stringify(body))
        assert.deepStrictEqual(Object.keys(body), ["error"])
        assert.strictEqual(body.error.code, code, JSON.stringify(body))
        assert.strictEqual(body.error.path, path, JSON.stringify(body))
        assert.isString(body.error.message)
      }
      const client = yield* Client
      const notJson = yield* client.request("POST", "/v1/transactions", { raw: "{\"operations\": [" })
      assert.strictEqual(notJson.status, 400)
      assert.strictEqual(notJson.body.error.code, "VALIDATION_ERROR")
      assert.include(notJson.body.error.message, "not valid JSON")
      const badQuery = yield* client.request("GET", "/v1/transactions?status=sideways")
      assert.strictEqual(badQuery.status, 400)
      assert.strictEqual(badQuery.body.error.code, "VALIDATION_ERROR")
      assert.deepStrictEqual(yield* snapshot, before)
    }))

  it.effect("limits: a body over maxBodyBytes is 413 (declared or chunked), too many operations 400; nothing written", () =>
    Effect.gen(function*() {
      const before = yield* snapshot
      const client = yield* Client
      const big = {
        operations: [{
          operation: "insert",
          from: { type: "database", tag: "db1", entity: "table1" },
          data: { id: 7, pad: "x".repeat(70 * 1024) }
        }]
      }
      const declared = yield* client.request("POST", "/v1/transactions", { body: big })
      assert.strictEqual(declared.status, 413)
      assert.strictEqual(declared.body.error.code, "PAYLOAD_TOO_LARGE")
      // chunked, without Content-Length: refused once the limit is passed, still answered with 413
      const chunked = yield* Effect.async<{ status: number; body: string }, Error>((resume) => {
        const url = new URL(client.url)
        const req = http.request({
          host: url.hostname,
          port: url.port,
          method: "POST",
          path: "/v1/transactions",
          headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" }
        }, (res) => {
          let text = ""
          res.on("data", (c) => (text += c))
          res.on("end", () => resume(Effect.succeed({ status: res.statusCode!, body: text })))
        })
        req.on("error", (e) => resume(Effect.fail(e)))
        const payload = JSON.stringify(big)
        for (let i = 0; i < payload.length; i += 8192) req.write(payload.slice(i, i + 8192))
        req.end()
      })
      assert.strictEqual(chunked.status, 413)
      assert.strictEqual(JSON.parse(chunked.body).error.code, "PAYLOAD_TOO_LARGE")
      const many = yield* post({
        operations: Array.from({ length: 21 }, (_, i) => ({
          operation: "insert",
          from: { type: "database", tag: "db1", entity: "table1" },
          data: { id: 100 + i }
        }))
      })
      assert.strictEqual(many.status, 400)
      assert.strictEqual(many.body.error.code, "TOO_MANY_OPERATIONS")
      assert.deepStrictEqual(yield* snapshot, before)
    }))

  it.effect("auth: no key, a wrong key or another scheme is 401 with WWW-Authenticate, and nothing is written", () =>
    Effect.gen(function*() {
      const before = yield* snapshot
      const client = yield* Client
      const body = { operations: basic(`user_${run}_intruder`) }
      for (
        const authorization of [undefined, "Bearer wrong-key-0123456789abcdef", `Basic ${apiKey}`, `Bearer ${apiKey}x`]
      ) {
        const response = yield* Effect.promise(() =>
          fetch(`${client.url}/v1/transactions`, {
            method: "POST",
            headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
            body: JSON.stringify(body)
          })
        )
        assert.strictEqual(response.status, 401, String(authorization))
        assert.include(response.headers.get("www-authenticate") ?? "", "Bearer")
        const json: any = yield* Effect.promise(() => response.json())
        assert.strictEqual(json.error.code, "UNAUTHORIZED")
      }
      const list = yield* Effect.promise(() => fetch(`${client.url}/v1/transactions?status=failed`))
      assert.strictEqual(list.status, 401)
      assert.deepStrictEqual(yield* snapshot, before)
      assert.deepStrictEqual(
        yield* cypher("MATCH (e:OrderEvent {userId: $userId}) RETURN count(e) AS n", { userId: `user_${run}_intruder` })
          .pipe(Effect.map((rows) => rows.map((r) => Number(r.n)))),
        [0]
      )
    }))

  it.effect("references and dependencies over HTTP: the payment and the event carry the generated order id", () =>
    Effect.gen(function*() {
      const userId = `user_${run}_refs`
      const operations = [
        {
          id: "createOrder",
          operation: "insert",
          from: { type: "database", tag: "orders-db", entity: "orders" },
          data: { userId, total: 42, status: "processing" }
        },
        {
          id: "payment",
          operation: "insert",
          from: { type: "database", tag: "payments-db", entity: "payments" },
          data: { orderId: { $ref: "createOrder.data.0.id" }, amount: 42, status: "pending" },
          options: { timeout: 5000 }
        },
        {
          id: "event",
          operation: "insert",
          from: { type: "graph", tag: "events-neo4j", entity: "OrderEvent" },
          data: { orderId: { $ref: "createOrder.data.0.id" }, userId, type: "ORDER_CREATED" },
          dependsOn: ["payment"]
        }
      ]
      const { body, status } = yield* post({ operations, options: { concurrency: "unbounded" } })
      assert.strictEqual(status, 200, JSON.stringify(body))
      assert.strictEqual(body.status, "completed", body.error)
      assert.deepStrictEqual(Object.keys(body.stepResults), ["createOrder", "payment", "event"])
      const sql = yield* Sql
      const [order] = yield* sql<{ id: string }>`SELECT id FROM server_test.orders WHERE "userId" = ${userId}`
      assert.isString(order!.id)
      assert.deepStrictEqual(
        yield* sql`SELECT "orderId" FROM server_test.payments WHERE "orderId" = ${order!.id}`,
        [{ orderId: order!.id }]
      )
      assert.deepStrictEqual(
        yield* cypher("MATCH (e:OrderEvent {userId: $userId}) RETURN e.orderId AS orderId", { userId }),
        [{ orderId: order!.id }]
      )

      const before = yield* snapshot
      const later = yield* post({ operations: [operations[1], operations[0]] })
      assert.strictEqual(later.status, 400)
      assert.strictEqual(later.body.error.code, "VALIDATION_ERROR")
      assert.strictEqual(later.body.error.path, "operations[0].data.orderId.$ref")
      const cycle = yield* post({
        operations: [{ ...operations[0], dependsOn: ["event"] }, operations[1], operations[2]]
      })
      assert.strictEqual(cycle.status, 400)
      assert.strictEqual(cycle.body.error.path, "operations[0].dependsOn[0]")
      assert.include(cycle.body.error.message, "cycle: createOrder → event → payment → createOrder")
      const option = yield* post({ operations, options: { concurrency: -1 } })
      assert.strictEqual(option.status, 400)
      assert.strictEqual(
        option.body.error.message,
        "options.concurrency: expected a positive integer or \"unbounded\""
      )
      assert.deepStrictEqual(yield* snapshot, before)
    }))

  it.effect("health, readiness, OpenAPI and docs; unknown and listed transactions", () =>
    Effect.gen(function*() {
      const client = yield* Client
      const health = yield* Effect.promise(() => fetch(`${client.url}/health`).then((r) => r.json()))
      assert.deepStrictEqual(health, { status: "ok" })
      const ready = yield* client.request("GET", "/ready")
      assert.strictEqual(ready.status, 200)
      assert.strictEqual(ready.body.status, "ready")
      assert.strictEqual(ready.body.checks.journal, "ok")
      assert.strictEqual(ready.body.checks["source:profiles-mongo"], "ok")
      const spec: any = yield* Effect.promise(() => fetch(`${client.url}/openapi.json`).then((r) => r.json()))
      assert.includeMembers(Object.keys(spec.paths), [
        "/v1/transactions",
        "/v1/transactions/{id}",
        "/v1/transactions/{id}/compensate",
        "/health",
        "/ready"
      ])
      assert.property(spec.paths["/v1/transactions"].post.responses, "413")
      // the operations are described precisely: kinds, operators, $ref, dependsOn, per-step options, examples
      const schemas = spec.components.schemas
      const request = spec.paths["/v1/transactions"].post.requestBody.content["application/json"].schema
      const body = request.$ref === undefined ? request : schemas[request.$ref.split("/").at(-1)]
      assert.strictEqual(body.examples.length, 2)
      assert.strictEqual(body.examples[1].operations[2].data.orderId.$ref, "createOrder.data.0.id")
      const kinds = schemas.Operation.anyOf.map((o: any) => o.properties.operation.enum[0])
      assert.sameMembers(kinds, ["insert", "upsert", "update", "delete", "select"])
      const insert = schemas.Operation.anyOf[0]
      assert.includeMembers(Object.keys(insert.properties), ["id", "from", "dependsOn", "options", "data"])
      assert.strictEqual(insert.additionalProperties, false)
      assert.includeMembers(Object.keys(schemas.Comparison.properties), ["$eq", "$gte", "$in", "$like", "$null"])
      assert.includeMembers(Object.keys(schemas.Where.properties), ["$and", "$or", "$not"])
      assert.property(schemas.Ref.properties, "$ref")
      assert.includeMembers(Object.keys(schemas.OperationOptions.properties), ["timeout", "maxRetries", "allowNoMatch"])
      assert.property(spec.components.securitySchemes, "bearer")
      const docs = yield* Effect.promise(() => fetch(`${client.url}/docs`).then((r) => r.text()))
      assert.include(docs, "<html")
      const missing = yield* client.request("GET", "/v1/transactions/no-such-saga")
      assert.strictEqual(missing.status, 404)
      assert.strictEqual(missing.body.error.code, "TRANSACTION_NOT_FOUND")
      const compensateMissing = yield* client.request("POST", "/v1/transactions/no-such-saga/compensate")
      assert.strictEqual(compensateMissing.status, 404)
      const failed = yield* client.request("GET", "/v1/transactions?status=failed&limit=10")
      assert.strictEqual(failed.status, 200)
      assert.isArray(failed.body.transactions)
      const running = yield* client.request("GET", "/v1/transactions?status=running")
      assert.strictEqual(running.status, 200)
      assert.deepStrictEqual(running.body.transactions, [])
      const completed = yield* client.request("GET", "/v1/transactions?status=completed&limit=500")
      assert.strictEqual(completed.status, 200)
      assert.isAbove(completed.body.transactions.length, 0)
      assert.isTrue(completed.body.transactions.every((t: { status: string }) => t.status === "completed"))
      const compensated = yield* client.request("GET", "/v1/transactions?status=compensated&limit=500")
      assert.isTrue(compensated.body.transactions.every((t: { status: string }) => t.status === "compensated"))
      const all = yield* client.request("GET", "/v1/transactions?limit=2")
      assert.strictEqual(all.status, 200)
      assert.strictEqual(all.body.transactions.length, 2)
      const [newer, older] = all.body.transactions
      assert.isTrue(newer.startedAt >= older.startedAt, "newest first")
    }))

  it.effect("a client-chosen id is kept, and a second transaction with the same id is refused", () =>
    Effect.gen(function*() {
      const id = `order-${run}-fixed`
      const first = yield* post({ operations: failing.slice(0, 1), options: { id } })
      assert.strictEqual(first.body.id, id)
      assert.strictEqual(first.body.status, "completed")
      const again = yield* post({ operations: failing.slice(1, 2), options: { id } })
      assert.strictEqual(again.status, 400)
      assert.strictEqual(again.body.error.code, "DUPLICATE_ID")
      assert.strictEqual(yield* count("table2"), 0)
    }))
})

/**
 * A store fault polysaga cannot classify, before the first write: the PostgreSQL role of a source loses the
 * privilege to read its step barrier (SQLSTATE 42501), read before anything runs for a client-chosen id. Nothing the
 * client sent is wrong, so it is not a 400: the server answers 500 with the code `UNKNOWN` and the store's own
 * message, and nothing is written.
 */
const locked = { role: `polysaga_locked_${run}`, schema: `server_locked_${run}` }
const lockedUrl = () => {
  const url = new URL(env.pg)
  url.username = locked.role
  url.password = ""
  return url.toString()
}
const Locked = serverLayer({
  logLevel: "warning",
  sources: [{ tag: "locked", type: "database", engine: "postgres", url: lockedUrl(), schema: locked.schema }]
}).pipe(
  Layer.provideMerge(Layer.scopedDiscard(Effect.acquireRelease(
    Effect.flatMap(Sql, (sql) =>
      Effect.all([
        sql.unsafe(`CREATE ROLE ${locked.role} LOGIN`),
        sql.unsafe(`CREATE SCHEMA ${locked.schema}`),
        sql.unsafe(`CREATE TABLE ${locked.schema}.items (id integer PRIMARY KEY)`),
        sql.unsafe(`GRANT ALL ON SCHEMA ${locked.schema} TO ${locked.role}`),
        sql.unsafe(`GRANT ALL ON ${locked.schema}.items TO ${locked.role}`)
      ], { discard: true })),
    () =>
      Effect.flatMap(Sql, (sql) =>
        Effect.all([
          sql.unsafe(`DROP SCHEMA IF EXISTS ${locked.schema} CASCADE`),
          sql.unsafe(`DROP OWNED BY ${locked.role}`),
          sql.unsafe(`DROP ROLE IF EXISTS ${locked.role}`)
        ], { discard: true })).pipe(Effect.orDie)
  ))),
  Layer.provideMerge(SqlLive)
)

layer(Locked, { timeout: "60 seconds", excludeTestServices: true })("a store fault before the first write", (it) => {
  it.effect("is a 500 UNKNOWN naming the store's error, not a client error, and nothing is written", () =>
    Effect.gen(function*() {
      const sql = yield* Sql
      const client = yield* Client
      // the service created its step barrier as the source's role when it started; take it away
      yield* sql.unsafe(`ALTER TABLE ${locked.schema}.polysaga_barrier OWNER TO CURRENT_USER`)
      const answer = yield* client.request("POST", "/v1/transactions", {
        body: {
          operations: [{
            operation: "insert",
            from: { type: "database", tag: "locked", entity: "items" },
            data: { id: 1 }
          }],
          options: { id: `locked-${run}` }
        }
      })
      assert.strictEqual(answer.status, 500, JSON.stringify(answer.body))
      assert.strictEqual(answer.body.error.code, "UNKNOWN")
      assert.match(answer.body.error.message, /permission denied/)
      const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(locked.schema)}.items`
      assert.strictEqual(rows[0]!.n, 0)
    }))
})
