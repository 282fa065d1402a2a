/**
 * The fuzz suite's four tracked entities (fresh for each run on Mongo, Neo4j and Chroma; the test schema's `users`
 * table on PostgreSQL) and their record counts, read from the stores themselves.
 */
import * as Effect from "effect/Effect"
import { mongoDatabase, schema, Sql, Stores } from "../support.js"
import type { Store, Targets } from "./requests.js"

export const targets = (run: string): Targets => ({
  postgres: { tag: "users-postgres", entity: "users" },
  mongo: { tag: "profiles-mongo", entity: `fuzz_${run}` },
  neo4j: { tag: "events-neo4j", entity: `Fuzz_${run}` },
  chroma: { tag: "user-search", entity: `fuzz_${run}` }
})

export const count = (t: Targets): Effect.Effect<Record<Store, number>, never, Sql | Stores> =>
  Effect.gen(function*() {
    const sql = yield* Sql
    const stores = yield* Stores
    const [pg] = yield* Effect.orDie(
      sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(schema)}.${sql(t.postgres.entity)}`
    )
    return yield* Effect.promise(async () => {
      const mongo = await stores.mongo.db(mongoDatabase).collection(t.mongo.entity).countDocuments()
      const graph = await stores.neo4j.executeQuery(`MATCH (n:${t.neo4j.entity}) RETURN count(n) AS n`)
      const collection = await stores.chroma.getCollection({ name: t.chroma.entity }).catch(() => undefined)
      return {
        postgres: pg!.n,
        mongo,
        neo4j: Number(graph.records[0]!.get("n")),
        chroma: collection === undefined ? 0 : await (async () => {
          // a fence's tombstone counts as a record here: name any, so a count that is off says whether it is one
          const all = await collection.get({ include: ["metadatas" as never] })
          const fenced = all.ids.filter((_, i) => all.metadatas[i]?.["polysaga:fence"] !== undefined)
          if (fenced.length > 0) console.log(`fuzz: chroma tombstones (fenced ids): ${fenced.join(", ")}`)
          return all.ids.length
        })()
      }
    })
  })
