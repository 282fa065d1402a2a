import { assert, layer } from "@effect/vitest"
import { Operation, type Outcome, type StoreError, Undo } from "@polysaga/store"
import { LossyProxy } from "@polysaga/testing"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Neo4j from "../src/index.js"
import { config, plain, query, Raw, RawLive, url } from "./utils.js"

const Person = "Neo4jGraphPerson"
const City = "Neo4jGraphCity"
const KNOWS = "NEO4J_GRAPH_KNOWS"
const LIVES_IN = "NEO4J_GRAPH_LIVES_IN"

const from = (entity: string) => ({ type: "graph", tag: "graph", entity }) as const
const person = (id: string) => ({ label: Person, match: { id } })

const exec = (input: unknown): Effect.Effect<Outcome, StoreError, Neo4j.Neo4jStore> =>
  Effect.gen(function*() {
    const store = yield* Neo4j.Neo4jStore
    const op = yield* Operation.parse(input)
    yield* store.validate(op)
    return yield* store.execute(op)
  })

/** An undo record as another process sees it: encoded, through JSON text, decoded. */
const throughJson = (undo: Undo.UndoRecord): Undo.UndoRecord =>
  Schema.decodeUnknownSync(Undo.UndoRecord)(
    JSON.parse(JSON.stringify(Schema.encodeSync(Undo.UndoRecord)(undo)))
  )

const undo = (record: Undo.UndoRecord) => Effect.flatMap(Neo4j.Neo4jStore, (store) => store.undo(throughJson(record)))

const failure = <A>(effect: Effect.Effect<A, StoreError, Neo4j.Neo4jStore>) =>
  Effect.map(Effect.either(effect), (result) => {
    assert.isTrue(Either.isLeft(result), "expected a failure")
    return Either.isLeft(result) ? result.left : (undefined as never)
  })

/** The test graph: nodes as labels + typed properties, relationships as type + properties + endpoint ids. */
const graph = Effect.gen(function*() {
  const driver = yield* Raw
  const where = `n:${Person} OR n:${City}`
  const nodes = yield* query(driver, `MATCH (n) WHERE ${where} RETURN labels(n) AS labels, properties(n) AS props`)
  const rels = yield* query(
    driver,
    `MATCH (n)-[r]->(m) WHERE (${where}) RETURN type(r) AS type, properties(r) AS props, n.id AS from, m.id AS to`
  )
  const sorted = (xs: Array<unknown>) => xs.map((x) => JSON.stringify(plain(x, true))).sort()
  return {
    nodes: sorted(nodes.map((n) => ({ labels: [...(n.labels as Array<string>)].sort(), props: n.props }))),
    relationships: sorted(rels)
  }
})

const seed = Effect.gen(function*() {
  const driver = yield* Raw
  yield* query(driver, `MATCH (n) WHERE n:${Person} OR n:${City} DETACH DELETE n`)
  yield* exec({
    operation: "insert",
    from: from(Person),
    data: [{ id: "a", name: "ada", age: 36 }, { id: "b", name: "bob", score: 2.5 }, { id: "c", name: "cy" }]
  })
  yield* exec({ operation: "insert", from: from(City), data: { id: "paris", name: "Paris" } })
  // An extra label, a float that is integral, a date and a list of floats, written by another client.
  yield* query(
    driver,
    `MATCH (n:${Person} {id: "a"}) SET n:Neo4jGraphAdmin, n.weight = 70.0, n.born = datetime("1990-05-01T10:00:00Z"), ` +
      `n.scores = [1.0, 2.5]`
  )
  yield* exec({
    operation: "insert",
    from: from(KNOWS),
    data: [
      { from: person("a"), to: person("b"), since: 2020 },
      { from: person("b"), to: person("a"), since: 2021 },
      { from: person("c"), to: person("a") },
      { from: person("a"), to: person("a"), self: true }
    ]
  })
  yield* exec({
    operation: "insert",
    from: from(LIVES_IN),
    data: { from: person("a"), to: { label: City, match: { id: "paris" } }, since: new Date("2015-01-01T00:00:00Z") }
  })
})

const TestLive = Layer.mergeAll(Neo4j.layer(config(20)), RawLive)

