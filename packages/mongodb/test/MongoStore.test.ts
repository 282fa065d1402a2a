import { assert, describe, it, layer } from "@effect/vitest"
import { Capabilities, Operation, type Store, type StoreError, Undo } from "@polysaga/store"
import { Conformance } from "@polysaga/testing/conformance"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FC from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { type MongoClient, ObjectId } from "mongodb"
import * as MongoStore from "../src/index.js"
import { compileFilter as compile, likeToRegex } from "../src/internal/compile.js"
import { database, rawClient, storeOf, url } from "./harness.js"

class Env extends Context.Tag("Env")<Env, { readonly store: Store; readonly client: MongoClient }>() {}

const EnvLive = Layer.scoped(
  Env,
  Effect.gen(function*() {
    return { store: yield* storeOf(20), client: yield* rawClient }
  })
)

const from = (entity: string) => ({ type: "database", tag: "db", entity }) as const

const exec = (input: unknown) =>
  Effect.gen(function*() {
    const { store } = yield* Env
    const op = yield* Operation.parse(input)
    yield* store.validate(op)
    return yield* store.execute(op)
  })

const raw = (entity: string) => Effect.map(Env, ({ client }) => client.db(database).collection(entity))

const reset = (entity: string) => Effect.flatMap(raw(entity), (c) => Effect.promise(() => c.deleteMany({})))

const docs = (entity: string) =>
  Effect.flatMap(raw(entity), (c) => Effect.promise(() => c.find({}, { sort: { _id: 1 } }).toArray()))

const reasonOf = <A>(effect: Effect.Effect<A, StoreError, Env>) =>
  Effect.map(Effect.either(effect), (r) => Either.isLeft(r) ? r.left.reason : "success")

/** An undo record as another process sees it: encoded, through JSON text, decoded. */
const throughJson = (undo: Undo.UndoRecord) =>
  Schema.decodeUnknownSync(Undo.UndoRecord)(JSON.parse(JSON.stringify(Schema.encodeSync(Undo.UndoRecord)(undo))))

describe("filter compilation", () => {
  const allowed = new Set(["$and", "$or", "$nor", "$not", "$type", "$eq", "$in", "$gt", "$gte", "$lt", "$lte"])
  const operatorsOf = (u: unknown, found: Set<string> = new Set()): Set<string> => {
    if (Array.isArray(u)) u.forEach((v) => operatorsOf(v, found))
    else if (u !== null && typeof u === "object" && !(u instanceof Date) && !(u instanceof ObjectId)) {
      for (const [k, v] of Object.entries(u)) {
        if (k.startsWith("$")) found.add(k)
        operatorsOf(v, found)
      }
    }
    return found
  }
  const caps: Capabilities.Capabilities = {
    sourceTypes: ["database"],
    operations: ["select"],
    filterOperators: Capabilities.allFilterOperators,
    updateOperators: [],
    maxRecordsPerOperation: 20
  }

  it.effect("produces only plain query operators, never $where / $expr / $function", () =>
    Effect.gen(function*() {
      for (const where of FC.sample(Conformance.Arbitraries.where(caps), { numRuns: 300, seed: 3 })) {
        const query = compile(
          yield* Operation.parse({ operation: "select", from: from("t"), where }).pipe(
            Effect.map((op) => (op as Extract<Operation.Operation, { kind: "select" }>).where)
          )
        )
        for (const op of operatorsOf(query)) {
          assert.isTrue(allowed.has(op) || op === "$regex" || op === "$options" || op === "$exists", op)
        }
      }
    }))

  it("escapes every regex metacharacter of a LIKE pattern", () => {
    assert.strictEqual(
      likeToRegex("a.b%c_(x)[y]{2}+?*^$|\\/"),
      "\\Aa\\.b[\\s\\S]*c[\\s\\S]\\(x\\)\\[y\\]\\{2\\}\\+\\?\\*\\^\\$\\|\\\\\\/\\z"
    )
    assert.strictEqual(likeToRegex("é\n"), "\\Aé\\x{a}\\z")
  })
})

