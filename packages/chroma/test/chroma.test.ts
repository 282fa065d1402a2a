import { assert, describe, it, layer } from "@effect/vitest"
import { Filter, Operation, type Store, Undo } from "@polysaga/store"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as ChromaStore from "../src/index.js"
import { config, rawClient, reset, snapshot } from "./harness.js"

const client = rawClient()

const run = (store: Store, input: unknown) =>
  Effect.flatMap(Operation.parse(input), (op) => Effect.zipRight(store.validate(op), store.execute(op)))

const reason = <A>(effect: Effect.Effect<A, { readonly reason: string }>) =>
  Effect.map(Effect.either(effect), (e) => Either.isLeft(e) ? e.left.reason : "succeeded")

/** An undo record as another process reads it back from a JSON journal. */
const throughJson = (undo: Undo.UndoRecord) =>
  Schema.decodeSync(Schema.parseJson(Undo.UndoRecord))(Schema.encodeSync(Schema.parseJson(Undo.UndoRecord))(undo))

const from = (entity: string) => ({ type: "vector", tag: "vectors", entity })

layer(ChromaStore.layer(config({ maxRecordsPerOperation: 50 })), { excludeTestServices: true, timeout: "60 seconds" })(
  "chroma adapter",
  (it) => {
    it.effect("the seed's upsert creates the collection on first write; undo goes through JSON", () =>
      Effect.gen(function*() {
        const store = yield* ChromaStore.ChromaStore
        yield* reset(client, "chroma_behaviors")
        const first = yield* run(store, {
          operation: "upsert",
          from: { type: "vector", tag: "user-behavior", entity: "chroma_behaviors" },
          data: { id: "user_123_purchase", vector: [0.1, 0.2, 0.3], metadata: { action: "purchase", amount: 99.99 } }
        })
        assert.strictEqual(first.affected, 1)
        assert.deepStrictEqual(first.records[0], {
          id: "user_123_purchase",
          vector: [0.1, 0.2, 0.3],
          document: null,
          metadata: { action: "purchase", amount: 99.99 }
        })
        const created = yield* snapshot(client, "chroma_behaviors")
        const second = yield* run(store, {
          operation: "upsert",
          from: { type: "vector", tag: "user-behavior", entity: "chroma_behaviors" },
          data: { id: "user_123_purchase", vector: [0.3, 0.2, 0.1], document: "bought", metadata: { action: "refund" } }
        })
        assert.deepStrictEqual((yield* snapshot(client, "chroma_behaviors"))[0]!.metadata, { action: "refund" })
        yield* store.undo(throughJson(second.undo))
        assert.deepStrictEqual(yield* snapshot(client, "chroma_behaviors"), created, "the upsert's replace is undone")
        yield* store.undo(throughJson(first.undo))
        assert.deepStrictEqual(yield* snapshot(client, "chroma_behaviors"), [])
      }))

    it.effect("numeric filters are exact across integer and non-integer values (Chroma truncates float operands)", () =>
      Effect.gen(function*() {
        const store = yield* ChromaStore.ChromaStore
        const entity = "chroma_numbers"
        yield* reset(client, entity)
        const values = [-3, -2.9, -2.5, -2, -0.5, 0, 0.5, 1, 2, 2.1, 2.5, 2.9, 3, 3.5, null]
        const rows = values.map((p, i) => ({ id: `n${i}`, vector: [1, 2, 3], metadata: p === null ? { o: 1 } : { p } }))
        yield* run(store, { operation: "insert", from: from(entity), data: rows })
        const operands = [-2.9, -2.5, -2, -0.5, 0, 0.5, 2, 2.1, 2.5, 2.9, 3]
        const wheres: Array<Record<string, unknown>> = []
        for (const op of ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]) {
          for (const v of operands) wheres.push({ p: { [op]: v } })
        }
        for (const op of ["$in", "$nin"]) {
          for (const list of [[2.5], [2, 2.5], [-2.5, 3, 0.5], [2.9, 2.1], [0]]) wheres.push({ p: { [op]: list } })
        }
        for (const where of wheres) {
          const filter = Effect.runSync(Filter.parse(where))
          const expected = rows.filter((r) => Filter.matches(filter, { ...r.metadata, id: r.id })).map((r) => r.id)
          const outcome = yield* run(store, { operation: "select", from: from(entity), where })
          assert.deepStrictEqual(outcome.records.map((r) => r.id).sort(), expected.sort(), JSON.stringify(where))
        }
      }))

    it.effect("orderings on strings and comparisons with dates are evaluated exactly by the adapter", () =>
      Effect.gen(function*() {
        const store = yield* ChromaStore.ChromaStore
        const entity = "chroma_strings"
        yield* reset(client, entity)
        const at = new Date("2030-01-02T03:04:05.000Z")
        yield* run(store, {
          operation: "insert",
          from: from(entity),
          data: [
            { id: "a", vector: [1, 0, 0], metadata: { name: "ada", at } },
            { id: "b", vector: [0, 1, 0], metadata: { name: "bob", n: 1 } },
            { id: "c", vector: [0, 0, 1], metadata: { name: "cy" } }
          ]
        })
        const ids = (where: unknown) =>
          Effect.map(
            run(store, { operation: "select", from: from(entity), where }),
            (o) => o.records.map((r) => r.id).sort()
          )
        assert.deepStrictEqual(yield* ids({ name: { $gt: "b" } }), ["b", "c"])
        assert.deepStrictEqual(yield* ids({ $or: [{ name: { $lte: "ada" } }, { n: 1 }] }), ["a", "b"])
        assert.deepStrictEqual(yield* ids({ at }), ["a"], "dates are stored as ISO strings")
        assert.deepStrictEqual(yield* ids({ at: { $ne: at } }), ["b", "c"])
        const [stored] = yield* snapshot(client, entity)
        assert.strictEqual(stored!.metadata.at, "2030-01-02T03:04:05.000Z")
      }))

    it.effect("vectors of the wrong dimension are rejected before any write", () =>
      Effect.gen(function*() {
        const store = yield* ChromaStore.ChromaStore
        const entity = "chroma_dims"
        yield* reset(client, entity)
        yield* run(store, { operation: "insert", from: from(entity), data: { id: "a", vector: [1, 2, 3] } })
        const before = yield* snapshot(client, entity)
        const bad = [
          {
            operation: "insert",
            from: from(entity),
            data: [{ id: "b", vector: [1, 2, 3] }, { id: "c", vector: [1, 2] }]
          },
          { operation: "upsert", from: from(entity), data: { id: "a", vector: [1, 2, 3, 4] } },
          { operation: "update", from: from(entity), data: { vector: [1] }, where: { id: "a" } },
          { operation: "insert", from: from(entity), data: { id: "d", vector: [] } },
          { operation: "insert", from: from(entity), data: { id: "d", vector: [1, 2, 3], extra: 1 } },
          { operation: "insert", from: from(entity), data: { id: "d", vector: [1, 2, 3], metadata: { tags: ["x"] } } },
          { operation: "insert", from: from(entity), data: { id: "d", vector: [1, 2, 3], metadata: { vector: 1 } } }
        ]
        for (const input of bad) {
          const op = yield* Operation.parse(input)
          assert.strictEqual(yield* reason(store.validate(op)), "Validation", `validate ${JSON.stringify(input)}`)
          assert.strictEqual(yield* reason(store.execute(op)), "Validation", `execute ${JSON.stringify(input)}`)
        }
        assert.deepStrictEqual(yield* snapshot(client, entity), before)
        const fresh = yield* Operation.parse({
          operation: "insert",
          from: from("chroma_dims_new"),
          data: { vector: [1] }
        })
        yield* reset(client, "chroma_dims_new")
        assert.strictEqual(yield* reason(store.validate(fresh)), "Validation", "the configured dimension applies")
      }))

    it.effect("inserting an existing id fails with Constraint and writes nothing", () =>
      Effect.gen(function*() {
        const store = yield* ChromaStore.ChromaStore
        const entity = "chroma_dup"
        yield* reset(client, entity)
        yield* run(store, { operation: "insert", from: from(entity), data: { id: "a", vector: [1, 2, 3] } })
        const before = yield* snapshot(client, entity)
        const result = yield* reason(run(store, {
          operation: "insert",
          from: from(entity),
          data: [{ id: "b", vector: [1, 2, 3] }, { id: "a", vector: [3, 2, 1] }]
        }))
        assert.strictEqual(result, "Constraint")
        assert.deepStrictEqual(yield* snapshot(client, entity), before)
      }))

    it.effect("documents and vectors are updated and restored, a removed document included", () =>
      Effect.gen(function*() {
        const store = yield* ChromaStore.ChromaStore
        const entity = "chroma_docs"
        yield* reset(client, entity)
        yield* run(store, {
          operation: "insert",
          from: from(entity),
          data: [
            { id: "a", vector: [0.1, 0.2, 0.3], document: "first", metadata: { n: 1, gone: "x" } },
            { id: "b", vector: [0.4, 0.5, 0.6], metadata: { n: 2 } }
          ]
        })
        const before = yield* snapshot(client, entity)
        const updated = yield* run(store, {
          operation: "update",
          from: from(entity),
          data: { document: null, vector: [1, 1, 1], gone: null, n: { $multiply: 3 } },
          where: { n: { $gte: 1 } }
        })
        assert.strictEqual(updated.affected, 2)
        const after = yield* snapshot(client, entity)
        assert.deepStrictEqual(after.map((r) => [r.document, r.vector, r.metadata]), [
          [null, [1, 1, 1], { n: 3 }],
          [null, [1, 1, 1], { n: 6 }]
        ])
        yield* store.undo(throughJson(updated.undo))
        assert.deepStrictEqual(yield* snapshot(client, entity), before)
        yield* store.undo(updated.undo)
        assert.deepStrictEqual(yield* snapshot(client, entity), before)
        const deleted = yield* run(store, { operation: "delete", from: from(entity), where: { id: "a" } })
        yield* store.undo(throughJson(deleted.undo))
        assert.deepStrictEqual(yield* snapshot(client, entity), before, "re-inserted with its float32 vector")
      }))

    it.effect("an undo interrupted after its relative inverse (marker left) does not apply the inverse twice", () =>
      Effect.gen(function*() {
        const store = yield* ChromaStore.ChromaStore
        const entity = "chroma_marker"
        yield* reset(client, entity)
        yield* run(store, {
          operation: "insert",
          from: from(entity),
          data: { id: "a", vector: [1, 2, 3], metadata: { n: 10 } }
        })
        const before = yield* snapshot(client, entity)
        const step = yield* run(store, {
          operation: "update",
          from: from(entity),
          data: { n: { $increment: 5 } },
          where: { id: "a" }
        })
        // what a crash right after the inverse's write leaves: n back to 10, the marker key on the record
        const collection = yield* Effect.promise(() => client.getCollection({ name: entity }))
        yield* Effect.promise(() =>
          collection.update({ ids: ["a"], metadatas: [{ n: 10, [`polysaga:undo:${step.undo.id}`]: 1 }] })
        )
        yield* store.undo(throughJson(step.undo))
        assert.deepStrictEqual(yield* snapshot(client, entity), before, "inverse not re-applied, marker removed")
        yield* store.undo(step.undo)
        assert.deepStrictEqual(yield* snapshot(client, entity), before)
      }))

    it.effect("within one store, an undo's relative inverse does not lose concurrent increments", () =>
      Effect.gen(function*() {
        const store = yield* ChromaStore.ChromaStore
        const entity = "chroma_concurrent"
        yield* reset(client, entity)
        const where = { id: "c" }
        yield* run(store, {
          operation: "insert",
          from: from(entity),
          data: { id: "c", vector: [1, 2, 3], metadata: { q: 100 } }
        })
        const mine = yield* run(store, {
          operation: "update",
          from: from(entity),
          data: { q: { $decrement: 7 } },
          where
        })
        const others = Array.from(
          { length: 12 },
          () => run(store, { operation: "update", from: from(entity), data: { q: { $increment: 1 } }, where })
        )
        yield* Effect.all([store.undo(mine.undo), ...others], { concurrency: 6, discard: true })
        assert.deepStrictEqual((yield* snapshot(client, entity))[0]!.metadata, { q: 112 })
      }))

    it.effect("upsert without where goes by id: replaces existing records, creates the others", () =>
      Effect.gen(function*() {
        const store = yield* ChromaStore.ChromaStore
        const entity = "chroma_upsert"
        yield* reset(client, entity)
        yield* run(store, {
          operation: "insert",
          from: from(entity),
          data: { id: "a", vector: [1, 2, 3], metadata: { k: "a", n: 1 } }
        })
        const before = yield* snapshot(client, entity)
        const outcome = yield* run(store, {
          operation: "upsert",
          from: from(entity),
          data: [
            { id: "a", vector: [1, 2, 3], metadata: { k: "a", n: 2 } },
            { id: "b", vector: [3, 2, 1], metadata: { k: "b", n: 1 } }
          ]
        })
        assert.strictEqual(outcome.affected, 2)
        const byKey = yield* run(store, {
          operation: "upsert",
          from: from(entity),
          data: { vector: [0, 0, 1], metadata: { k: "b", n: 9 } },
          options: { key: ["k"] }
        })
        assert.strictEqual(byKey.records[0]!.id, "b", "the key finds the record")
        assert.deepStrictEqual((yield* snapshot(client, entity)).map((r) => r.metadata.n), [2, 9])
        yield* store.undo(byKey.undo)
        yield* store.undo(outcome.undo)
        assert.deepStrictEqual(yield* snapshot(client, entity), before)
      }))

    it.effect("$similar / $near return the nearest records with their distance (squared L2), filtered and bounded", () =>
      Effect.gen(function*() {
        const store = yield* ChromaStore.ChromaStore
        yield* reset(client, "chroma_search")
        const points: ReadonlyArray<readonly [string, ReadonlyArray<number>, string, number]> = [
          ["a", [0, 0, 0], "red", 1],
          ["b", [1, 0, 0], "blue", 2],
          ["c", [0, 2.5, 0], "red", 3],
          ["d", [3, 0, 0], "red", 4],
          ["e", [0, 0, 4], "blue", 5],
          ["f", [0.5, 0.5, 0], "red", 6]
        ]
        yield* run(store, {
          operation: "insert",
          from: from("chroma_search"),
          data: points.map(([id, vector, color, n]) => ({ id, vector, document: `doc ${id}`, metadata: { color, n } }))
        })
        const query = [0.9, 0.1, 0]
        const squared = (v: ReadonlyArray<number>) => v.reduce((sum, x, i) => sum + (x - query[i]!) ** 2, 0)
        const byDistance = [...points].sort((x, y) => squared(x[1]) - squared(y[1]))
        const select = (where: unknown, extra: Record<string, unknown> = {}) =>
          run(store, { operation: "select", from: from("chroma_search"), where, ...extra })
        const similar = yield* select({ embedding: { $similar: { vector: query, topK: 3 } } })
        assert.deepStrictEqual(similar.records.map((r) => r.id), byDistance.slice(0, 3).map(([id]) => id))
        for (const record of similar.records) {
          const point = points.find(([id]) => id === record.id)!
          assert.closeTo(record.distance as number, squared(point[1]), 1e-5, `distance of ${record.id}`)
        }
        // with a metadata filter Chroma evaluates: the nearest red ones
        const red = yield* select({ embedding: { $similar: { vector: query, topK: 2 } }, color: "red", n: { $gte: 2 } })
        assert.deepStrictEqual(
          red.records.map((r) => r.id),
          byDistance.filter(([, , color, n]) => color === "red" && n >= 2).slice(0, 2).map(([id]) => id)
        )
        // threshold: similarity 1 - distance at least 0 (distance at most 1)
        const close = yield* select({ vector: { $similar: { vector: query, topK: 6, threshold: 0 } } })
        assert.deepStrictEqual(
          close.records.map((r) => r.id),
          byDistance.filter(([, v]) => squared(v) <= 1).map(([id]) => id)
        )
        const near = yield* select({ embedding: { $near: { vector: query, maxDistance: 4.5 } } }, {
          fields: ["color"]
        })
        assert.deepStrictEqual(
          near.records.map((r) => r.id),
          byDistance.filter(([, v]) => squared(v) <= 4.5).map(([id]) => id)
        )
        assert.deepStrictEqual(Object.keys(near.records[0]!).sort(), ["distance", "id", "metadata"])
        assert.deepStrictEqual(Object.keys(near.records[0]!.metadata as object), ["color"])
        // refused before anything runs: the wrong dimension, a where the adapter would evaluate after the search,
        // a topK past the bound, another field than the vector
        const refused = (where: unknown) =>
          reason(
            Effect.flatMap(Operation.parse({ operation: "select", from: from("chroma_search"), where }), store.validate)
          )
        assert.strictEqual(yield* refused({ embedding: { $similar: { vector: [1, 2], topK: 1 } } }), "Validation")
        assert.strictEqual(
          yield* refused({ embedding: { $similar: { vector: query, topK: 1 } }, color: { $gt: "a" } }),
          "UnsupportedOperator"
        )
        assert.strictEqual(yield* refused({ embedding: { $similar: { vector: query, topK: 51 } } }), "TooManyRecords")
        assert.strictEqual(yield* refused({ color: { $similar: { vector: query, topK: 1 } } }), "Validation")
      }))

    it.effect("what Chroma cannot express is rejected with the operator and its path", () =>
      Effect.gen(function*() {
        const store = yield* ChromaStore.ChromaStore
        const check = (where: unknown) =>
          Effect.flatMap(
            Operation.parse({ operation: "select", from: from("chroma_any"), where }),
            (op) => Effect.either(store.validate(op))
          )
        for (
          const [where, expected] of [
            [{ $not: { n: 1 } }, "$not"],
            [{ name: { $like: "a%" } }, "$like"],
            [{ note: { $exists: true } }, "$exists"],
            [{ note: null }, "$null"],
            [{ $or: [{ id: "a" }, { n: 1 }] }, "id"],
            [{ id: { $ne: "a" } }, "id"]
          ] as const
        ) {
          const result = yield* check(where)
          assert.isTrue(Either.isLeft(result), JSON.stringify(where))
          if (Either.isLeft(result)) {
            assert.strictEqual(result.left.reason, "UnsupportedOperator")
            assert.include(result.left.message, expected)
          }
        }
        const vector = yield* check({ vector: 1 })
        assert.isTrue(Either.isLeft(vector) && vector.left.reason === "Validation")
        const entity = yield* Effect.either(
          Effect.flatMap(Operation.parse({ operation: "select", from: from("ab") }), store.validate)
        )
        assert.isTrue(Either.isLeft(entity) && entity.left.reason === "InvalidIdentifier", "too short for Chroma")
      }))
  }
)

const settings = new Map([
  ["CHROMA_URL", Redacted.value(config().url)],
  ["CHROMA_DIMENSION", "3"],
  ["CHROMA_MAX", "30"]
])

describe("chroma layers", () => {
  it.effect("layerConfig reads its settings through Config", () =>
    Effect.gen(function*() {
      const store = yield* ChromaStore.ChromaStore
      yield* store.ping
      assert.strictEqual(store.capabilities.maxRecordsPerOperation, 30)
      assert.strictEqual(store.engine, "chroma")
    }).pipe(
      Effect.provide(
        ChromaStore.layerConfig({
          url: Config.redacted("CHROMA_URL"),
          dimension: Config.integer("CHROMA_DIMENSION"),
          maxRecordsPerOperation: Config.integer("CHROMA_MAX")
        }).pipe(
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(settings)))
        )
      )
    ))

  it.effect("an unreachable server fails the layer with a transient Unavailable error", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Effect.scoped(ChromaStore.make(config({ url: Redacted.make("http://127.0.0.1:1") })))
      )
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
        assert.strictEqual(error?.reason, "Unavailable")
        assert.isTrue(error?.transient)
      }
    }))
})
