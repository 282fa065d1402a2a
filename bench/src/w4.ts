/**
 * The seed's 4-store write (W4): a PostgreSQL row, a MongoDB document, a Neo4j node, a Chroma vector — as warehouse
 * operations, and as the raw driver calls that are its floor. The failing W4 adds a 5th step that fails (a CHECK
 * constraint), so the four before it are undone.
 */
import type { Transaction } from "@polysaga/warehouse"
import type { Source } from "@polysaga/warehouse"
import { ChromaClient } from "chromadb"
import type { Collection } from "chromadb"
import { MongoClient, ObjectId } from "mongodb"
import neo4j from "neo4j-driver"
import pg from "pg"

export const env = {
  pg: process.env.POLYSAGA_PG_URL ?? "postgres://postgres@127.0.0.1:55432/polysaga",
  mongo: process.env.POLYSAGA_MONGO_URL ?? "mongodb://127.0.0.1:57017/",
  neo4j: process.env.POLYSAGA_NEO4J_URL ?? "bolt://127.0.0.1:57687",
  chroma: process.env.POLYSAGA_CHROMA_URL ?? "http://127.0.0.1:58000"
}

export type Urls = typeof env

/** Everything the bench writes lives apart from the tests' and the demo's entities. */
export const names = {
  schema: "polysaga_bench",
  database: "polysaga_bench",
  label: "BenchUser",
  collection: "bench_users"
} as const

export const sources = (urls: Urls = env): ReadonlyArray<Source.SourceConfig> => [
  { tag: "bench-pg", type: "database", engine: "postgres", url: urls.pg, schema: names.schema },
  { tag: "bench-mongo", type: "database", engine: "mongodb", url: urls.mongo, database: names.database },
  { tag: "bench-neo4j", type: "graph", engine: "neo4j", url: urls.neo4j },
  { tag: "bench-chroma", type: "vector", engine: "chroma", url: urls.chroma, dimension: 3 }
]

const vector = [0.5, 0.1, 0.9]

/** W4 for user `id`; `fail` appends the 5th step that fails. */
export const operations = (id: string, fail: boolean): ReadonlyArray<Transaction.Operation> => [
  {
    operation: "insert",
    from: { type: "database", tag: "bench-pg", entity: "users" },
    data: { id, email: `${id}@example.com`, name: "John Doe", createdAt: new Date().toISOString() }
  },
  {
    operation: "insert",
    from: { type: "database", tag: "bench-mongo", entity: "profiles" },
    data: { userId: id, bio: "", avatar: null, preferences: { theme: "dark", newsletter: false } }
  },
  {
    operation: "insert",
    from: { type: "graph", tag: "bench-neo4j", entity: names.label },
    data: { id, name: "John Doe", joinedAt: new Date().toISOString() }
  },
  {
    operation: "upsert",
    from: { type: "vector", tag: "bench-chroma", entity: names.collection },
    data: { id, vector, metadata: { name: "John Doe", email: `${id}@example.com` } }
  },
  ...(fail
    ? [{
      operation: "insert" as const,
      from: { type: "database" as const, tag: "bench-pg", entity: "audit" },
      data: { ok: false }
    }]
    : [])
]

/** `n` PostgreSQL inserts: the step-scaling saga. */
export const steps = (id: string, n: number): ReadonlyArray<Transaction.Operation> =>
  Array.from({ length: n }, (_, i) => ({
    operation: "insert" as const,
    from: { type: "database" as const, tag: "bench-pg", entity: "steps" },
    data: { id: `${id}-${i}`, n: i }
  }))

const noEmbedding = {
  name: "bench-vectors-only",
  generate: () => Promise.reject(new Error("the bench writes vectors; it embeds nothing"))
}

/** The raw drivers, each opened once: the floor every variant is measured against. */
export interface Raw {
  readonly pool: pg.Pool
  readonly mongo: MongoClient
  readonly driver: ReturnType<typeof neo4j.driver>
  readonly chroma: ChromaClient
  /** The collection handle, fetched once (after `setup`). */
  collection: Collection | undefined
  readonly close: () => Promise<void>
}

export const openRaw = async (urls: Urls = env): Promise<Raw> => {
  const pool = new pg.Pool({ connectionString: urls.pg, max: 40 })
  const mongo = await new MongoClient(urls.mongo, { maxPoolSize: 40 }).connect()
  const driver = neo4j.driver(urls.neo4j, undefined, { maxConnectionPoolSize: 40 })
  const chromaUrl = new URL(urls.chroma)
  const chroma = new ChromaClient({ host: chromaUrl.hostname, port: Number(chromaUrl.port), ssl: false })
  return {
    pool,
    mongo,
    driver,
    chroma,
    collection: undefined,
    close: async () => {
      await pool.end()
      await mongo.close()
      await driver.close()
    }
  }
}

