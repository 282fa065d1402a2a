/**
 * The connection: the official driver's client (connected, pinged and closed with the store's scope) and the
 * configuration it is opened with, driver errors as classified `StoreError`s, and how this store's own writes to one
 * document are serialized.
 */
import {
  type ErrorOptions,
  Identifier,
  KeyedLock,
  Store,
  type StoreError,
  type StoreErrorReason
} from "@polysaga/store"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import {
  BSON,
  type Collection,
  type Db,
  MongoClient,
  MongoClientClosedError,
  MongoError,
  MongoNetworkError,
  MongoNetworkTimeoutError,
  MongoNotConnectedError,
  MongoOperationTimeoutError,
  MongoParseError,
  MongoServerClosedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError
} from "mongodb"
import type { MongoStoreConfig } from "../index.js"
import type { EntryDoc } from "./barrier.js"
import type { LogEntry } from "./undo.js"

/** The engine name undo records carry. */
export const engine = "mongodb" as const

/** The kernel's error constructor, for this engine. */
export const fail = (reason: StoreErrorReason, message: string, options?: ErrorOptions): StoreError =>
  Store.fail(engine, reason, message, options)

/*
 * Driver errors → `StoreError` reasons. Connection faults are transient (`Unavailable` / `Timeout`), a write
 * conflict is `Deadlock`, a duplicate key or a schema-validation failure is `Constraint`, a refused operand is
 * `Validation`; anything else is `Unknown`.
 */
const constraintCodes = new Set([11000, 11001, 12582, 121])
const timeoutCodes = new Set([50, 89, 202, 262, 290])
const unavailableCodes = new Set([6, 7, 91, 189, 9001, 10107, 11600, 11602, 13435, 13436])
const conflictCodes = new Set([112, 251])
const validationCodes = new Set([2, 9, 14, 40, 52, 53, 56, 57, 66])

const reasonOf = (error: unknown): StoreError["reason"] => {
  if (error instanceof MongoNetworkTimeoutError || error instanceof MongoOperationTimeoutError) return "Timeout"
  // the driver lets some socket errors through unwrapped (a write on a socket FerretDB closed as it stopped)
  if (Store.connectionLost(error)) return "Unavailable"
  if (
    error instanceof MongoNetworkError || error instanceof MongoServerSelectionError ||
    error instanceof MongoTopologyClosedError || error instanceof MongoNotConnectedError ||
    error instanceof MongoClientClosedError || error instanceof MongoServerClosedError
  ) return "Unavailable"
  if (error instanceof MongoParseError || error instanceof BSON.BSONError) return "Validation"
  if (error instanceof MongoServerError) {
    const code = typeof error.code === "number" ? error.code : undefined
    if (code !== undefined && constraintCodes.has(code)) return "Constraint"
    // FerretDB v1 reports a unique index violated by an update as InternalError (1) with SQLite's message.
    if (code === 1 && /UNIQUE constraint failed/.test(error.message)) return "Constraint"
    if (code !== undefined && conflictCodes.has(code)) return "Deadlock"
    if (code !== undefined && timeoutCodes.has(code)) return "Timeout"
    if (code !== undefined && unavailableCodes.has(code)) return "Unavailable"
    if (error.hasErrorLabel("RetryableWriteError") || error.hasErrorLabel("TransientTransactionError")) {
      return "Unavailable"
    }
    if (code !== undefined && validationCodes.has(code)) return "Validation"
  }
  if (error instanceof MongoError && error.hasErrorLabel("ResetPool")) return "Unavailable"
  return "Unknown"
}

/** Is this a duplicate-key error? */
export const isDuplicateKey = (error: unknown): boolean =>
  error instanceof MongoServerError && (error.code === 11000 || error.code === 11001)

/** A driver error as a `StoreError`; `what` says which call failed. */
export const fromDriver = (entity: string | undefined, what: string) => (error: unknown): StoreError => {
  const detail = error instanceof Error ? error.message : String(error)
  return fail(reasonOf(error), `${what} failed: ${detail}`, { entity, cause: error })
}

/** A driver call as an Effect, its failure classified. */
export const call = <A>(entity: string | undefined, what: string, f: () => Promise<A>): Effect.Effect<A, StoreError> =>
  Effect.tryPromise({ try: f, catch: fromDriver(entity, what) })

