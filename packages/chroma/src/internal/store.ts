/**
 * The Store on Chroma, built on the store kernel (`Store.make`): the modules here say how Chroma does each part —
 * `catalog.ts` (collections, dimensions), `io.ts` (record reads and writes), `execute.ts` (operations), `undo.ts`
 * (undo records), `barrier.ts` (the step barrier's entries and markers).
 */
import { type Capabilities, Store, type StoreError } from "@polysaga/store"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Barrier from "./barrier.js"
import * as Catalog from "./catalog.js"
import { connect, type Connection, type Settings } from "./connection.js"
import { engine } from "./errors.js"
import * as Execute from "./execute.js"
import * as Io from "./io.js"
import * as UndoLog from "./undo.js"

/** Chroma's distance functions. */
export type Distance = Catalog.Distance

export interface Options {
  readonly settings: Settings
  readonly distance: Distance
  readonly dimension: number | undefined
  readonly dimensions: Readonly<Record<string, number>>
  readonly maxRecordsPerOperation: number
  readonly markerCollection: string
  readonly barrierCollection: string
}

export const make = (options: Options): Effect.Effect<Store, StoreError, Scope.Scope> =>
  Effect.gen(function*() {
    const conn: Connection = yield* Effect.acquireRelease(
      Effect.tap(connect(options.settings), (c) => c.call("heartbeat", undefined, () => c.client.heartbeat())),
      // the chromadb client holds no connection of its own (fetch's pool is global): nothing to close
      () => Effect.void
    )
    const max = options.maxRecordsPerOperation
    const capabilities: Capabilities.Capabilities = {
      sourceTypes: ["vector"],
      operations: ["insert", "update", "delete", "upsert", "select"],
      filterOperators: ["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "and", "or"],
      updateOperators: ["set", "increment", "multiply"],
      maxRecordsPerOperation: max,
      // no orderBy / offset: Chroma's get has no order (offset pages in its internal order)
      selectClauses: ["fields", "similar", "near"]
    }

    // Writes to one collection are serialized within this Store, so read-modify-write is atomic against
    // writers in the same process (not against other processes).
    const locks = new Map<string, Effect.Semaphore>()
    const locked = (entity: string) => <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> => {
      let lock = locks.get(entity)
      if (lock === undefined) {
        lock = Effect.unsafeMakeSemaphore(1)
        locks.set(entity, lock)
      }
      return lock.withPermits(1)(effect)
    }

    const catalog = Catalog.make(conn, options)
    const io = Io.make(conn, max)
    const undoLog = UndoLog.make({ conn, catalog, io, markerCollection: options.markerCollection })
    const barrier = Barrier.make({ conn, catalog, io, steps: options.barrierCollection })
    const execute = Execute.make({ catalog, io, undoLog, barrier, locked })

    const undo = Effect.fn("ChromaStore.undo")(function*(record: Parameters<typeof undoLog.apply>[0]) {
      const entity = yield* Catalog.checkEntity(record.entity, "undo.entity")
      yield* locked(entity)(undoLog.apply(record))
    })

    const ping = conn.call("heartbeat", undefined, () => conn.client.heartbeat()).pipe(Effect.asVoid)

    /** Retention: applied-undo records and barrier entries (with their markers and tombstones) past `olderThan`. */
    const prune = Effect.fn("ChromaStore.prune")(function*(olderThan: Duration.DurationInput) {
      const cutoff = Date.now() - Duration.toMillis(Duration.decode(olderThan))
      return (yield* undoLog.prune(cutoff)) + (yield* barrier.prune(cutoff))
    })

    return Store.make({
      name: engine,
      capabilities,
      prepare: execute.prepare,
      validate: execute.validate,
      // Chroma has no transaction: a write to one collection is serialized in this process (see `locked`)
      transaction: (_entity, use) => use(undefined),
      write: (_unit, prepared, operation, context) => execute.write(prepared, operation, context),
      undo,
      ping,
      barrier,
      prune
    })
  })
