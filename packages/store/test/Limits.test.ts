import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Capabilities, Filter, Limits, Operation } from "../src/index.js"

const from = { type: "database", tag: "db", entity: "t" }

const nested = (levels: number, key: "$not" | "$and" | "$or") => {
  let where: unknown = { id: "x" }
  for (let i = 0; i < levels; i++) where = key === "$not" ? { $not: where } : { [key]: [where] }
  return where
}

const refused = (input: unknown) =>
  Effect.flip(Operation.parse(input, "operations[0]")).pipe(
    Effect.map((e) => ({ reason: e.reason, code: e.code, path: e.path, message: e.message }))
  )

describe("Limits", () => {
  it.effect("a where nested 10,000 levels deep is a validation error, not a stack overflow", () =>
    Effect.gen(function*() {
      for (const key of ["$not", "$and", "$or"] as const) {
        const error = yield* refused({ operation: "select", from, where: nested(10_000, key) })
        assert.strictEqual(error.code, "VALIDATION_ERROR")
        assert.match(error.message, /nests deeper than 32 levels/)
        assert.isTrue(error.path!.startsWith(`operations[0].where.${key}`), error.path)
      }
      // the same through Filter.parse on its own
      const direct = yield* Effect.flip(Filter.parse(nested(10_000, "$not")))
      assert.match(direct.message, /^where\.\$not.*nests deeper than 32 levels/)
    }))

  it.effect("a where within the depth parses and matches", () =>
    Effect.gen(function*() {
      // the root object is level 1, each $not one more: 31 $not around { id } is 32 levels
      const op = yield* Operation.parse({ operation: "select", from, where: nested(30, "$not") })
      assert.strictEqual(op.kind, "select")
      if (op.kind !== "select") return
      assert.isTrue(Filter.matches(op.where, { id: "x" }))
      assert.deepStrictEqual([...Filter.fields(op.where).keys()], ["id"])
      yield* Operation.parse({ operation: "select", from, where: nested(Limits.maxWhereDepth - 1, "$not") })
      const error = yield* refused({ operation: "select", from, where: nested(Limits.maxWhereDepth, "$not") })
      assert.match(error.message, /nests deeper than 32 levels/)
    }))

  it.effect("a where with too many values, data nested too deep, long strings and arrays are refused", () =>
    Effect.gen(function*() {
      const wide = { id: { $in: Array.from({ length: Limits.maxWhereNodes }, (_, i) => i) } }
      const many = yield* refused({ operation: "select", from, where: wide })
      assert.deepStrictEqual([many.code, many.path], ["VALIDATION_ERROR", "operations[0].where"])
      assert.match(many.message, /more than 10000 values/)

      let deep: unknown = 1
      for (let i = 0; i < 40; i++) deep = { a: deep }
      const tooDeep = yield* refused({ operation: "insert", from, data: { doc: deep } })
      assert.strictEqual(tooDeep.code, "VALIDATION_ERROR")
      assert.isTrue(tooDeep.path!.startsWith("operations[0].data.doc.a.a"), tooDeep.path)

      const long = yield* refused({
        operation: "insert",
        from,
        data: { s: "x".repeat(Limits.maxStringLength + 1) }
      })
      assert.deepStrictEqual([long.code, long.path], ["VALIDATION_ERROR", "operations[0].data.s"])
      const wideArray = yield* refused({
        operation: "insert",
        from,
        data: { list: Array.from({ length: Limits.maxArrayLength + 1 }, () => 1) }
      })
      assert.deepStrictEqual([wideArray.code, wideArray.path], ["VALIDATION_ERROR", "operations[0].data.list"])
    }))

  it.effect("NUL and lone surrogates are refused with their path, in values and keys, data and where", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [{ operation: "insert", from, data: { s: "a\u0000b" } }, "operations[0].data.s"],
        [{ operation: "insert", from, data: [{ s: "ok" }, { s: "a\uD800b" }] }, "operations[0].data[1].s"],
        [{ operation: "insert", from, data: { s: "\uDC00" } }, "operations[0].data.s"],
        [{ operation: "insert", from, data: { doc: { "k\u0000": 1 } } }, "operations[0].data.doc.\"k\\u0000\""],
        [{ operation: "update", from, data: { s: { $push: "\uD83D" } }, where: {} }, "operations[0].data.s.$push"],
        [{ operation: "select", from, where: { s: { $in: ["a", "b\u0000"] } } }, "operations[0].where.s.$in[1]"]
      ]
      for (const [input, path] of cases) {
        const error = yield* refused(input)
        assert.deepStrictEqual([error.code, error.path], ["VALIDATION_ERROR", path])
        assert.match(error.message, /NUL character \(U\+0000\) or a lone surrogate/)
      }
      // a surrogate pair is well-formed text
      yield* Operation.parse({ operation: "insert", from, data: { s: "emoji \uD83D\uDE00" } })
      assert.isFalse(Limits.isStorableText("a\u0000"))
      assert.isTrue(Limits.isStorableText("\uD83D\uDE00"))
    }))

  it.effect("prototype keys are refused as field names and nested keys, as parsed from JSON", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, string]> = [
        [`{"operation":"insert","from":${JSON.stringify(from)},"data":{"__proto__":"x","id":"p4"}}`, "data.__proto__"],
        [
          `{"operation":"insert","from":${JSON.stringify(from)},"data":{"doc":{"constructor":1}}}`,
          "data.doc.constructor"
        ],
        [`{"operation":"select","from":${JSON.stringify(from)},"where":{"prototype":1}}`, "where.prototype"],
        [
          `{"operation":"update","from":${JSON.stringify(from)},"data":{"__proto__":{"a":1}},"where":{}}`,
          "data.__proto__"
        ]
      ]
      for (const [json, path] of cases) {
        const error = yield* refused(JSON.parse(json))
        assert.deepStrictEqual([error.code, error.path], ["VALIDATION_ERROR", `operations[0].${path}`])
      }
      const key = yield* refused({ operation: "upsert", from, data: { id: 1 }, options: { key: ["constructor"] } })
      assert.deepStrictEqual([key.code, key.path], ["INVALID_IDENTIFIER", "operations[0].options.key[0]"])
    }))

  it.effect("paths in a parsed operation are relative to it; errors carry the prefix once", () =>
    Effect.gen(function*() {
      const op = yield* Operation.parse(
        { operation: "update", from, data: { q: { $increment: 1 } }, where: { $or: [{ id: "a" }] } },
        "operations[3]"
      )
      if (op.kind !== "update") return assert.fail(op.kind)
      assert.deepStrictEqual(op.changes.map((c) => c.path), ["data.q.$increment"])
      assert.deepStrictEqual([...Filter.fields(op.where).values()], ["where.$or[0].id"])
      const error = yield* refused({ operation: "select", from, where: { $or: [{ id: { $match: "x" } }] } })
      assert.strictEqual(error.path, "operations[0].where.$or[0].id.$match")
      assert.isTrue(error.message.startsWith("operations[0].where.$or[0].id.$match: "), error.message)
    }))
})

describe("Capabilities.check", () => {
  it.effect("refuses a hand-built filter deeper than the limit before any walk over it", () =>
    Effect.gen(function*() {
      let where: Filter.Filter = { _tag: "Compare", field: "id", op: "eq", value: "x", path: "where.id" }
      for (let i = 0; i < 100_000; i++) where = { _tag: "Not", filter: where }
      assert.strictEqual(Filter.depth(where), 100_001)
      const capabilities = {
        sourceTypes: ["database"],
        operations: ["select"],
        filterOperators: ["eq", "not"],
        updateOperators: [],
        maxRecordsPerOperation: 10
      } as unknown as Capabilities.Capabilities
      const operation: Operation.Operation = {
        kind: "select",
        source: { type: "database", tag: "db" },
        entity: "t",
        options: {},
        where
      }
      const error = yield* Effect.flip(Capabilities.check("test", capabilities, operation, "operations[1]"))
      assert.deepStrictEqual([error.code, error.path], ["VALIDATION_ERROR", "operations[1].where"])
    }))
})
