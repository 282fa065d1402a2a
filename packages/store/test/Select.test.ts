import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { Capabilities, Filter, Operation } from "../src/index.js"

const from = { type: "database", tag: "db", entity: "t" }
const parseError = (input: unknown) =>
  Effect.flip(Operation.parse(input, "operations[1]")).pipe(Effect.map((e) => [e.reason, e.path] as const))
const where = (w: unknown) => Either.getOrThrow(Effect.runSync(Effect.either(Filter.parse(w))))

describe("$regex: the safe subset", () => {
  it("accepts literal text, ., classes, bounded repetition and one anchored unbounded quantifier", () => {
    for (
      const pattern of [
        "abc",
        "^a.c$",
        "colou?r",
        "[A-Za-z0-9_]{1,10}",
        "[^a-z]",
        "^a*$",
        "^[0-9]+\\.[0-9]{2}$",
        "\\(x\\)\\|\\$",
        "x{3}",
        "^.{2,}z",
        "a\\$"
      ]
    ) {
      assert.notStrictEqual(typeof Filter.regex(pattern), "string", `${pattern}: ${Filter.regex(pattern) as string}`)
    }
  })

  it("refuses what engines read differently or backtrack on without bound, saying why", () => {
    const refused: ReadonlyArray<readonly [string, string]> = [
      ["(a+)+b", "groups"],
      ["a|b", "alternation"],
      ["\\d+", "escaped"],
      ["\\w", "escaped"],
      ["\\bword", "escaped"],
      ["(?i)a", "groups"],
      ["a*?", "quantifier"],
      ["a++", "quantifier"],
      ["a**", "quantifier"],
      ["a*b*", "at most one unbounded"],
      ["a.*b", "anchored with ^"],
      ["a+", "anchored with ^"],
      ["a{1,}", "anchored with ^"],
      ["a{1,101}", "at most 100"],
      ["a{3,2}", "n ≤ m"],
      ["a{x}", "repetition"],
      ["a?".repeat(10), "1000 ways"],
      ["[[:alpha:]]", "escaped in a $regex class"],
      ["[a&&b]", "escaped in a $regex class"],
      ["[a-]", "- must be escaped"],
      ["[z-a]", "range"],
      ["[!-~]", "range"],
      ["[]", "empty"],
      ["[abc", "unclosed"],
      ["a^b", "anchor only"],
      ["*a", "needs a character"],
      ["^", "at least one character"],
      ["a".repeat(257), "256"]
    ]
    for (const [pattern, why] of refused) {
      const result = Filter.regex(pattern)
      assert.strictEqual(typeof result, "string", `${pattern} must be refused`)
      assert.include(result as string, why === "1000 ways" ? "1000 ways" : why, pattern)
    }
  })

  it("a refused pattern is a validation error at its path; a safe one matches as a search", () => {
    assert.deepStrictEqual(
      Effect.runSync(
        parseError({ operation: "select", from, where: { $or: [{ name: { $regex: "(a|b)*c" } }] } })
      ),
      ["Validation", "operations[1].where.$or[0].name.$regex"]
    )
    const re = where({ s: { $regex: "b.d" } })
    assert.isTrue(Filter.matches(re, { s: "ab\ndc" }), ". matches a newline")
    assert.isFalse(Filter.matches(re, { s: "abd" }))
    assert.isFalse(Filter.matches(where({ s: { $regex: "^b" } }), { s: "a\nb" }), "^ is the start of the value")
    assert.isFalse(Filter.matches(where({ s: { $regex: "a$" } }), { s: "a\n" }), "$ is the end of the value")
    assert.isFalse(Filter.matches(where({ s: { $regex: "a" } }), { s: ["a"] }), "only strings match")
    assert.isFalse(Filter.matches(where({ s: { $regex: "A" } }), { s: "a" }), "case-sensitive")
  })
})

describe("$containsAll / $containsAny", () => {
  it("are $contains joined by $and / $or", () => {
    const rows = [{ t: ["a", "b"] }, { t: ["b"] }, { t: [] }, { t: "ab" }, {}]
    const ids = (w: unknown) => rows.flatMap((r, i) => Filter.matches(where(w), r) ? [i] : [])
    assert.deepStrictEqual(ids({ t: { $containsAll: ["a", "b"] } }), [0])
    assert.deepStrictEqual(ids({ t: { $containsAny: ["a", "b"] } }), [0, 1])
    assert.deepStrictEqual(ids({ $not: { t: { $containsAny: ["a"] } } }), [1, 2, 3, 4])
    assert.deepStrictEqual(
      Effect.runSync(parseError({ operation: "select", from, where: { t: { $containsAll: [] } } })),
      ["Validation", "operations[1].where.t.$containsAll"]
    )
  })
})

