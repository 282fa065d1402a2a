/**
 * Atomicity across the four real stores, as a property: random transactions over PostgreSQL, MongoDB, Neo4j and
 * Chroma, some with a step that fails at run time (a CHECK constraint, or a guard that matches nothing), must
 * end `completed` or `compensated` — and a compensated one leaves all four stores exactly as they were. The steps
 * form a random dependency graph (`dependsOn` on earlier steps; steps that write the same record depend on the
 * one before) run with a random `concurrency`: compensation walks it backwards, independent undos at once.
 */
import { assert, layer } from "@effect/vitest"
import { Conformance } from "@polysaga/testing/conformance"
import * as Effect from "effect/Effect"
import * as FC from "effect/FastCheck"
import * as Layer from "effect/Layer"
import { type Transaction, Warehouse } from "../src/index.js"
import { Clients, ClientsLive, mongoDatabase, sources } from "./stores.js"

const Env = Layer.mergeAll(Warehouse.layer({ sources }), ClientsLive)

/** Everything the transactions may touch, in a stable form. */
const snapshot = Effect.gen(function*() {
  const { chroma, graph, mongo, sql } = yield* Clients
  const rows = yield* sql`SELECT to_jsonb(t) AS row FROM atom_items t ORDER BY id`
  const docs = yield* Effect.promise(() => mongo.db(mongoDatabase).collection("atom_docs").find().toArray())
  const nodes = yield* graph("MATCH (n:AtomNode) RETURN properties(n) AS props")
  const vectors = yield* Effect.promise(async () => {
    const collection = await chroma.getCollection({ name: "atom_vectors" }).catch(() => undefined)
    return collection === undefined ? [] : (await collection.get({ include: ["metadatas", "embeddings"] as any })).ids
  })
  return {
    rows: rows.map((r) => Conformance.canonical(r.row)),
    docs: docs.map((d) => Conformance.canonical({ ...d, _id: String(d._id) })).sort(),
    nodes: nodes.map((n) => Conformance.canonical(n.props)).sort(),
    vectors: [...vectors].sort()
  }
})

type Op =
  | { readonly kind: "pgInsert"; readonly qty: number }
  | { readonly kind: "pgTake"; readonly k: number }
  | { readonly kind: "mongoInsert"; readonly n: number }
  | { readonly kind: "mongoBump"; readonly n: number }
  | { readonly kind: "graphInsert"; readonly n: number }
  | { readonly kind: "vectorUpsert"; readonly n: number }

const op: FC.Arbitrary<Op> = FC.oneof(
  // qty -1 breaks the CHECK (qty >= 0): the step fails at run time
  FC.record({ kind: FC.constant("pgInsert" as const), qty: FC.integer({ min: -1, max: 5 }) }),
  // take k from the shared stock only while it lasts: may match nothing (NoMatch)
  FC.record({ kind: FC.constant("pgTake" as const), k: FC.integer({ min: 1, max: 4 }) }),
  FC.record({ kind: FC.constant("mongoInsert" as const), n: FC.integer({ min: 0, max: 9 }) }),
  FC.record({ kind: FC.constant("mongoBump" as const), n: FC.integer({ min: 1, max: 3 }) }),
  FC.record({ kind: FC.constant("graphInsert" as const), n: FC.integer({ min: 0, max: 9 }) }),
  FC.record({ kind: FC.constant("vectorUpsert" as const), n: FC.integer({ min: 0, max: 3 }) })
)

const items = { type: "database", tag: "db1", entity: "atom_items" } as const
const stock = { ...items, tag: "inventory-db" } as const
const docs = { type: "database", tag: "profiles-mongo", entity: "atom_docs" } as const
const nodes = { type: "graph", tag: "social-neo4j", entity: "AtomNode" } as const
const vectors = { type: "vector", tag: "user-search", entity: "atom_vectors" } as const