layer(EnvLive, { excludeTestServices: true, timeout: "60 seconds" })("MongoStore on the stack's server", (it) => {
  it.effect("generates an ObjectId _id, finds it by its hex string, and undoes after a JSON round trip", () =>
    Effect.gen(function*() {
      const entity = "mongodb_ids"
      yield* reset(entity)
      const at = new Date("2024-05-01T10:00:00.000Z")
      const inserted = yield* exec({ operation: "insert", from: from(entity), data: { sku: "a1", at, qty: 3 } })
      const id = inserted.records[0]!["_id"]
      assert.instanceOf(id, ObjectId)
      const stored = (yield* docs(entity))[0]!
      assert.instanceOf(stored["at"], Date, "dates are stored as BSON dates")
      assert.deepStrictEqual(inserted.undo.actions[0], {
        _tag: "DeleteCreated",
        key: { _id: { $oid: (id as ObjectId).toHexString() } }
      })
      const hex = (id as ObjectId).toHexString()
      const found = yield* exec({ operation: "select", from: from(entity), where: { _id: hex } })
      assert.strictEqual(found.affected, 1)
      const byDate = yield* exec({ operation: "select", from: from(entity), where: { at: { $gte: "2024-05-01" } } })
      assert.strictEqual(byDate.affected, 1, "a string operand compares with a BSON date as a date")

      const deleted = yield* exec({ operation: "delete", from: from(entity), where: { _id: hex } })
      const image = (deleted.undo.actions[0] as { image: Record<string, unknown> }).image
      assert.deepStrictEqual(image["at"], { $date: "2024-05-01T10:00:00Z" })
      const { store } = yield* Env
      yield* store.undo(throughJson(deleted.undo))
      const back = (yield* docs(entity))[0]!
      assert.isTrue((back["_id"] as ObjectId).equals(id as ObjectId), "the same ObjectId is re-inserted")
      assert.strictEqual((back["at"] as Date).getTime(), at.getTime())
      yield* store.undo(throughJson(inserted.undo))
      assert.deepStrictEqual(yield* docs(entity), [])
    }))

  it.effect("undo of a set on a missing field removes the field (not null)", () =>
    Effect.gen(function*() {
      const entity = "mongodb_absent"
      yield* reset(entity)
      yield* exec({ operation: "insert", from: from(entity), data: { sku: "a", qty: 1 } })
      const before = yield* docs(entity)
      const outcome = yield* exec({
        operation: "update",
        from: from(entity),
        data: { discount: 5, tags: { $pull: "x" }, qty: { $multiply: 2 } },
        where: { sku: "a" }
      })
      assert.deepStrictEqual(outcome.records[0]!["discount"], 5)
      assert.isFalse("tags" in outcome.records[0]!, "$pull on a missing field leaves it missing")
      const { store } = yield* Env
      yield* store.undo(throughJson(outcome.undo))
      assert.deepStrictEqual(yield* docs(entity), before)
    }))

  it.effect("upsert by options.key updates the match or inserts, and both undo", () =>
    Effect.gen(function*() {
      const entity = "mongodb_upsert"
      yield* reset(entity)
      yield* exec({ operation: "insert", from: from(entity), data: { sku: "a", qty: 1, name: "old" } })
      const before = yield* docs(entity)
      const outcome = yield* exec({
        operation: "upsert",
        from: from(entity),
        data: [{ sku: "a", qty: 2 }, { sku: "b", qty: 7 }],
        options: { key: ["sku"] }
      })
      assert.deepStrictEqual(outcome.undo.actions.map((a) => a._tag), ["Revert", "DeleteCreated"])
      const now = yield* docs(entity)
      assert.deepStrictEqual(now.map((d) => [d["sku"], d["qty"], d["name"]]), [["a", 2, "old"], ["b", 7, undefined]])
      const { store } = yield* Env
      yield* store.undo(outcome.undo)
      assert.deepStrictEqual(yield* docs(entity), before)
      const ambiguous = yield* exec({ operation: "insert", from: from(entity), data: { sku: "a", qty: 9 } })
      assert.strictEqual(
        yield* reasonOf(exec({ operation: "upsert", from: from(entity), data: { qty: 1 }, where: { sku: "a" } })),
        "Conflict",
        "a key matching two records is refused"
      )
      yield* store.undo(ambiguous.undo)
      assert.strictEqual(
        yield* reasonOf(exec({ operation: "upsert", from: from(entity), data: { qty: 1 } })),
        "Validation",
        "an upsert needs a key"
      )
    }))

  it.effect("values cannot smuggle operators, paths, BSON type tags or the undo marker", () =>
    Effect.gen(function*() {
      const entity = "mongodb_smuggle"
      yield* reset(entity)
      yield* exec({ operation: "insert", from: from(entity), data: { sku: "a", qty: 1 } })
      const before = yield* docs(entity)
      const { store } = yield* Env
      const source = { type: "database", tag: "db" } as const
      const insert = (record: Record<string, unknown>): Operation.Operation => ({
        kind: "insert",
        source,
        entity,
        options: {},
        records: [record]
      })
      const set = (field: string, value: unknown): Operation.Operation => ({
        kind: "update",
        source,
        entity,
        options: {},
        where: { _tag: "And", filters: [] },
        changes: [{ op: "set", field, value, path: `data.${field}` }]
      })
      const crafted: ReadonlyArray<Operation.Operation> = [
        insert({ sku: { $gt: "" } }),
        insert({ sku: { "a.b": 1 } }),
        insert({ sku: { _bsontype: "Code", code: "x" } }),
        insert({ _bsontype: "ObjectId" }),
        insert({ _polysaga_undo: ["x"] }),
        insert({ _id: ["a"] }),
        set("qty", { $inc: 1 }),
        set("qty", [{ $where: "1" }]),
        set("_id", "x"),
        set("_polysaga_undo", "x"),
        {
          kind: "select",
          source,
          entity,
          options: {},
          where: { _tag: "Compare", field: "sku", op: "eq", value: { $ne: null }, path: "where.sku" }
        },
        {
          kind: "select",
          source,
          entity,
          options: {},
          where: { _tag: "Compare", field: "sku", op: "where" as never, value: "1", path: "where.sku" }
        }
      ]
      for (const op of crafted) {
        const reason = yield* reasonOf(store.execute(op))
        // an operator the model does not know is refused by the kernel's capability check
        assert.include(["Validation", "InvalidIdentifier", "UnsupportedOperator"], reason, JSON.stringify(op))
      }
      assert.deepStrictEqual(yield* docs(entity), before)
    }))

  it.effect("an insert or update failing part-way undoes what it wrote", () =>
    Effect.gen(function*() {
      const entity = "mongodb_unique"
      const collection = yield* raw(entity)
      yield* reset(entity)
      yield* Effect.promise(() => collection.createIndex({ sku: 1 }, { unique: true }))
      yield* exec({ operation: "insert", from: from(entity), data: { sku: "taken" } })
      const before = yield* docs(entity)
      const result = yield* Effect.either(
        exec({ operation: "insert", from: from(entity), data: [{ sku: "new" }, { sku: "taken" }] })
      )
      assert.isTrue(Either.isLeft(result) && result.left.reason === "Constraint")
      assert.deepStrictEqual(yield* docs(entity), before)
      yield* exec({ operation: "insert", from: from(entity), data: { sku: "other" } })
      const two = yield* docs(entity)
      const update = yield* Effect.either(
        exec({ operation: "update", from: from(entity), data: { sku: "same" }, where: {} })
      )
      assert.isTrue(Either.isLeft(update) && update.left.reason === "Constraint", "the second document collides")
      assert.deepStrictEqual(yield* docs(entity), two, "the first document's update is rolled back")
    }))

  it.effect("a re-applied undo after a crash between the write and the log does not apply the inverse twice", () =>
    Effect.gen(function*() {
      const entity = "mongodb_crash"
      const collection = yield* raw(entity)
      yield* reset(entity)
      yield* exec({ operation: "insert", from: from(entity), data: { sku: "a", qty: 10, tags: ["x"] } })
      const outcome = yield* exec({
        operation: "update",
        from: from(entity),
        data: { qty: { $decrement: 3 }, tags: { $push: "y" } },
        where: { sku: "a" }
      })
      // The state a crash right after the undo's write leaves: inverse written with the marker, no log entry.
      yield* Effect.promise(() =>
        collection.updateOne({ sku: "a" }, {
          $inc: { qty: 3 },
          $set: { tags: ["x"] },
          $addToSet: { _polysaga_undo: outcome.undo.id }
        } as never)
      )
      const { store } = yield* Env
      yield* store.undo(outcome.undo)
      const [doc] = yield* docs(entity)
      assert.strictEqual(doc!["qty"], 10)
      assert.deepStrictEqual(doc!["tags"], ["x"])
      assert.isFalse("_polysaga_undo" in doc!, "the marker is removed once the undo is logged")
      yield* store.undo(outcome.undo)
      assert.strictEqual((yield* docs(entity))[0]!["qty"], 10, "and the log keeps it applied once")
    }))

  it.effect("re-inserting over a different record with the same _id is a Conflict", () =>
    Effect.gen(function*() {
      const entity = "mongodb_reinsert"
      const collection = yield* raw(entity)
      yield* reset(entity)
      yield* exec({ operation: "insert", from: from(entity), data: { _id: "k1", qty: 1 } })
      const deleted = yield* exec({ operation: "delete", from: from(entity), where: { _id: "k1" } })
      yield* Effect.promise(() => collection.insertOne({ _id: "k1" as never, qty: 2 }))
      const { store } = yield* Env
      assert.strictEqual(yield* reasonOf(store.undo(deleted.undo)), "Conflict")
      assert.strictEqual((yield* docs(entity))[0]!["qty"], 2, "nothing overwritten")
    }))

  it.effect("select honours limit and refuses more than the bound without one", () =>
    Effect.gen(function*() {
      const entity = "mongodb_select"
      yield* reset(entity)
      const rows = Array.from({ length: 20 }, (_, i) => ({ n: i }))
      yield* exec({ operation: "insert", from: from(entity), data: rows })
      yield* exec({ operation: "insert", from: from(entity), data: { n: 20 } })
      assert.strictEqual(yield* reasonOf(exec({ operation: "select", from: from(entity) })), "TooManyRecords")
      const some = yield* exec({ operation: "select", from: from(entity), options: { limit: 5 } })
      assert.strictEqual(some.affected, 5)
    }))
})

