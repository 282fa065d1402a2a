/**
 * Selects with `fields`, `orderBy`, `limit`, `offset`, the new operators and vector search, through the warehouse
 * on the four real stores; and what a store cannot run is refused before the first write.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type Transaction, Warehouse, WarehouseError } from "../src/index.js"
import { Clients, ClientsLive, mongoDatabase, sources } from "./stores.js"

const Env = Layer.mergeAll(Warehouse.layer({ sources }), ClientsLive)

const products = [
  { sku: "p1", name: "Anvil", price: 30, tags: ["iron", "heavy"] },
  { sku: "p2", name: "anchor", price: 12, tags: ["iron"] },
  { sku: "p3", name: "Bolt", price: 1, tags: ["steel", "small"] },
  { sku: "p4", name: "bracket", price: 4, tags: ["steel"] },
  { sku: "p5", name: "Cable", price: 9, tags: [] }
]

const setup = Effect.gen(function*() {
  const { chroma, graph, mongo, sql } = yield* Clients
  yield* sql`DROP TABLE IF EXISTS wh_products`
  yield* sql`CREATE TABLE wh_products (sku text PRIMARY KEY, name text NOT NULL, price integer, tags text[])`
  yield* sql`DROP TABLE IF EXISTS wh_picks`
  yield* sql`CREATE TABLE wh_picks (id serial PRIMARY KEY, sku text NOT NULL)`
  yield* Effect.promise(() => mongo.db(mongoDatabase).collection("wh_products").deleteMany({}))
  yield* graph("MATCH (n:WhProduct) DETACH DELETE n")
  yield* Effect.promise(() => chroma.deleteCollection({ name: "wh_products" }).catch(() => undefined))
})

const insertAll: ReadonlyArray<Transaction.Operation> = [
  { operation: "insert", from: { type: "database", tag: "db1", entity: "wh_products" }, data: products },
  { operation: "insert", from: { type: "database", tag: "profiles-mongo", entity: "wh_products" }, data: products },
  { operation: "insert", from: { type: "graph", tag: "events-neo4j", entity: "WhProduct" }, data: products }
]

layer(Env, { excludeTestServices: true, timeout: "120 seconds" })("selects on the real stores", (it) => {
  it.effect("fields, orderBy, limit, offset, $containsAny and $regex read the same on PostgreSQL, MongoDB, Neo4j", () =>
    Effect.gen(function*() {
      yield* setup
      const { sql } = yield* Clients
      const inserted = yield* Warehouse.transaction(insertAll)
      assert.strictEqual(inserted.status, "completed", inserted.error)
      const page = (tag: string, type: "database" | "graph", entity: string, id: string): Transaction.Operation => ({
        id,
        operation: "select",
        from: { type, tag, entity },
        where: { tags: { $containsAny: ["iron", "steel"] }, name: { $regex: "^[a-z]" } },
        fields: ["sku", "price"],
        orderBy: [{ field: "price", order: "DESC" }],
        limit: 1,
        offset: 1
      })
      const result = yield* Warehouse.transaction([
        page("db1", "database", "wh_products", "pg"),
        page("profiles-mongo", "database", "wh_products", "mongo"),
        page("events-neo4j", "graph", "WhProduct", "neo"),
        {
          id: "keyed",
          operation: "select",
          from: { type: "database", tag: "db1", entity: "wh_products" },
          where: { sku: "p1" },
          fields: ["price"]
        },
        // the cheapest iron-or-steel product whose name starts lower-case, picked by a $ref
        {
          operation: "insert",
          from: { type: "database", tag: "db1", entity: "wh_picks" },
          data: { sku: { $ref: "pg.data.0.sku" } }
        }
      ])
      assert.strictEqual(result.status, "completed", result.error)
      // lower-case names with iron or steel: anchor (12), bracket (4); DESC, skip 1, take 1: bracket
      for (const id of ["pg", "mongo", "neo"]) {
        const data = result.stepResults[id]!.data!.map((r) => ({ sku: r.sku, price: Number(r.price) }))
        assert.deepStrictEqual(data, [{ sku: "p4", price: 4 }], id)
        assert.isUndefined(result.stepResults[id]!.data![0]!.name, `${id}: name is not in fields`)
      }
      assert.property(result.stepResults.mongo!.data![0], "_id", "MongoDB's key is always returned")
      assert.property(result.stepResults.neo!.data![0], "_elementId", "Neo4j's key is always returned")
      assert.deepStrictEqual(result.stepResults.keyed!.data, [{ sku: "p1", price: 30 }], "the primary key comes back")
      assert.deepStrictEqual(yield* sql`SELECT sku FROM wh_picks`, [{ sku: "p4" }])
    }))

  it.effect("a vector $similar select on Chroma returns the nearest records, with their distance, to a later step", () =>
    Effect.gen(function*() {
      yield* setup
      const { sql } = yield* Clients
      const vectors: Record<string, ReadonlyArray<number>> = {
        p1: [1, 0, 0],
        p2: [0.9, 0.2, 0],
        p3: [0, 1, 0],
        p4: [0, 0, 1]
      }
      const result = yield* Warehouse.transaction([
        {
          id: "index",
          operation: "upsert",
          from: { type: "vector", tag: "user-search", entity: "wh_products" },
          data: Object.entries(vectors).map(([id, vector]) => ({ id, vector, metadata: { sku: id } }))
        },
        {
          id: "similar",
          dependsOn: ["index"],
          operation: "select",
          from: { type: "vector", tag: "user-search", entity: "wh_products" },
          where: { embedding: { $similar: { vector: [1, 0.1, 0], topK: 2 } } },
          fields: ["sku"]
        },
        {
          operation: "insert",
          from: { type: "database", tag: "db1", entity: "wh_picks" },
          data: { sku: { $ref: "similar.data.1.id" } }
        }
      ])
      assert.strictEqual(result.status, "completed", result.error)
      const found = result.stepResults.similar!.data!
      assert.deepStrictEqual(found.map((r) => r.id), ["p1", "p2"], "the two nearest, nearest first")
      assert.closeTo(found[0]!.distance as number, 0.01, 1e-5)
      assert.closeTo(found[1]!.distance as number, 0.02, 1e-5)
      assert.deepStrictEqual(found[0]!.metadata, { sku: "p1" })
      assert.deepStrictEqual(yield* sql`SELECT sku FROM wh_picks`, [{ sku: "p2" }])
    }))

  it.effect("what a store cannot run, or an unsafe $regex, is refused before the first write, naming path and store", () =>
    Effect.gen(function*() {
      yield* setup
      const { sql } = yield* Clients
      const write: Transaction.Operation = {
        operation: "insert",
        from: { type: "database", tag: "db1", entity: "wh_picks" },
        data: { sku: "x" }
      }
      const vector = { type: "vector", tag: "user-search", entity: "wh_products" } as const
      const cases: ReadonlyArray<readonly [Transaction.Operation, string, string, string]> = [
        [
          { operation: "select", from: vector, orderBy: [{ field: "price" }] },
          "UNSUPPORTED_OPERATOR",
          "operations[1].orderBy",
          "chroma"
        ],
        [
          { operation: "select", from: vector, where: { name: { $regex: "^a" } } },
          "UNSUPPORTED_OPERATOR",
          "operations[1].where.name.$regex",
          "chroma"
        ],
        [
          { operation: "select", from: vector, where: { tags: { $containsAll: ["a"] } } },
          "UNSUPPORTED_OPERATOR",
          "operations[1].where.tags.$containsAll[0]",
          "chroma"
        ],
        [
          {
            operation: "select",
            from: { type: "database", tag: "db1", entity: "wh_products" },
            where: { v: { $similar: { vector: [1, 2, 3], topK: 2 } } }
          },
          "UNSUPPORTED_OPERATOR",
          "operations[1].where.v.$similar",
          "postgres"
        ],
        [
          {
            operation: "select",
            from: { type: "graph", tag: "events-neo4j", entity: "WhProduct" },
            where: { name: { $regex: "(a+)+$" } }
          },
          "VALIDATION_ERROR",
          "operations[1].where.name.$regex",
          "groups"
        ],
        [
          {
            operation: "select",
            from: { type: "database", tag: "db1", entity: "wh_products" },
            orderBy: [{ field: "price" }],
            offset: 1001
          },
          "TOO_MANY_RECORDS",
          "operations[1].offset",
          "postgres"
        ],
        [
          { operation: "select", from: { type: "database", tag: "db1", entity: "wh_products" }, fields: ["nope"] },
          "FIELD_NOT_FOUND",
          "operations[1].fields[0]",
          "nope"
        ]
      ]
      for (const [operation, code, path, says] of cases) {
        const error: WarehouseError = yield* Effect.flip(Warehouse.transaction([write, operation]))
        assert.instanceOf(error, WarehouseError, `${path}: refused before anything ran`)
        assert.strictEqual(error.code, code, error.message)
        assert.strictEqual(error.path, path, error.message)
        assert.include(error.message, says)
      }
      const refInRegex = yield* Effect.flip(Warehouse.transactionUnknown([write, {
        operation: "select",
        from: { type: "database", tag: "db1", entity: "wh_products" },
        where: { name: { $regex: { $ref: "step_0.data.0.sku" } } }
      }]))
      assert.strictEqual(refInRegex.path, "operations[1].where.name.$regex")
      assert.deepStrictEqual(yield* sql`SELECT sku FROM wh_picks`, [], "nothing was written")
    }))
})
