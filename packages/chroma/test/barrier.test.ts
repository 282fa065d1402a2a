/**
 * The step barrier on a real Chroma when a write's reply or request is lost (a loopback proxy cuts the connection):
 * the step fails in doubt, a retry or `resolve` reads the markers and answers what really applied, the rest is fenced,
 * and undoing the answer leaves the records as before; `prune` removes what the barrier left.
 */
import { assert, layer } from "@effect/vitest"
import { Operation, type Store } from "@polysaga/store"
import { LossyProxy } from "@polysaga/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as ChromaStore from "../src/index.js"
import { config, rawClient, reset, url } from "./harness.js"

class Env extends Context.Tag("Env")<Env, { readonly store: Store; readonly proxy: LossyProxy.LossyProxy }>() {}

const EnvLive = Layer.scoped(
  Env,
  Effect.gen(function*() {
    const target = new URL(url)
    const proxy = yield* LossyProxy.make({ host: target.hostname, port: Number(target.port) })
    const store = yield* ChromaStore.make(config({ url: Redacted.make(`http://127.0.0.1:${proxy.port}`) }))
    return { store, proxy }
  })
)

const entity = "barrier_cut"
const from = { type: "vector", tag: "vec", entity } as const
const seed = [
  { id: "c1", vector: [1, 0, 0], metadata: { qty: 10 } },
  { id: "c2", vector: [0, 1, 0], metadata: { qty: 10 } }
]

/** Every record as the raw client reads it: id, qty, and the adapter's own keys. */
const held = Effect.promise(async () => {
  const collection = await rawClient().getCollection({ name: entity })
  const got = await collection.get({ include: ["metadatas"] })
  return got.ids.map((id, i) => ({ id, metadata: got.metadatas[i] ?? {} })).sort((a, b) => a.id < b.id ? -1 : 1)
})

const setup = Effect.gen(function*() {
  const { store } = yield* Env
  yield* reset(rawClient(), entity)
  yield* store.execute(yield* Operation.parse({ operation: "insert", from, data: seed }))
})

layer(EnvLive, { timeout: "60 seconds" })("a Chroma write cut off", (it) => {
  it.effect("an update whose reply was lost is answered applied from its markers, and its undo restores both", () =>
    Effect.gen(function*() {
      const { proxy, store } = yield* Env
      yield* setup
      const update = yield* Operation.parse({ operation: "update", from, where: { qty: 10 }, data: { qty: 5 } })
      const context = { sagaId: `cut-${crypto.randomUUID()}`, stepId: "step_0" }
      const before = proxy.lost()
      // the update request (the reads before it name the same ids, with a where instead of metadatas)
      proxy.loseReply(`"ids":["c1","c2"],"metadatas"`)
      const error = yield* Effect.flip(store.execute(update, context))
      assert.strictEqual(proxy.lost() - before, 1, "the reply of the update was lost")
      assert.isTrue(error.inDoubt === true, `in doubt: ${error.message}`)
      assert.deepStrictEqual((yield* held).map((r) => r.metadata["qty"]), [5, 5], "Chroma applied the update")
      // a retry finds the claim of the attempt whose reply was lost, and both records carrying its marker
      const retried = yield* store.execute(update, context)
      assert.deepStrictEqual(retried.records.map((r) => r["id"]).sort(), ["c1", "c2"], "answered from the markers")
      assert.deepStrictEqual((yield* held).map((r) => r.metadata["qty"]), [5, 5], "not applied twice")

      const resolved = yield* store.resolve!(context)
      assert.strictEqual(resolved._tag, "Some")
      if (resolved._tag !== "Some") return
      assert.deepStrictEqual(resolved.value.records.map((r) => r["id"]).sort(), ["c1", "c2"])
      assert.strictEqual(resolved.value.undo.id, retried.undo.id, "the retry's answer is the resolution's")
      yield* store.undo(resolved.value.undo)
      const after = yield* held
      assert.deepStrictEqual(after.map((r) => r.metadata["qty"]), [10, 10], "restored")
      // the step's marker stays until prune (its barrier entry is answered from it); nothing else is left
      assert.isTrue(
        after.every((r) => Object.keys(r.metadata).every((k) => k === "qty" || k.startsWith("polysaga:step:")))
      )
      assert.isAtLeast(yield* store.prune!(0), 1)
      assert.deepStrictEqual((yield* held).map((r) => r.metadata), [{ qty: 10 }, { qty: 10 }], "markers pruned")
    }))

  it.effect("a delete whose request was lost is answered not applied; the late delete spares the fenced records", () =>
    Effect.gen(function*() {
      const { proxy, store } = yield* Env
      yield* setup
      const remove = yield* Operation.parse({ operation: "delete", from, where: { qty: 10 } })
      const context = { sagaId: `cut-${crypto.randomUUID()}`, stepId: "step_0" }
      const before = proxy.lost()
      // the delete request: the only one that spares fenced records
      proxy.loseRequest(`"$ne":"fence"`)
      const error = yield* Effect.flip(store.execute(remove, context))
      assert.strictEqual(proxy.lost() - before, 1, "the delete never reached Chroma")
      assert.isTrue(error.inDoubt === true, `in doubt: ${error.message}`)
      assert.strictEqual((yield* store.resolve!(context))._tag, "None", "nothing applied")
      const fenced = yield* held
      assert.deepStrictEqual(fenced.map((r) => r.id), ["c1", "c2"])
      assert.isTrue(fenced.every((r) => Object.values(r.metadata).includes("fence")), "both records fenced")
      // the same delete arriving late (as Chroma would run it) spares the fenced records
      const key = Object.keys(fenced[0]!.metadata).find((k) => fenced[0]!.metadata[k] === "fence")!
      yield* Effect.promise(async () => {
        const collection = await rawClient().getCollection({ name: entity })
        await collection.delete({ ids: ["c1", "c2"], where: { [key]: { $ne: "fence" } } })
      })
      assert.deepStrictEqual((yield* held).map((r) => r.id), ["c1", "c2"], "the late delete deleted nothing")
      assert.isAtLeast(yield* store.prune!(0), 1)
      assert.deepStrictEqual((yield* held).map((r) => r.metadata), [{ qty: 10 }, { qty: 10 }], "fences pruned")
    }))
})