describe("layers", () => {
  it.live("layerConfig reads the URL and database through Config", () =>
    Effect.gen(function*() {
      const store = yield* MongoStore.MongoStore
      yield* store.ping
      assert.strictEqual(store.engine, "mongodb")
      assert.strictEqual(store.capabilities.maxRecordsPerOperation, 1000)
    }).pipe(
      Effect.provide(
        MongoStore.layerConfig({
          url: Config.redacted("MONGO_URL"),
          database: Config.string("MONGO_DB"),
          maxRecordsPerOperation: Config.withDefault(Config.integer("MONGO_MAX_RECORDS"), 1000)
        }).pipe(
          Layer.provide(
            Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["MONGO_URL", url()], ["MONGO_DB", database]])))
          )
        )
      )
    ))

  it.live("maxConnections sizes the pool: 1 to 1000 accepted (a pool of one serves concurrent steps), others refused", () =>
    Effect.gen(function*() {
      const client = yield* rawClient
      const entity = "mongodb_pool"
      yield* Effect.promise(() => client.db(database).collection(entity).deleteMany({}))
      const store = yield* MongoStore.make({ url: Redacted.make(url()), database, maxConnections: 1 })
      const inserts = yield* Effect.forEach(
        Array.from({ length: 6 }, (_, n) => ({ operation: "insert", from: from(entity), data: { n } })),
        (input) => Operation.parse(input)
      )
      yield* Effect.forEach(
        inserts,
        (op, i) => store.execute(op, { sagaId: `pool-${crypto.randomUUID()}`, stepId: `${i}` }),
        {
          concurrency: 6
        }
      )
      const all = yield* Effect.flatMap(
        Operation.parse({ operation: "select", from: from(entity) }),
        (op) => store.execute(op)
      )
      assert.deepStrictEqual(all.records.map((r) => r["n"]).sort(), [0, 1, 2, 3, 4, 5])
      for (const bad of [0, 1.5, 1001]) {
        const refused = yield* Effect.flip(
          MongoStore.make({ url: Redacted.make(url()), database, maxConnections: bad })
        )
        assert.strictEqual(refused.reason, "Validation")
        assert.strictEqual(refused.path, "maxConnections")
      }
      // the descriptor's config, from JSON: the same range
      const decode = Schema.decodeUnknownEither(MongoStore.adapter.config)
      const accepted = decode({ url: url(), database, maxConnections: 5 })
      assert.isTrue(Either.isRight(accepted) && accepted.right.maxConnections === 5)
      const tooMany = decode({ url: url(), database, maxConnections: 1001 })
      assert.isTrue(Either.isLeft(tooMany) && tooMany.left.message.includes("maxConnections"))
    }).pipe(Effect.scoped))

  it.live("an unreachable server fails the layer with a transient error", () =>
    Effect.gen(function*() {
      const result = yield* Effect.either(
        Layer.build(
          MongoStore.layer({
            url: Redacted.make("mongodb://127.0.0.1:1/"),
            database,
            connectTimeout: "300 millis"
          })
        ).pipe(Effect.scoped)
      )
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left.reason, "Unavailable")
        assert.isTrue(result.left.transient)
      }
    }))
})