layer(TestLive, { timeout: "60 seconds" })("neo4j graph", (it) => {
  it.effect("a relationship insert returns its shape and its undo deletes exactly it", () =>
    Effect.gen(function*() {
      yield* seed
      const before = yield* graph
      const outcome = yield* exec({
        operation: "insert",
        from: from(KNOWS),
        data: { from: person("c"), to: person("b"), since: 2024, tags: ["x", "y"] }
      })
      assert.strictEqual(outcome.affected, 1)
      const [record] = outcome.records
      assert.strictEqual(record!._type, KNOWS)
      assert.strictEqual(record!.since, 2024)
      assert.deepStrictEqual(record!.tags, ["x", "y"])
      assert.isString(record!._elementId)
      const selected = yield* exec({
        operation: "select",
        from: from(KNOWS),
        where: { _from_id: "c", _to_id: "b" }
      })
      assert.deepStrictEqual(selected.records.map((r) => r._elementId), [record!._elementId])
      assert.strictEqual(
        selected.records[0]!._from,
        (yield* exec({
          operation: "select",
          from: from(Person),
          where: { id: "c" }
        })).records[0]!._elementId
      )
      yield* undo(outcome.undo)
      assert.deepStrictEqual(yield* graph, before)
      yield* undo(outcome.undo)
      assert.deepStrictEqual(yield* graph, before)
    }))

  it.effect("endpoint matchers must select exactly one node", () =>
    Effect.gen(function*() {
      yield* seed
      const before = yield* graph
      const missing = yield* failure(exec({
        operation: "insert",
        from: from(KNOWS),
        data: [{ from: person("a"), to: person("b") }, { from: person("a"), to: person("nobody") }]
      }))
      assert.strictEqual(missing.reason, "NoMatch")
      assert.strictEqual(missing.path, "data[1].to")
      const ambiguous = yield* failure(exec({
        operation: "insert",
        from: from(KNOWS),
        data: { from: { label: Person, match: {} }, to: person("b") }
      }))
      assert.strictEqual(ambiguous.reason, "Validation")
      const malformed = yield* failure(exec({
        operation: "insert",
        from: from(KNOWS),
        data: { from: { label: "Bad Label", match: { id: "a" } }, to: person("b") }
      }))
      assert.strictEqual(malformed.reason, "InvalidIdentifier")
      const noEnds = yield* failure(exec({ operation: "insert", from: from(KNOWS), data: { since: 1 } }))
      assert.strictEqual(noEnds.reason, "Validation")
      assert.deepStrictEqual(yield* graph, before, "nothing written")
    }))

  it.effect("a relationship delete is undone by re-creating it between the same nodes", () =>
    Effect.gen(function*() {
      yield* seed
      const before = yield* graph
      const outcome = yield* exec({ operation: "delete", from: from(KNOWS), where: { _to_id: "a" } })
      assert.strictEqual(outcome.affected, 3)
      assert.notDeepEqual(yield* graph, before)
      yield* undo(outcome.undo)
      assert.deepStrictEqual(yield* graph, before)
      yield* undo(outcome.undo)
      assert.deepStrictEqual(yield* graph, before)
    }))

  it.effect("deleting a node with relationships needs detach; nothing is written otherwise", () =>
    Effect.gen(function*() {
      yield* seed
      const before = yield* graph
      const error = yield* failure(exec({ operation: "delete", from: from(Person), where: { id: "a" } }))
      assert.strictEqual(error.reason, "HasRelationships")
      assert.deepStrictEqual(yield* graph, before)
      const lonely = yield* exec({ operation: "insert", from: from(Person), data: { id: "d" } })
      const deleted = yield* exec({ operation: "delete", from: from(Person), where: { id: "d" } })
      assert.strictEqual(deleted.affected, 1)
      yield* undo(deleted.undo)
      yield* undo(lonely.undo)
      assert.deepStrictEqual(yield* graph, before)
    }))

  it.effect("a detach-delete's undo restores labels, typed properties and every relationship", () =>
    Effect.gen(function*() {
      yield* seed
      const before = yield* graph
      const outcome = yield* exec({
        operation: "delete",
        from: from(Person),
        where: { id: { $in: ["a", "b"] } },
        options: { detach: true }
      })
      assert.strictEqual(outcome.affected, 2)
      const after = yield* graph
      assert.strictEqual(after.nodes.length, 2, "c and paris remain")
      assert.deepStrictEqual(after.relationships, [])
      yield* undo(outcome.undo)
      assert.deepStrictEqual(yield* graph, before)
      yield* undo(outcome.undo)
      assert.deepStrictEqual(yield* graph, before, "a second undo changes nothing")
    }))

  it.effect("undone in saga order, an update then a detach-delete of the same node restore the graph", () =>
    Effect.gen(function*() {
      yield* seed
      const before = yield* graph
      const updated = yield* exec({
        operation: "update",
        from: from(Person),
        data: { name: "ada lovelace", age: { $increment: 1 }, scores: { $push: 4 } },
        where: { id: "a" }
      })
      const created = yield* exec({
        operation: "insert",
        from: from(KNOWS),
        data: { from: person("a"), to: person("c"), since: 2025 }
      })
      const deleted = yield* exec({
        operation: "delete",
        from: from(Person),
        where: { id: "a" },
        options: { detach: true }
      })
      // The re-created node has a new element id: the earlier steps' undo finds it by its image.
      yield* undo(deleted.undo)
      yield* undo(created.undo)
      yield* undo(updated.undo)
      assert.deepStrictEqual(yield* graph, before)
    }))

  it.effect("undo of an absolute update conflicts with another writer; a relative one survives them", () =>
    Effect.gen(function*() {
      yield* seed
      const mine = yield* exec({ operation: "update", from: from(Person), data: { name: "x" }, where: { id: "b" } })
      yield* exec({ operation: "update", from: from(Person), data: { name: "y" }, where: { id: "b" } })
      const conflict = yield* failure(undo(mine.undo))
      assert.strictEqual(conflict.reason, "Conflict")
      const relative = yield* exec({
        operation: "update",
        from: from(Person),
        data: { age: { $decrement: 6 } },
        where: { id: "a" }
      })
      yield* exec({ operation: "update", from: from(Person), data: { age: { $increment: 100 } }, where: { id: "a" } })
      // Two concurrent applications of the same undo record apply it once.
      yield* Effect.all([undo(relative.undo), undo(relative.undo), undo(relative.undo)], { concurrency: 3 })
      const driver = yield* Raw
      const [row] = yield* query(driver, `MATCH (n:${Person} {id: "a"}) RETURN n.age AS age`)
      assert.deepStrictEqual(plain(row!.age, true), { int: 136 }, "36 - 6 + 100 + 6, still an integer")
    }))

  it.effect("values keep their Neo4j types through update and undo", () =>
    Effect.gen(function*() {
      yield* seed
      const before = yield* graph
      const outcome = yield* exec({
        operation: "update",
        from: from(Person),
        data: { weight: { $multiply: 2 }, born: new Date("2000-01-01T00:00:00Z"), scores: { $pull: 2.5 }, age: null },
        where: { id: "a" }
      })
      const [record] = outcome.records
      assert.strictEqual(record!.weight, 140)
      assert.deepStrictEqual(record!.born, new Date("2000-01-01T00:00:00Z"))
      assert.deepStrictEqual(record!.scores, [1])
      assert.isUndefined(record!.age, "null removes a property")
      yield* undo(outcome.undo)
      assert.deepStrictEqual(yield* graph, before)
    }))

  it.effect("filters use two-valued logic and SQL patterns", () =>
    Effect.gen(function*() {
      yield* seed
      const ids = (where: unknown) =>
        Effect.map(
          exec({ operation: "select", from: from(Person), where }),
          (o) => o.records.map((r) => r.id as string).sort()
        )
      assert.deepStrictEqual(yield* ids({ age: { $ne: 36 } }), ["b", "c"])
      assert.deepStrictEqual(yield* ids({ $not: { age: { $lt: 40 } } }), ["b", "c"])
      assert.deepStrictEqual(yield* ids({ name: { $like: "_o%" } }), ["b"])
      assert.deepStrictEqual(yield* ids({ name: { $ilike: "A%" } }), ["a"])
      assert.deepStrictEqual(yield* ids({ scores: { $contains: 2.5 } }), ["a"])
      assert.deepStrictEqual(yield* ids({ name: { $contains: "a" } }), [], "$contains on a string is false")
      assert.deepStrictEqual(yield* ids({ born: { $gt: new Date("1980-01-01T00:00:00Z") } }), ["a"])
      assert.deepStrictEqual(yield* ids({ score: { $exists: true } }), ["b"])
    }))

  it.effect("upserts need a key; relationships cannot be upserted", () =>
    Effect.gen(function*() {
      yield* seed
      const before = yield* graph
      const store = yield* Neo4j.Neo4jStore
      const noKey = yield* failure(exec({ operation: "upsert", from: from(Person), data: { id: "e" } }))
      assert.strictEqual(noKey.reason, "Validation")
      const rel = yield* Operation.parse({ operation: "upsert", from: from(KNOWS), data: { since: 1 }, where: {} })
      assert.strictEqual((yield* failure(store.validate(rel))).reason, "UnsupportedOperator")
      const created = yield* exec({
        operation: "upsert",
        from: from(Person),
        data: [{ id: "e", name: "eve" }, { id: "b", name: "bobby" }],
        options: { key: ["id"] }
      })
      assert.deepStrictEqual(created.records.map((r) => r.name), ["eve", "bobby"])
      yield* undo(created.undo)
      assert.deepStrictEqual(yield* graph, before)
    }))

  it.effect("reserved names are refused", () =>
    Effect.gen(function*() {
      const refused = (input: unknown) => Effect.map(failure(exec(input)), (e) => e.reason)
      assert.strictEqual(
        yield* refused({ operation: "insert", from: from(Person), data: { _elementId: "x" } }),
        "Validation"
      )
      assert.strictEqual(
        yield* refused({ operation: "update", from: from(KNOWS), data: { _from: "x" }, where: {} }),
        "Validation"
      )
      assert.strictEqual(yield* refused({ operation: "select", from: from("_PolysagaUndo") }), "Validation")
      assert.strictEqual(
        yield* refused({ operation: "insert", from: from(Person), data: { nested: { a: 1 } } }),
        "Validation"
      )
      assert.strictEqual(
        yield* refused({ operation: "insert", from: from(Person), data: { mixed: [1, "a"] } }),
        "Validation"
      )
    }))
})