describe("select clauses", () => {
  it("are parsed on selects only, with offset needing orderBy and one limit", () =>
    Effect.gen(function*() {
      const op = yield* Operation.parse({
        operation: "select",
        from,
        fields: ["id", "name"],
        orderBy: [{ field: "name" }, { field: "qty", order: "DESC" }],
        limit: 5,
        offset: 10
      })
      assert.strictEqual(op.kind, "select")
      if (op.kind !== "select") return
      assert.deepStrictEqual(op.clauses, {
        fields: ["id", "name"],
        orderBy: [{ field: "name", order: "ASC" }, { field: "qty", order: "DESC" }],
        offset: 10
      })
      assert.strictEqual(op.options.limit, 5)
      const bad: ReadonlyArray<readonly [unknown, string]> = [
        [{ operation: "select", from, offset: 2 }, "operations[1].offset"],
        [{ operation: "select", from, limit: 2, options: { limit: 3 } }, "operations[1].limit"],
        [{ operation: "delete", from, where: {}, orderBy: [{ field: "a" }] }, "operations[1].orderBy"],
        [{ operation: "insert", from, data: { a: 1 }, fields: ["a"] }, "operations[1].fields"],
        [{ operation: "select", from, fields: ["a b"] }, "operations[1].fields[0]"],
        [{ operation: "select", from, orderBy: [{ field: "a", order: "UP" }] }, "operations[1].orderBy[0].order"],
        [
          { operation: "select", from, where: { $and: [{ v: { $similar: { vector: [1] } } }] } },
          "operations[1].where.$and[0].v.$similar"
        ],
        [
          { operation: "select", from, where: { v: { $near: { vector: [1] } } } },
          "operations[1].where.v.$near.maxDistance"
        ],
        [
          {
            operation: "select",
            from,
            where: { v: { $near: { vector: [1], maxDistance: 1 } }, w: { $similar: { vector: [1] } } }
          },
          "operations[1].where.w"
        ]
      ]
      for (const [input, path] of bad) {
        const [reason, at] = yield* parseError(input)
        assert.deepStrictEqual([reason, at], ["Validation", path], JSON.stringify(input))
      }
    }))

  it.effect("a vector search takes a real embedding's dimension (1,536) within the where bounds", () =>
    Effect.gen(function*() {
      const vector = Array.from({ length: 1536 }, (_, i) => Math.sin(i))
      const op = yield* Operation.parse({
        operation: "select",
        from,
        where: { embedding: { $similar: { vector, topK: 5 } }, lang: "en" }
      })
      assert.strictEqual(op.kind === "select" ? op.clauses?.similar?.vector.length : 0, 1536)
    }))

  it("the reference: null first in ASC and last in DESC, strings by code point, offset then limit, fields", () =>
    Effect.gen(function*() {
      const records = [
        { id: "1", n: "b", q: 2 },
        { id: "2", n: null, q: 1 },
        { id: "3", n: "B", q: 3 },
        { id: "4", q: 0 },
        { id: "5", n: "a", q: 4 }
      ]
      const run = (input: Record<string, unknown>) =>
        Effect.map(
          Operation.parse({ operation: "select", from, ...input }),
          (op) => Operation.select(op as Extract<Operation.Operation, { kind: "select" }>, records)
        )
      const ids = (rows: ReadonlyArray<Operation.Row>) => rows.map((r) => r.id)
      assert.deepStrictEqual(ids(yield* run({ orderBy: [{ field: "n" }, { field: "id" }] })), ["2", "4", "3", "5", "1"])
      assert.deepStrictEqual(ids(yield* run({ orderBy: [{ field: "n", order: "DESC" }, { field: "id" }] })), [
        "1",
        "5",
        "3",
        "2",
        "4"
      ])
      assert.deepStrictEqual(
        yield* run({ orderBy: [{ field: "q" }], offset: 1, limit: 2, fields: ["id", "n"] }),
        [{ id: "2", n: null }, { id: "1", n: "b" }]
      )
    }))

  it("a store refuses the clauses it does not declare, and offsets past its bound", () =>
    Effect.gen(function*() {
      const caps = {
        ...Capabilities.full({ sourceTypes: ["database"], maxRecordsPerOperation: 10 }),
        selectClauses: ["fields"] as const
      }
      const check = (input: unknown) =>
        Effect.flip(Effect.flatMap(Operation.parse(input), (op) => Capabilities.check("x", caps, op, "operations[0]")))
      const ordered = yield* check({ operation: "select", from, orderBy: [{ field: "a" }] })
      assert.deepStrictEqual([ordered.reason, ordered.path], ["UnsupportedOperator", "operations[0].orderBy"])
      assert.include(ordered.message, "x cannot run the select clause orderBy")
      const vector = yield* check({ operation: "select", from, where: { v: { $similar: { vector: [1], topK: 3 } } } })
      assert.deepStrictEqual([vector.reason, vector.path], ["UnsupportedOperator", "operations[0].where.v.$similar"])
      const all = { ...caps, selectClauses: Operation.selectClauses }
      const far = yield* Effect.flip(
        Effect.flatMap(
          Operation.parse({ operation: "select", from, orderBy: [{ field: "a" }], offset: 11 }),
          (op) => Capabilities.check("x", all, op)
        )
      )
      assert.deepStrictEqual([far.reason, far.path], ["TooManyRecords", "offset"])
      const many = yield* Effect.flip(
        Effect.flatMap(
          Operation.parse({ operation: "select", from, where: { v: { $similar: { vector: [1], topK: 11 } } } }),
          (op) => Capabilities.check("x", all, op)
        )
      )
      assert.deepStrictEqual([many.reason, many.path], ["TooManyRecords", "where.v.$similar.topK"])
    }))
})
