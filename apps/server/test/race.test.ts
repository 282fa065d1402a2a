/**
 * Two requests with the same `options.id` at the same moment, on the four real stores and the embedded journal:
 * exactly one runs, the others are refused with `DUPLICATE_ID`, and every store holds what the one run wrote, once.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { chromaGet, Client, cypher, mongoDatabase, run, schema, serverEnvWithStores, Sql, Stores } from "./support.js"

const Env = serverEnvWithStores({ logLevel: "warning" })

/** Rounds of simultaneous requests, and how many share one id in each round. */
const rounds = 8
const racers = 3

const operations = (key: string) => [
  {
    operation: "insert",
    from: { type: "database", tag: "payments-db", entity: "payments" },
    data: { orderId: key, amount: 1, status: "pending", method: "race" }
  },
  { operation: "insert", from: { type: "database", tag: "profiles-mongo", entity: "race_docs" }, data: { key } },
  { operation: "insert", from: { type: "graph", tag: "events-neo4j", entity: "RaceEvent" }, data: { key } },
  {
    operation: "upsert",
    from: { type: "vector", tag: "user-search", entity: `race_vectors_${run}` },
    data: { id: key, vector: [0.1, 0.2, 0.3, 0.4], metadata: { key } }
  }
]

/** How many records each store holds for `key`. */
const held = (key: string) =>
  Effect.gen(function*() {
    const sql = yield* Sql
    const { mongo } = yield* Stores
    const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(schema)}.payments
      WHERE "orderId" = ${key}`
    const docs = yield* Effect.promise(() => mongo.db(mongoDatabase).collection("race_docs").countDocuments({ key }))
    const nodes = yield* cypher("MATCH (n:RaceEvent { key: $key }) RETURN count(n) AS n", { key })
    const vectors = yield* chromaGet(`race_vectors_${run}`, [key])
    return { postgres: rows[0]!.n, mongodb: docs, neo4j: Number(nodes[0]!.n), chroma: vectors.length }
  })

layer(Env, { timeout: "120 seconds", excludeTestServices: true })("the same options.id at the same moment", (it) => {
  it.effect("exactly one request runs, the others are DUPLICATE_ID, nothing is written twice", () =>
    Effect.gen(function*() {
      const client = yield* Client
      const tally = { completed: 0, duplicate: 0 }
      for (let round = 0; round < rounds; round++) {
        const id = `race-${run}-${round}`
        const key = `race-${run}-${round}`
        const answers = yield* Effect.all(
          Array.from(
            { length: racers },
            () => client.request("POST", "/v1/transactions", { body: { operations: operations(key), options: { id } } })
          ),
          { concurrency: "unbounded" }
        )
        const ran = answers.filter((a) => a.status === 200)
        const refused = answers.filter((a) => a.status !== 200)
        assert.strictEqual(ran.length, 1, JSON.stringify(answers.map((a) => [a.status, a.body])))
        assert.strictEqual(ran[0]!.body.status, "completed", JSON.stringify(ran[0]!.body))
        assert.strictEqual(ran[0]!.body.id, id)
        for (const answer of refused) {
          assert.strictEqual(answer.status, 400, JSON.stringify(answer.body))
          assert.strictEqual(answer.body.error.code, "DUPLICATE_ID", JSON.stringify(answer.body))
          assert.strictEqual(answer.body.error.path, "options.id")
        }
        assert.deepStrictEqual(yield* held(key), { postgres: 1, mongodb: 1, neo4j: 1, chroma: 1 })
        // the journal knows the one run: completed, every step once
        const journaled = yield* client.request("GET", `/v1/transactions/${id}`)
        assert.strictEqual(journaled.status, 200)
        assert.strictEqual(journaled.body.status, "completed")
        assert.strictEqual(journaled.body.steps.length, 4)
        tally.completed += ran.length
        tally.duplicate += refused.length
      }
      assert.deepStrictEqual(tally, { completed: rounds, duplicate: rounds * (racers - 1) })
    }))
})