/*
 * Per-document write serialization inside one store instance.
 *
 * FerretDB v1 runs an update as "query, apply the operators in the proxy, write the document back by `_id`":
 * two concurrent writes to one document can lose one of them (`$inc` included, and a filter-guarded write
 * is no compare-and-set). MongoDB applies each single-document write atomically. When the server is FerretDB
 * (or `serializeWrites: true`), the adapter runs its own writes to one document one at a time, so writes made
 * through one store instance are never lost; writes from other processes are not covered.
 */

/** Runs `effect` holding the lock of the document `id` of `entity`. */
export type Lock = <A, E>(entity: string, id: unknown, effect: Effect.Effect<A, E>) => Effect.Effect<A, E>

/** No serialization: the server makes each single-document write atomic. */
export const none: Lock = (_entity, _id, effect) => effect

/** A lock per document, dropped when nobody holds or waits for it. */
export const perDocument = (): Lock => {
  const lock = KeyedLock.make()
  return (entity, id, effect) =>
    Effect.suspend(() => lock(`${entity}/${BSON.EJSON.stringify(id, { relaxed: true })}`, effect))
}

/** What the adapter works with: the database, its bookkeeping collections, the bounds. */
export interface Env {
  readonly db: Db
  /** The undo log (see `undo.ts`). */
  readonly log: Collection<LogEntry>
  /** The step barrier's entries (see `barrier.ts`). */
  readonly steps: Collection<EntryDoc>
  readonly maxRecordsPerOperation: number
  /** Serializes the adapter's own writes to one document. */
  readonly lock: Lock
  /** Whether `lock` serializes (FerretDB v1, or `serializeWrites`). */
  readonly serialized: boolean
}

export const ping = (db: Db): Effect.Effect<void, StoreError> =>
  Effect.asVoid(call(undefined, "ping", () => db.command({ ping: 1 })))

const databasePattern = /^[A-Za-z0-9_-]{1,63}$/

const collectionName = (name: string, path: string) =>
  Identifier.check(name, "collection name", path).pipe(
    Effect.mapError((e) => fail(e.reason, e.message, { path: e.path }))
  )

/**
 * Checks the configuration and opens a client on it: connected and pinged on acquire, closed (within 5 seconds) on
 * release. Writes are serialized per document when the server is FerretDB, unless the configuration says otherwise.
 */
export const open = (config: MongoStoreConfig): Effect.Effect<Env, StoreError, Scope.Scope> =>
  Effect.gen(function*() {
    const max = config.maxRecordsPerOperation ?? 1000
    if (!Number.isInteger(max) || max < 1) {
      return yield* fail("Validation", "must be a positive integer", { path: "maxRecordsPerOperation" })
    }
    const pool = config.maxConnections ?? 100
    if (!Number.isInteger(pool) || pool < 1 || pool > 1000) {
      return yield* fail("Validation", "must be an integer from 1 to 1000", { path: "maxConnections" })
    }
    if (!databasePattern.test(config.database)) {
      return yield* fail("Validation", "must be letters, digits, '_' or '-'", { path: "database" })
    }
    const logName = yield* collectionName(config.undoLogCollection ?? "polysaga_undo_log", "undoLogCollection")
    const stepsName = yield* collectionName(config.barrierCollection ?? "polysaga_steps", "barrierCollection")
    const timeout = Duration.toMillis(Duration.decode(config.connectTimeout ?? "10 seconds"))
    const client = yield* Effect.acquireRelease(
      call(undefined, "connect", async () => {
        const client = new MongoClient(Redacted.value(config.url), {
          appName: "polysaga",
          // a write whose reply was lost is the step barrier's to resolve: a driver retry could apply it, report
          // nothing of it (a marked document no longer matches), and leave it out of the step's undo
          retryWrites: false,
          maxPoolSize: pool,
          connectTimeoutMS: timeout,
          serverSelectionTimeoutMS: timeout
        })
        try {
          return await client.connect()
        } catch (error) {
          await client.close().catch(() => undefined)
          throw error
        }
      }),
      (client) => Effect.tryPromise(() => client.close()).pipe(Effect.timeout("5 seconds"), Effect.ignore)
    )
    const db = client.db(config.database)
    yield* ping(db)
    const serialize = config.serializeWrites ??
      "ferretdbVersion" in (yield* call(undefined, "buildInfo", () => db.command({ buildInfo: 1 })))
    return {
      db,
      log: db.collection<LogEntry>(logName),
      steps: db.collection<EntryDoc>(stepsName),
      maxRecordsPerOperation: max,
      lock: serialize ? perDocument() : none,
      serialized: serialize
    }
  })
