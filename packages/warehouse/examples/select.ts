/**
 * The warehouse README's select example, run by `tools/readme` against the stack (`.stack/env`): it creates its
 * table, then in one transaction writes products to PostgreSQL and their vectors to Chroma, reads a page of them
 * back, finds the nearest vectors, and records the pick; it checks what came back and exits.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

// what the example needs: the tables `products` and `picks` in the schema `select_example`, empty
await Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  yield* sql`CREATE SCHEMA IF NOT EXISTS select_example`
  yield* sql`DROP TABLE IF EXISTS select_example.products, select_example.picks`
  yield* sql`CREATE TABLE select_example.products (sku text PRIMARY KEY, name text NOT NULL, price integer,
    tags text[] NOT NULL)`
  yield* sql`CREATE TABLE select_example.picks (id serial PRIMARY KEY, sku text NOT NULL)`
}).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(process.env.POLYSAGA_PG_URL!) })), Effect.runPromise)

// #region readme
import { createWarehouse } from "@polysaga/warehouse"

const warehouse = await createWarehouse({
  sources: [
    { tag: "shop", type: "database", engine: "postgres", url: process.env.POLYSAGA_PG_URL!, schema: "select_example" },
    { tag: "search", type: "vector", engine: "chroma", url: process.env.POLYSAGA_CHROMA_URL!, dimension: 3 }
  ]
})
const result = await warehouse.transaction([
  {
    operation: "insert",
    from: { type: "database", tag: "shop", entity: "products" },
    data: [
      { sku: "p1", name: "anvil", price: 30, tags: ["iron", "heavy"] },
      { sku: "p2", name: "anchor", price: 12, tags: ["iron"] },
      { sku: "p3", name: "bolt", price: 1, tags: ["steel", "small"] },
      { sku: "p4", name: "Bracket", price: 4, tags: ["steel"] }
    ]
  },
  {
    operation: "upsert",
    from: { type: "vector", tag: "search", entity: "products_example" },
    data: [
      { id: "p1", vector: [1, 0, 0], metadata: { sku: "p1" } },
      { id: "p2", vector: [0.9, 0.2, 0], metadata: { sku: "p2" } },
      { id: "p3", vector: [0, 1, 0], metadata: { sku: "p3" } }
    ]
  },
  {
    id: "page",
    operation: "select",
    from: { type: "database", tag: "shop", entity: "products" },
    where: { tags: { $containsAny: ["iron", "steel"] }, name: { $regex: "^[a-z]+$" } },
    fields: ["sku", "price"],
    orderBy: [{ field: "price", order: "DESC" }],
    limit: 2,
    offset: 1
  },
  {
    id: "nearest",
    operation: "select",
    from: { type: "vector", tag: "search", entity: "products_example" },
    where: { embedding: { $similar: { vector: [1, 0.1, 0], topK: 2 } } }
  },
  {
    operation: "insert",
    from: { type: "database", tag: "shop", entity: "picks" },
    data: { sku: { $ref: "nearest.data.0.id" } }
  }
])
console.log(result.stepResults.page?.data) // [{ sku: "p2", price: 12 }, { sku: "p3", price: 1 }]
console.log(result.stepResults.nearest?.data?.map((r) => [r.id, r.distance])) // [["p1", ≈0.01], ["p2", ≈0.02]]
await warehouse.close()
// #endregion readme

const page = JSON.stringify(result.stepResults.page?.data)
const nearest = JSON.stringify(result.stepResults.nearest?.data?.map((r) => r.id))
if (result.status !== "completed" || page !== JSON.stringify([{ sku: "p2", price: 12 }, { sku: "p3", price: 1 }])) {
  process.exitCode = 1
}
if (nearest !== JSON.stringify(["p1", "p2"])) process.exitCode = 1
