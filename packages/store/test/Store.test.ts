import { assert, describe, it } from "@effect/vitest"
import { beforeWrite, Capabilities, inDoubtOnWrite, Store, StoreError } from "@polysaga/store"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"

// the example of "Writing an adapter" in the README
const store = Store.make({
  name: "example",
  capabilities: Capabilities.full({ sourceTypes: ["database"], maxRecordsPerOperation: 100 }),
  prepare: () => Effect.void,
  transaction: (_entity, use) => use(undefined),
  write: (_unit, _prepared, operation, context) =>
    operation.kind === "select"
      ? Effect.succeed({ records: [], actions: [] })
      : Effect.fail(context.fail("UnsupportedOperator", "read-only")),
  undo: () => Effect.void,
  ping: Effect.void
})

const select = { kind: "select", source: { type: "database", tag: "t" }, entity: "items", options: {} } as const

describe("Store.make", () => {
  it.effect("builds a store from primitives; the kernel owns the checks and the error convention", () =>
    Effect.gen(function*() {
      assert.strictEqual(store.engine, "example")
      assert.isUndefined(store.resolve, "no barrier primitives, no resolve")
      const outcome = yield* store.execute({ ...select, where: { _tag: "And", filters: [] } })
      assert.strictEqual(outcome.affected, 0)
      assert.strictEqual(outcome.undo.engine, "example")
      const refused = yield* Effect.either(
        store.execute({ ...select, kind: "delete", where: { _tag: "And", filters: [] } })
      )
      assert.isTrue(Either.isLeft(refused) && refused.left.message === "example items: read-only")
      const limit = yield* Effect.either(
        store.validate({ ...select, where: { _tag: "And", filters: [] }, options: { limit: 101 } })
      )
      assert.isTrue(
        Either.isLeft(limit) && limit.left.reason === "TooManyRecords" && limit.left.path === "options.limit"
      )
    }))

  it.effect("refuses an undo record of another engine, naming the path", () =>
    Effect.gen(function*() {
      const result = yield* Effect.either(store.undo({ id: "u1", engine: "postgres", entity: "items", actions: [] }))
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left.reason, "Validation")
        assert.strictEqual(result.left.path, "engine")
        assert.strictEqual(result.left.message, "engine: an undo record of postgres given to example")
      }
      yield* store.undo({ id: "u2", engine: "example", entity: "items", actions: [] })
    }))
})

describe("Store.connectionLost", () => {
  it("knows a socket error by its code, also as a cause, and nothing else", () => {
    // what Node throws on a write to a socket the server closed (FerretDB stopping), let through by the driver
    const ended = Object.assign(new Error("This socket has been ended by the other party"), { code: "EPIPE" })
    assert.isTrue(Store.connectionLost(ended))
    // undici's fetch: "fetch failed" with the socket error as its cause
    const fetchFailed = new TypeError("fetch failed", {
      cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" })
    })
    assert.isTrue(Store.connectionLost(fetchFailed))
    assert.isFalse(Store.connectionLost(new Error("duplicate key")))
    assert.isFalse(Store.connectionLost(Object.assign(new Error("no such table"), { code: "42P01" })))
    assert.isFalse(Store.connectionLost(null))
    assert.isFalse(Store.connectionLost("ECONNRESET"))
    const cycle: { cause?: unknown } = {}
    cycle.cause = cycle
    assert.isFalse(Store.connectionLost(cycle))
  })
})

describe("inDoubtOnWrite and beforeWrite", () => {
  const lost = new StoreError({ reason: "Unavailable", message: "fetch failed", cause: new TypeError("fetch failed") })
  it("a lost connection of a write is in doubt; of the read a write starts with, it is not", () => {
    assert.isTrue(inDoubtOnWrite(lost).inDoubt)
    const read = beforeWrite(lost)
    assert.strictEqual(read.inDoubt, false)
    assert.strictEqual(inDoubtOnWrite(read).inDoubt, false, "kept: the write never started")
    assert.strictEqual(read.reason, "Unavailable", "still transient")
    assert.strictEqual(read.message, lost.message)
  })
  it("beforeWrite never clears a doubt already known", () => {
    const doubt = inDoubtOnWrite(lost)
    assert.strictEqual(beforeWrite(doubt), doubt)
    // a business error is never in doubt either way
    const refused = new StoreError({ reason: "Constraint", message: "exists" })
    assert.isUndefined(inDoubtOnWrite(refused).inDoubt)
  })
})
