/**
 * A step whose reply is lost on the way back from the store — the store applied the write, the client's connection
 * was cut — is in doubt, not failed: the saga resolves it through the store's barrier and undoes it before it
 * compensates. A step whose request was lost is resolved as not applied and fenced. Real FerretDB and Chroma, each
 * behind a loopback proxy (`LossyProxy`) that loses exactly one message.
 */
import { assert, layer } from "@effect/vitest"
import { Operation } from "@polysaga/store"
import { LossyProxy } from "@polysaga/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Source, type Transaction, Warehouse } from "../src/index.js"
import { Clients, ClientsLive, mongoDatabase } from "./stores.js"

const urlOf = (name: string, fallback: string) => new URL(process.env[name] ?? fallback)

class Proxies extends Context.Tag("test/Proxies")<Proxies, {
  readonly mongo: LossyProxy.LossyProxy
  readonly chroma: LossyProxy.LossyProxy
}>() {}

const Env = Layer.unwrapScoped(Effect.gen(function*() {
  const mongoUrl = urlOf("POLYSAGA_MONGO_URL", "mongodb://127.0.0.1:57017/")
  const chromaUrl = urlOf("POLYSAGA_CHROMA_URL", "http://127.0.0.1:58000")
  const mongo = yield* LossyProxy.make({ host: mongoUrl.hostname, port: Number(mongoUrl.port) })
  const chroma = yield* LossyProxy.make({ host: chromaUrl.hostname, port: Number(chromaUrl.port) })
  const warehouse = Warehouse.layer({
    sources: [
      {
        tag: "lossy-mongo",
        type: "database",
        engine: "mongodb",
        url: `mongodb://127.0.0.1:${mongo.port}/?directConnection=true`,
        database: mongoDatabase
      },
      { tag: "lossy-chroma", type: "vector", engine: "chroma", url: `http://127.0.0.1:${chroma.port}`, dimension: 3 }
    ]
  })
  return Layer.mergeAll(warehouse, ClientsLive, Layer.succeed(Proxies, { mongo, chroma }))
}))

/** The bytes of the insert command on `collection` in the MongoDB wire protocol (a BSON string element). */
const mongoInsertOf = (collection: string) => {
  const name = Buffer.from(`${collection}\0`)
  const length = Buffer.alloc(4)
  length.writeInt32LE(name.length)
  return Buffer.concat([Buffer.from([0x02]), Buffer.from("insert\0"), length, name])
}

const profiles = "lost_reply_profiles"
const vectors = "lost_reply_vectors"

const setup = Effect.gen(function*() {
  const { chroma, mongo } = yield* Clients
  yield* Effect.promise(() => mongo.db(mongoDatabase).collection(profiles).deleteMany({}))
  yield* Effect.promise(() => chroma.deleteCollection({ name: vectors }).catch(() => undefined))
})

/** What the stores hold for the test, read with the stores' own clients (tombstones and markers included). */
const held = Effect.gen(function*() {
  const { chroma, mongo } = yield* Clients
  const docs = yield* Effect.promise(() => mongo.db(mongoDatabase).collection(profiles).find({}).toArray())
  const records = yield* Effect.promise(async () => {
    const collection = await chroma.getCollection({ name: vectors }).catch(() => undefined)
    return collection === undefined ? [] : (await collection.get()).rows()
  })
  return { docs, records }
})

const insertProfile = (userId: string) => ({
  operation: "insert",
  from: { type: "database", tag: "lossy-mongo", entity: profiles },
  data: { userId, bio: "hello" }
} as const)

const insertVector = (id: string) => ({
  operation: "insert",
  from: { type: "vector", tag: "lossy-chroma", entity: vectors },
  data: { id, vector: [0.1, 0.2, 0.3], metadata: { userId: id } }
} as const)

layer(Env, { excludeTestServices: true, timeout: "120 seconds" })("a lost reply is resolved, never torn", (it) => {
  /**
   * A transaction of a profile and a vector whose `lossy` store loses the reply to the write of `second` (the store
   * applied it): the saga ends compensated with both steps undone, and neither store holds anything.
   */
  const lostReply = (
    lossy: "mongo" | "chroma",
    pattern: string | Uint8Array,
    operations: ReadonlyArray<Transaction.Operation>
  ) =>
    Effect.gen(function*() {
      yield* setup
      const proxy = (yield* Proxies)[lossy]
      yield* Warehouse.transaction([insertVector("warm-up")]) // the store opens its collections through the proxy
      yield* setup
      const before = proxy.lost()
      proxy.loseReply(pattern)
      const result = yield* Warehouse.transaction(operations)
      assert.strictEqual(proxy.lost() - before, 1, "the reply of the second step's write was lost")
      assert.strictEqual(result.status, "compensated", JSON.stringify(result))
      assert.deepStrictEqual(result.compensatedSteps, ["step_0", "step_1"], "the in-doubt step applied and was undone")
      const { docs, records } = yield* held
      assert.deepStrictEqual(docs, [], "no profile left")
      assert.deepStrictEqual(records.map((r) => r.id), [], "no vector left")
    })

  it.effect("MongoDB: the insert applied but its reply was lost → resolved as applied and undone with the rest", () =>
    lostReply("mongo", mongoInsertOf(profiles), [insertVector("v1"), insertProfile("u1")]))

  it.effect("Chroma: the add applied but its reply was lost → resolved as applied and undone with the rest", () =>
    lostReply("chroma", `{"ids":["v2"],"embeddings"`, [insertProfile("u2"), insertVector("v2")]))

  it.effect("a lost request is resolved as not applied and fenced: the step's late arrival is refused", () =>
    Effect.gen(function*() {
      yield* setup
      const proxies = yield* Proxies
      yield* Warehouse.transaction([insertVector("warm-up")])
      yield* setup
      const before = proxies.chroma.lost()
      proxies.chroma.loseRequest(`{"ids":["v3"],"embeddings"`)
      const id = `lost-request-${crypto.randomUUID()}`
      const result = yield* Warehouse.transaction([insertProfile("u3"), insertVector("v3")], { id })
      assert.strictEqual(proxies.chroma.lost() - before, 1)
      assert.strictEqual(result.status, "compensated", JSON.stringify(result))
      assert.deepStrictEqual(result.compensatedSteps, ["step_0"], "the in-doubt step did not apply")
      // the same step arriving late is refused by the fence
      const sources = yield* Source.Sources
      const { store } = yield* sources.get("lossy-chroma")
      const late = yield* Effect.flip(
        Effect.flatMap(Operation.parse(insertVector("v3")), (op) => store.execute(op, { sagaId: id, stepId: "step_1" }))
      )
      assert.strictEqual(late.reason, "Conflict")
      const { docs, records } = yield* held
      assert.deepStrictEqual(docs, [])
      assert.deepStrictEqual(records.map((r) => r.id), ["v3"], "only the tombstone holds the id")
      assert.strictEqual(records[0]?.metadata?.["polysaga:fence"], true)
      const selected = yield* Warehouse.transaction([{
        operation: "select",
        from: { type: "vector", tag: "lossy-chroma", entity: vectors },
        where: {}
      }])
      assert.deepStrictEqual(selected.stepResults["step_0"]?.data, [], "a tombstone is never returned")
    }))
})