/** Drops and re-creates what the bench writes (the stores' own bookkeeping tables in the schema stay). */
export const setup = async (raw: Raw): Promise<void> => {
  await raw.pool.query(`CREATE SCHEMA IF NOT EXISTS ${names.schema}`)
  await raw.pool.query(`DROP TABLE IF EXISTS ${names.schema}.users, ${names.schema}.audit, ${names.schema}.steps`)
  await raw.pool.query(`CREATE TABLE ${names.schema}.users
    (id text PRIMARY KEY, email text UNIQUE NOT NULL, name text, "createdAt" timestamptz)`)
  await raw.pool.query(`CREATE TABLE ${names.schema}.audit (id serial PRIMARY KEY, ok boolean CHECK (ok))`)
  await raw.pool.query(`CREATE TABLE ${names.schema}.steps (id text PRIMARY KEY, n integer NOT NULL)`)
  await raw.mongo.db(names.database).collection("profiles").deleteMany({})
  await raw.driver.executeQuery(`MATCH (n:${names.label}) DETACH DELETE n`)
  await raw.chroma.deleteCollection({ name: names.collection }).catch(() => undefined)
  await raw.chroma.createCollection({
    name: names.collection,
    embeddingFunction: null,
    configuration: { hnsw: { space: "l2" } },
    metadata: { "polysaga:dimension": 3 }
  })
  await attach(raw)
}

/** Fetches the collection handle once. */
export const attach = async (raw: Raw): Promise<void> => {
  raw.collection = await raw.chroma.getCollection({ name: names.collection, embeddingFunction: noEmbedding })
}

/**
 * The four writes of W4 with the raw drivers. `write` resolves with what its `undo` (a plain delete) needs: the
 * record's key (for MongoDB the generated `_id`, as hex), so an engine that journals it (`@effect/workflow`) can.
 */
export interface RawWrite {
  readonly name: string
  readonly write: () => Promise<string>
  readonly undo: (key: string) => Promise<unknown>
}

export const writes = (raw: Raw, id: string): ReadonlyArray<RawWrite> => {
  const profiles = raw.mongo.db(names.database).collection("profiles")
  return [
    {
      name: "postgres",
      write: async () => {
        await raw.pool.query(
          `INSERT INTO ${names.schema}.users (id, email, name, "createdAt") VALUES ($1, $2, $3, $4)`,
          [id, `${id}@example.com`, "John Doe", new Date()]
        )
        return id
      },
      undo: (key) => raw.pool.query(`DELETE FROM ${names.schema}.users WHERE id = $1`, [key])
    },
    {
      name: "mongodb",
      write: async () => {
        const { insertedId } = await profiles.insertOne({
          userId: id,
          bio: "",
          avatar: null,
          preferences: { theme: "dark", newsletter: false }
        })
        return insertedId.toHexString()
      },
      undo: (key) => profiles.deleteOne({ _id: ObjectId.createFromHexString(key) })
    },
    {
      name: "neo4j",
      write: async () => {
        await raw.driver.executeQuery(`CREATE (u:${names.label} {id: $id, name: $name, joinedAt: $joinedAt})`, {
          id,
          name: "John Doe",
          joinedAt: new Date().toISOString()
        })
        return id
      },
      undo: (key) => raw.driver.executeQuery(`MATCH (u:${names.label} {id: $id}) DETACH DELETE u`, { id: key })
    },
    {
      name: "chroma",
      write: async () => {
        await raw.collection!.upsert({
          ids: [id],
          embeddings: [vector],
          metadatas: [{ name: "John Doe", email: `${id}@example.com` }]
        })
        return id
      },
      undo: (key) => raw.collection!.delete({ ids: [key] })
    }
  ]
}

/** RAW: the four writes, nothing else. */
export const raw = async (r: Raw, id: string): Promise<void> => {
  for (const w of writes(r, id)) await w.write()
}

/** The failing W4's 5th step: an insert its CHECK constraint refuses. */
export const failingInsert = (r: Raw) => r.pool.query(`INSERT INTO ${names.schema}.audit (ok) VALUES (false)`)

/** The hand-written saga: try the writes, on a failure undo the done ones in reverse with plain deletes. */
export const tryCatch = async (r: Raw, id: string, fail: boolean): Promise<"completed" | "compensated"> => {
  const done: Array<() => Promise<unknown>> = []
  try {
    for (const w of writes(r, id)) {
      const key = await w.write()
      done.push(() => w.undo(key))
    }
    if (fail) await failingInsert(r)
    return "completed"
  } catch {
    for (const undo of done.reverse()) await undo()
    return "compensated"
  }
}
/** The raw step-scaling floor: `n` inserts. */
export const rawSteps = async (r: Raw, id: string, n: number): Promise<void> => {
  for (let i = 0; i < n; i++) {
    await r.pool.query(`INSERT INTO ${names.schema}.steps (id, n) VALUES ($1, $2)`, [`${id}-${i}`, i])
  }
}
