import * as HttpServer from "@effect/platform/HttpServer"
import * as PgClient from "@effect/sql-pg/PgClient"
import { ChromaClient } from "chromadb"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { MongoClient } from "mongodb"
import neo4j from "neo4j-driver"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Config from "../src/Config.js"
import * as Server from "../src/Server.js"

export const env = {
  pg: process.env.POLYSAGA_PG_URL ?? "postgres://postgres@127.0.0.1:55432/polysaga",
  mongo: process.env.POLYSAGA_MONGO_URL ?? "mongodb://127.0.0.1:57017/",
  neo4j: process.env.POLYSAGA_NEO4J_URL ?? "bolt://127.0.0.1:57687",
  chroma: process.env.POLYSAGA_CHROMA_URL ?? "http://127.0.0.1:58000"
}

/** Every store entity of the tests lives apart from the demo's and other packages' tests. */
export const schema = "server_test"
export const mongoDatabase = "polysaga_server_test"
export const apiKey = "test-key-0123456789abcdef"

/** A unique suffix per test run (the graph and vector stores are shared). */
export const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`

/** The sources of every seed example (tags as in the seed), on the test schema / database. */
export const sources = () => {
  const pg = (tag: string) => ({ tag, type: "database", engine: "postgres", url: "${POLYSAGA_PG_URL}", schema })
  return [
    pg("orders-postgres"),
    { tag: "activity-neo4j", type: "graph", engine: "neo4j", url: "${POLYSAGA_NEO4J_URL}" },
    { tag: "user-behavior", type: "vector", engine: "chroma", url: "${POLYSAGA_CHROMA_URL}" },
    pg("users-postgres"),
    {
      tag: "profiles-mongo",
      type: "database",
      engine: "mongodb",
      url: "${POLYSAGA_MONGO_URL}",
      database: mongoDatabase
    },
    { tag: "social-neo4j", type: "graph", engine: "neo4j", url: "${POLYSAGA_NEO4J_URL}" },
    { tag: "user-search", type: "vector", engine: "chroma", url: "${POLYSAGA_CHROMA_URL}" },
    pg("orders-db"),
    pg("inventory-db"),
    pg("payments-db"),
    { tag: "events-neo4j", type: "graph", engine: "neo4j", url: "${POLYSAGA_NEO4J_URL}" },
    pg("db1"),
    pg("db2"),
    pg("db3")
  ]
}

export const tmpDir = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `polysaga-${name}-`))

/** The demo SQL, pointed at another schema. */
export const schemaSql = (name = schema) =>
  fs.readFileSync(new URL("../config/demo.sql", import.meta.url), "utf8").replaceAll("demo.", `${name}.`).replace(
    "CREATE SCHEMA IF NOT EXISTS demo",
    `CREATE SCHEMA IF NOT EXISTS ${name}`
  )

export class Sql extends Context.Tag("test/Sql")<Sql, PgClient.PgClient>() {}

export const SqlLive = Layer.effect(Sql, PgClient.PgClient).pipe(
  Layer.provide(PgClient.layer({ url: Redacted.make(env.pg), maxConnections: 4 }))
)

/** Drops and re-creates the test tables (the demo's, in `server_test` or `name`). */
export const resetSchema = (name: string) =>
  Effect.gen(function*() {
    const sql = yield* Sql
    yield* sql.unsafe(`DROP SCHEMA IF EXISTS ${name} CASCADE`)
    yield* sql.unsafe(schemaSql(name))
  })

export const resetTables = resetSchema(schema)

export const count = (table: string) =>
  Effect.flatMap(Sql, (sql) =>
    Effect.map(
      sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(schema)}.${sql(table)}`,
      (rows) => rows[0]!.n
    ))

export class Stores extends Context.Tag("test/Stores")<Stores, {
  readonly mongo: MongoClient
  readonly neo4j: ReturnType<typeof neo4j.driver>
  readonly chroma: ChromaClient
}>() {}

export const StoresLive = Layer.scoped(
  Stores,
  Effect.gen(function*() {
    const mongo = yield* Effect.acquireRelease(
      Effect.promise(() => new MongoClient(env.mongo).connect()),
      (client) => Effect.promise(() => client.close())
    )
    const driver = yield* Effect.acquireRelease(
      Effect.sync(() => neo4j.driver(env.neo4j)),
      (d) => Effect.promise(() => d.close())
    )
    const url = new URL(env.chroma)
    const chroma = new ChromaClient({ host: url.hostname, port: Number(url.port), ssl: false })
    return { mongo, neo4j: driver, chroma }
  })
)

export const cypher = (query: string, params: Record<string, unknown> = {}) =>
  Effect.flatMap(Stores, ({ neo4j: driver }) =>
    Effect.promise(async () => {
      const result = await driver.executeQuery(query, params)
      return result.records.map((r) => r.toObject())
    }))

/**
 * The ids of `collection`'s records among `ids`. A fence's tombstone (metadata `polysaga:fence`: it holds the id of a
 * write the adapter fenced, so a late arrival of that write is dropped; gone at `prune`) is no record: left out, as
 * the fault harness does.
 */
export const chromaGet = (collection: string, ids: Array<string>) =>
  Effect.flatMap(Stores, ({ chroma }) =>
    Effect.promise(async () => {
      const c = await chroma.getCollection({ name: collection }).catch(() => undefined)
      if (c === undefined) return []
      const got = await c.get({ ids, include: ["metadatas" as never] })
      return got.ids.filter((_, i) => got.metadatas[i]?.["polysaga:fence"] === undefined)
    }))

