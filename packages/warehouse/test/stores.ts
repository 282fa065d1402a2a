/**
 * The four real stores as the warehouse tests use them: sources by tag (from configuration) and raw clients to
 * read what the stores hold.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { ChromaClient } from "chromadb"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { MongoClient } from "mongodb"
import neo4j from "neo4j-driver"
import type { Source } from "../src/index.js"

const env = {
  pg: process.env.POLYSAGA_PG_URL ?? "postgres://postgres@127.0.0.1:55432/polysaga",
  mongo: process.env.POLYSAGA_MONGO_URL ?? "mongodb://127.0.0.1:57017/",
  neo4j: process.env.POLYSAGA_NEO4J_URL ?? "bolt://127.0.0.1:57687",
  chroma: process.env.POLYSAGA_CHROMA_URL ?? "http://127.0.0.1:58000"
}
export const mongoDatabase = "polysaga_seed"

export const sources: ReadonlyArray<Source.SourceConfig> = [
  ...["orders-postgres", "users-postgres", "orders-db", "inventory-db", "payments-db", "db1"].map((tag) => ({
    tag,
    type: "database" as const,
    engine: "postgres" as const,
    url: env.pg
  })),
  { tag: "profiles-mongo", type: "database", engine: "mongodb", url: env.mongo, database: mongoDatabase },
  ...["activity-neo4j", "social-neo4j", "events-neo4j"].map((tag) => ({
    tag,
    type: "graph" as const,
    engine: "neo4j" as const,
    url: env.neo4j
  })),
  ...["user-behavior", "user-search"].map((tag) => ({
    tag,
    type: "vector" as const,
    engine: "chroma" as const,
    url: env.chroma,
    dimension: 3
  }))
]

export class Clients extends Context.Tag("test/Clients")<Clients, {
  readonly sql: PgClient.PgClient
  readonly mongo: MongoClient
  readonly graph: (cypher: string, params?: Record<string, unknown>) => Effect.Effect<Array<Record<string, any>>>
  readonly chroma: ChromaClient
}>() {}

export const ClientsLive = Layer.scoped(
  Clients,
  Effect.gen(function*() {
    const context = yield* Layer.build(PgClient.layer({ url: Redacted.make(env.pg), maxConnections: 2 }))
    const mongo = yield* Effect.acquireRelease(
      Effect.promise(() => new MongoClient(env.mongo).connect()),
      (client) => Effect.promise(() => client.close())
    )
    const driver = yield* Effect.acquireRelease(
      Effect.sync(() => neo4j.driver(env.neo4j, undefined, { disableLosslessIntegers: true })),
      (d) => Effect.promise(() => d.close())
    )
    return {
      sql: Context.get(context, PgClient.PgClient),
      mongo,
      graph: (cypher, params) =>
        Effect.promise(() => driver.executeQuery(cypher, params ?? {})).pipe(
          Effect.map((result) => result.records.map((r) => r.toObject()))
        ),
      chroma: new ChromaClient({ path: env.chroma })
    }
  })
)
