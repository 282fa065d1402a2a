/**
 * What the warehouse README's seed examples after the first need (`seed-others.ts`, `graph.ts`), on the stack
 * (`.stack/env`): the tables in the schema `readme_seed` (dropped and made again), a fresh MongoDB database
 * `readme_seed`, no Chroma collection `users` (made by the first write, 3 dimensions), and `ductape.warehouse` over
 * them with the seed's tags.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { createWarehouse } from "@polysaga/warehouse"
import { ChromaClient } from "chromadb"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { MongoClient } from "mongodb"

export const env = process.env as Record<
  "POLYSAGA_PG_URL" | "POLYSAGA_MONGO_URL" | "POLYSAGA_NEO4J_URL" | "POLYSAGA_CHROMA_URL",
  string
>
const Sql = PgClient.layer({ url: Redacted.make(env.POLYSAGA_PG_URL) })
export const query = <A extends object>(text: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) => sql.unsafe<A>(text)).pipe(Effect.provide(Sql), Effect.runPromise)

// what the examples need: their tables, a fresh MongoDB database and Chroma collection
await Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  yield* sql`DROP SCHEMA IF EXISTS readme_seed CASCADE`
  yield* sql`CREATE SCHEMA readme_seed`
  yield* sql`CREATE TABLE readme_seed.users (id text PRIMARY KEY, email text UNIQUE NOT NULL, name text,
    "createdAt" timestamptz)`
  yield* sql`CREATE TABLE readme_seed.orders (id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
    "userId" text NOT NULL, items jsonb, total numeric NOT NULL, status text NOT NULL, "idempotencyKey" text UNIQUE)`
  yield* sql`CREATE TABLE readme_seed.inventory ("productId" text PRIMARY KEY,
    quantity integer NOT NULL CHECK (quantity >= 0))`
  yield* sql`INSERT INTO readme_seed.inventory VALUES ('p1', 3), ('p2', 1)`
  yield* sql`CREATE TABLE readme_seed.payments (id serial PRIMARY KEY, "orderId" text NOT NULL, amount numeric NOT NULL,
    status text NOT NULL, method text)`
  yield* sql`CREATE TABLE readme_seed.table1 (id integer PRIMARY KEY)`
  yield* sql`CREATE TABLE readme_seed.table2 (id integer PRIMARY KEY)`
  yield* sql`CREATE TABLE readme_seed.table3 (id serial PRIMARY KEY, "invalidData" boolean CHECK (NOT "invalidData"))`
}).pipe(Effect.provide(Sql), Effect.runPromise)
const mongo = await new MongoClient(env.POLYSAGA_MONGO_URL).connect()
await mongo.db("readme_seed").dropDatabase()
await mongo.close()
export const chroma = new ChromaClient({ path: env.POLYSAGA_CHROMA_URL })
await chroma.deleteCollection({ name: "users" }).catch(() => undefined)

const postgres = (tag: string) =>
  ({ tag, type: "database", engine: "postgres", url: env.POLYSAGA_PG_URL, schema: "readme_seed" }) as const
const neo4j = (tag: string) => ({ tag, type: "graph", engine: "neo4j", url: env.POLYSAGA_NEO4J_URL }) as const
export const ductape = {
  warehouse: await createWarehouse({
    sources: [
      ...["users-postgres", "orders-db", "inventory-db", "payments-db", "db1", "db2", "db3"].map(postgres),
      {
        tag: "profiles-mongo",
        type: "database",
        engine: "mongodb",
        url: env.POLYSAGA_MONGO_URL,
        database: "readme_seed"
      },
      ...["social-neo4j", "events-neo4j"].map(neo4j),
      { tag: "user-search", type: "vector", engine: "chroma", url: env.POLYSAGA_CHROMA_URL, dimension: 3 }
    ]
  })
}