layer(
  Neo4j.layerConfig({ url: Config.redacted("NEO4J_URL"), maxRecordsPerOperation: Config.integer("NEO4J_MAX") }).pipe(
    Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["NEO4J_URL", url()], ["NEO4J_MAX", "50"]]))))
  )
)("neo4j layerConfig", (it) => {
  it.effect("builds the store from Config", () =>
    Effect.gen(function*() {
      const store = yield* Neo4j.Neo4jStore
      assert.strictEqual(store.capabilities.maxRecordsPerOperation, 50)
      assert.deepStrictEqual(store.capabilities.sourceTypes, ["graph"])
      yield* store.ping
    }))
})

layer(Layer.empty)("neo4j connection faults", (it) => {
  it.scoped("a connection cut under a query is a transient Unavailable error (the driver's code, not its message)", () =>
    Effect.gen(function*() {
      const target = new URL(url())
      const proxy = yield* LossyProxy.make({ host: target.hostname, port: Number(target.port) })
      const store = yield* Neo4j.make({ ...config(), url: Redacted.make(`bolt://127.0.0.1:${proxy.port}`) })
      const label = `Lost${Date.now().toString(36)}`
      const create = yield* Operation.parse({
        operation: "insert",
        from: { type: "graph", tag: "g", entity: label },
        data: { id: "a" }
      })
      yield* store.execute(create)
      proxy.loseRequest(label)
      const error = yield* Effect.flip(store.execute(create))
      assert.strictEqual(proxy.lost(), 1)
      assert.strictEqual(error.reason, "Unavailable", error.message)
      assert.isTrue(error.transient)
      const code = (error.cause as { readonly code?: unknown } | undefined)?.code
      assert.include(["ServiceUnavailable", "SessionExpired"], code, String(code))
    }))

  it.effect("an unreachable server is a transient Unavailable error", () =>
    Effect.gen(function*() {
      const result = yield* Effect.either(
        Effect.scoped(Neo4j.make({ ...config(), url: Redacted.make("bolt://127.0.0.1:1") }))
      )
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left.reason, "Unavailable")
        assert.isTrue(result.left.transient)
      }
    }))
})