/** The base URL of a running server, and requests to it. */
export class Client extends Context.Tag("test/Client")<Client, {
  readonly url: string
  readonly request: (
    method: string,
    path: string,
    options?: { readonly body?: unknown; readonly raw?: string; readonly headers?: Record<string, string> }
  ) => Effect.Effect<{ readonly status: number; readonly body: any; readonly headers: Headers }>
}>() {}

export const makeClient = (url: string, key: string | undefined): Client["Type"] => ({
  url,
  request: (method, p, options) =>
    Effect.promise(async () => {
      const response = await fetch(`${url}${p}`, {
        method,
        headers: {
          ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
          ...(options?.body === undefined && options?.raw === undefined ? {} : { "content-type": "application/json" }),
          ...options?.headers
        },
        ...(options?.raw !== undefined
          ? { body: options.raw }
          : options?.body === undefined
          ? {}
          : { body: JSON.stringify(options.body) })
      })
      const text = await response.text()
      let body: unknown = text
      try {
        body = JSON.parse(text)
      } catch {
        // not JSON
      }
      return { status: response.status, body, headers: response.headers }
    })
})

/** The server in this process on an ephemeral loopback port, with `overrides` on the test configuration. */
export const serverLayer = (overrides: Record<string, unknown> = {}, key: string | undefined = apiKey) =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const config = yield* Config.decode({
      host: "127.0.0.1",
      port: 0,
      apiKeys: [apiKey],
      journal: { embedded: tmpDir("journal") },
      sources: sources(),
      limits: { maxBodyBytes: 64 * 1024, maxOperations: 20 },
      shutdownTimeoutMs: 5000,
      ...overrides
    })
    const context = yield* Layer.build(Server.layer(config))
    const server = Context.get(context, HttpServer.HttpServer)
    const address = server.address as HttpServer.TcpAddress
    return Layer.succeed(Client, makeClient(`http://127.0.0.1:${address.port}`, key))
  }))

/** The server (with `overrides`) on freshly emptied tables, and the test's own PostgreSQL client. */
export const serverEnv = (overrides: Record<string, unknown> = {}) =>
  serverLayer(overrides).pipe(
    Layer.provideMerge(Layer.effectDiscard(resetTables)),
    Layer.provideMerge(SqlLive)
  )

/**
 * `serverEnv` and the stores' own clients, to read what a transaction left in each store. A file that runs the service
 * on the real clock (`excludeTestServices`) also gets its default logger: `logLevel: "warning"` keeps a request log
 * line per request out of the test output.
 */
export const serverEnvWithStores = (overrides: Record<string, unknown> = {}) =>
  Layer.merge(serverEnv(overrides), StoresLive)

/**
 * A `failed` saga, provoked for real: step_0 sets an order's status to `paid` (an absolute update), step_1 inserts a
 * row whose key an open transaction of the test holds, so it waits; meanwhile another writer sets the order to
 * `shipped`; then the test commits its row, step_1 fails on the duplicate key, and the undo of step_0 (set `paid`
 * back to `pending` only if it is still `paid`) conflicts. `removeConflict` puts `paid` back, as the saga left it.
 */
export const provokeFailedSaga = (client: Client["Type"], label: string) =>
  Effect.gen(function*() {
    const sql = yield* Sql
    const orderId = `order-${label}-${run}`
    const key = Math.floor(Math.random() * 1_000_000_000)
    yield* sql`INSERT INTO ${sql(schema)}.orders (id, "userId", total, status)
      VALUES (${orderId}, 'user_console', 10, 'pending')`
    const holding = yield* Deferred.make<void>()
    const commit = yield* Deferred.make<void>()
    const holder = yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`INSERT INTO ${sql(schema)}.table1 (id) VALUES (${key})`
      yield* Deferred.succeed(holding, undefined)
      yield* Deferred.await(commit)
    })).pipe(Effect.orDie, Effect.fork)
    yield* Deferred.await(holding)
    const id = `console-${label}-${run}`
    const saga = yield* client.request("POST", "/v1/transactions", {
      body: {
        operations: [
          {
            operation: "update",
            from: { type: "database", tag: "orders-db", entity: "orders" },
            where: { id: orderId },
            data: { status: "paid" }
          },
          { operation: "insert", from: { type: "database", tag: "db1", entity: "table1" }, data: { id: key } }
        ],
        options: { id }
      }
    }).pipe(Effect.fork)
    const status = sql<{ status: string }>`SELECT status FROM ${sql(schema)}.orders WHERE id = ${orderId}`.pipe(
      Effect.map((rows) => rows[0]?.status),
      Effect.orDie
    )
    yield* status.pipe(
      Effect.repeat({ until: (s) => s === "paid", schedule: Schedule.spaced("20 millis") }),
      Effect.timeout("20 seconds"),
      Effect.orDie
    )
    // another writer changes the record before the undo
    yield* sql`UPDATE ${sql(schema)}.orders SET status = 'shipped' WHERE id = ${orderId}`.pipe(Effect.orDie)
    yield* Deferred.succeed(commit, undefined)
    yield* Fiber.join(holder)
    const response = yield* Fiber.join(saga)
    return {
      id,
      orderId,
      response,
      status,
      removeConflict: sql`UPDATE ${sql(schema)}.orders SET status = 'paid' WHERE id = ${orderId}`.pipe(Effect.orDie)
    }
  })
