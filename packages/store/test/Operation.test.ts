import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { Filter, Operation, Update } from "../src/index.js"

const parseError = (input: unknown) =>
  Effect.flip(Operation.parse(input, "operations[2]")).pipe(Effect.map((e) => [e.reason, e.path] as const))

describe("Operation.parse", () => {
  it.effect("parses the seed's guarded decrement", () =>
    Effect.gen(function*() {
      const op = yield* Operation.parse({
        operation: "update",
        from: { type: "database", tag: "inventory-db", entity: "inventory" },
        data: { quantity: { $decrement: 2 }, status: "reserved" },
        where: { productId: { $eq: "p1" }, quantity: { $gte: 2 } }
      })
      assert.strictEqual(op.kind, "update")
      if (op.kind !== "update") return
      assert.deepStrictEqual(op.changes.map((c) => c.op), ["increment", "set"])
      assert.strictEqual((op.changes[0] as { by: number }).by, -2)
      assert.isTrue(Filter.matches(op.where, { productId: "p1", quantity: 2 }))
      assert.isFalse(Filter.matches(op.where, { productId: "p1", quantity: 1 }))
      assert.deepStrictEqual(Update.apply(op.changes, { productId: "p1", quantity: 5 }), {
        productId: "p1",
        quantity: 3,
        status: "reserved"
      })
    }))

  it.effect("names the bad part of a bad operation", () =>
    Effect.gen(function*() {
      const from = { type: "database", tag: "db", entity: "t" }
      assert.deepStrictEqual(
        yield* parseError({ operation: "update", from, data: { q: { $inc: 1 } }, where: {} }),
        ["Validation", "operations[2].data.q.$inc"]
      )
      assert.deepStrictEqual(
        yield* parseError({ operation: "update", from, data: { q: 1 }, where: { q: { $match: "x" } } }),
        ["Validation", "operations[2].where.q.$match"]
      )
      assert.deepStrictEqual(
        yield* parseError({ operation: "insert", from: { ...from, entity: "t; drop table x" }, data: { a: 1 } }),
        ["InvalidIdentifier", "operations[2].from.entity"]
      )
      assert.deepStrictEqual(
        yield* parseError({ operation: "insert", from, data: { "a\"b": 1 } }),
        ["InvalidIdentifier", "operations[2].data.a\"b"]
      )
      assert.deepStrictEqual(
        yield* parseError({ operation: "insert", from, data: { a: { $where: "1" } } }),
        ["Validation", "operations[2].data.a"]
      )
      assert.deepStrictEqual(
        yield* parseError({ operation: "delete", from }),
        ["Validation", "operations[2].where"]
      )
      assert.deepStrictEqual(
        yield* parseError({ operation: "insert", from: { ...from, type: "table" }, data: { a: 1 } }),
        ["Validation", "operations[2].from.type"]
      )
      assert.deepStrictEqual(
        yield* parseError({ operation: "insert", from, data: { a: 1 }, wher: {} }),
        ["Validation", "operations[2].wher"]
      )
    }))

  it("follows the documented null semantics", () => {
    const where = (w: unknown) => Either.getOrThrow(Effect.runSync(Effect.either(Filter.parse(w))))
    const rows = [{ a: 1 }, { a: null }, {}, { a: 2 }]
    const ids = (w: unknown) => rows.flatMap((r, i) => Filter.matches(where(w), r) ? [i] : [])
    assert.deepStrictEqual(ids({ a: { $ne: 1 } }), [1, 2, 3])
    assert.deepStrictEqual(ids({ a: { $gt: 0 } }), [0, 3])
    assert.deepStrictEqual(ids({ $not: { a: { $gt: 1 } } }), [0, 1, 2])
    assert.deepStrictEqual(ids({ a: null }), [1, 2])
    assert.deepStrictEqual(ids({ a: { $exists: true } }), [0, 3])
    assert.deepStrictEqual(ids({ a: { $nin: [2] } }), [0, 1, 2])
    assert.deepStrictEqual(ids({ $or: [{ a: 1 }, { a: 2 }] }), [0, 3])
  })

  it("reads SQL like patterns literally apart from % and _", () => {
    const where = (w: unknown) => Either.getOrThrow(Effect.runSync(Effect.either(Filter.parse(w))))
    assert.isTrue(Filter.matches(where({ s: { $like: "a_c%" } }), { s: "abcdef" }))
    assert.isFalse(Filter.matches(where({ s: { $like: "a.c" } }), { s: "abc" }))
    assert.isTrue(Filter.matches(where({ s: { $ilike: "ABC" } }), { s: "abc" }))
    assert.isFalse(Filter.matches(where({ s: { $like: "ABC" } }), { s: "abc" }))
  })
})