const operation = (o: Op, run: number, i: number): Transaction.Operation => {
  const id = `r${run}_${i}`
  switch (o.kind) {
    case "pgInsert":
      return { operation: "insert", from: items, data: { id, qty: o.qty } }
    case "pgTake":
      return {
        operation: "update",
        from: stock,
        data: { qty: { $decrement: o.k } },
        where: { id: "stock", qty: { $gte: o.k } }
      }
    case "mongoInsert":
      return { operation: "insert", from: docs, data: { key: id, n: o.n } }
    case "mongoBump":
      return { operation: "update", from: docs, data: { n: { $increment: o.n } }, where: { key: "counter" } }
    case "graphInsert":
      return { operation: "insert", from: nodes, data: { key: id, n: o.n } }
    case "vectorUpsert":
      return {
        operation: "upsert",
        from: vectors,
        data: { id: `v${o.n}`, vector: [o.n, 1, 0], metadata: { run, step: i } }
      }
  }
}

/** The earlier steps that write the same record as `ops[i]` (a shared counter, the same vector id). */
const sameRecord = (ops: ReadonlyArray<Op>, i: number): Array<number> => {
  const key = (o: Op) =>
    o.kind === "pgTake" || o.kind === "mongoBump" ? o.kind : o.kind === "vectorUpsert" ? `v${o.n}` : undefined
  const k = key(ops[i]!)
  const j = k === undefined ? -1 : ops.slice(0, i).map(key).lastIndexOf(k)
  return j < 0 ? [] : [j]
}

const transaction = FC.record({
  ops: FC.array(FC.record({ op, deps: FC.array(FC.nat(), { maxLength: 2 }) }), { minLength: 1, maxLength: 6 }),
  concurrency: FC.constantFrom(1, 2, "unbounded" as const)
})

let runs = 0

layer(Env, { excludeTestServices: true, timeout: "120 seconds" })("atomicity across the four stores", (it) => {
  it.effect("setup", () =>
    Effect.gen(function*() {
      const { chroma, graph, mongo, sql } = yield* Clients
      yield* sql`DROP TABLE IF EXISTS atom_items`
      yield* sql`CREATE TABLE atom_items (id text PRIMARY KEY, qty integer NOT NULL CHECK (qty >= 0))`
      yield* sql`INSERT INTO atom_items VALUES ('stock', 6)`
      const docs = mongo.db(mongoDatabase).collection("atom_docs")
      yield* Effect.promise(() => docs.deleteMany({}).then(() => docs.insertOne({ key: "counter", n: 0 })))
      yield* graph("MATCH (n:AtomNode) DETACH DELETE n")
      yield* Effect.promise(() => chroma.deleteCollection({ name: "atom_vectors" }).catch(() => undefined))
      assert.deepStrictEqual((yield* snapshot).rows.length, 1)
    }))

  it.effect.prop(
    "a transaction either completes or leaves all four stores exactly as they were",
    [transaction],
    ([{ concurrency, ops: steps }]) =>
      Effect.gen(function*() {
        const run = runs++
        const before = yield* snapshot
        const ops = steps.map((s) => s.op)
        const operations = steps.map(({ deps, op }, i): Transaction.Operation => {
          const needs = new Set([...(i === 0 ? [] : deps.map((d) => d % i)), ...sameRecord(ops, i)])
          const dependsOn = [...needs].map((j) => `step_${j}`)
          return { ...operation(op, run, i), ...(dependsOn.length > 0 ? { dependsOn } : {}) }
        })
        const result = yield* Warehouse.transaction(operations, { concurrency })
        assert.notStrictEqual(result.status, "failed", result.error)
        const after = yield* snapshot
        if (result.status === "compensated") {
          assert.deepStrictEqual(after, before, `compensated: ${result.error}`)
        } else {
          const writes = ops.filter((o) => o.kind !== "pgTake" && o.kind !== "mongoBump" && o.kind !== "vectorUpsert")
          assert.strictEqual(
            after.rows.length + after.docs.length + after.nodes.length,
            before.rows.length + before.docs.length + before.nodes.length + writes.length,
            "every insert is there"
          )
        }
      }),
    { fastCheck: { numRuns: 25 } }
  )
})
