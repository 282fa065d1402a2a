/**
 * `@polysaga/mongodb`: the polysaga `Store` on the official `mongodb` driver, for MongoDB 6/7 and FerretDB.
 *
 * Entity = collection, record = document keyed by `_id` (an ObjectId is generated when `data` has none and is
 * returned in the step's records). `where` compiles to a query, `$increment` / `$decrement` to `$inc`,
 * `$multiply` to `$mul`, `$push` / `$pull` to their twins, plain values to `$set`.
 *
 * @since 0.1.0
 */
import { Adapter, Capabilities, Store, type StoreError, StoreLayer } from "@polysaga/store"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Barrier from "./internal/barrier.js"
import { checkOperation } from "./internal/compile.js"
import * as Connection from "./internal/connection.js"
import * as Execute from "./internal/execute.js"
import * as Undo from "./internal/undo.js"

/**
 * The MongoDB store, as a service.
 *
 * @since 0.1.0
 */
export class MongoStore extends Context.Tag("@polysaga/mongodb/MongoStore")<MongoStore, Store>() {}

/**
 * @since 0.1.0
 */
export interface MongoStoreConfig {
  /** A `mongodb://` or `mongodb+srv://` connection string (may hold credentials; TLS and auth options too). */
  readonly url: Redacted.Redacted<string>
  /** The database that holds the collections (letters, digits, `_`, `-`). */
  readonly database: string
  /** The most records one operation may write or match (default 1000). */
  readonly maxRecordsPerOperation?: number | undefined
  /** The collection that logs applied undo records, for idempotency (default `polysaga_undo_log`). */
  readonly undoLogCollection?: string | undefined
  /**
   * The collection of the step barrier's entries (default `polysaga_steps`): one per (saga, step) written with a
   * step context; see the README's guarantees.
   */
  readonly barrierCollection?: string | undefined
  /** How long undo log entries are kept; older ones are removed when a store is made (default 30 days). */
  readonly undoLogRetention?: Duration.DurationInput | undefined
  /**
   * Run this store's own writes to one document one at a time (default: only when the server is FerretDB,
   * whose single-document updates are not atomic under concurrent writers; see the README).
   */
  readonly serializeWrites?: boolean | undefined
  /** The driver's connection pool size, 1 to 1000 (default 100, the driver's). */
  readonly maxConnections?: number | undefined
  /** Connection and server-selection timeout (default 10 seconds). */
  readonly connectTimeout?: Duration.DurationInput | undefined
}

/**
 * The engine name undo records of this store carry.
 *
 * @since 0.1.0
 */
export const engine: "mongodb" = Connection.engine

/**
 * Builds the store on a scoped client: connected and pinged on acquire, closed (within 5 seconds) on release.
 *
 * @since 0.1.0
 */
export const make = (config: MongoStoreConfig): Effect.Effect<Store, StoreError, Scope.Scope> =>
  Effect.gen(function*() {
    const env = yield* Connection.open(config)
    yield* Barrier.ensure(env)
    const prune = Barrier.prune(env)
    const write = Execute.write(env)
    const store = Store.make({
      name: engine,
      capabilities: Capabilities.full({
        sourceTypes: ["database"],
        maxRecordsPerOperation: env.maxRecordsPerOperation
      }),
      prepare: checkOperation,
      // one document is the unit of atomicity: no transaction (a failed multi-document write undoes what it wrote);
      // the unit only says whether the step's write claimed its barrier entry
      transaction: (_entity, use) => use({ claimed: false }),
      write: (unit, _prepared, operation, context) => write(unit, operation, context),
      undo: (record) => Undo.apply(env, record),
      ping: Connection.ping(env.db),
      barrier: Barrier.make(env),
      prune
    })
    yield* prune(config.undoLogRetention ?? "30 days").pipe(Effect.timeout("5 seconds"), Effect.ignore)
    return store
  })

/**
 * `layer(config)`: the store as a scoped layer (the client opened and checked when built, closed with the scope);
 * `layerConfig(config)`: the same, configured through `Config` (e.g.
 * `{ url: Config.redacted("MONGO_URL"), database: Config.string("MONGO_DB") }`).
 *
 * @since 0.1.0
 * @category layers
 */
export const { layer, layerConfig } = StoreLayer.make(MongoStore, make)

/**
 * The descriptor: a configured source `{ "engine": "mongodb", "url": "mongodb://…", "database": "shop" }` (also
 * `maxRecordsPerOperation`, `undoLogCollection`, `barrierCollection`, `serializeWrites`, `maxConnections`, and
 * `undoLogRetention` / `connectTimeout` in milliseconds).
 *
 * @since 0.1.0
 */
export const adapter = Adapter.make({
  name: engine,
  sourceTypes: ["database"],
  config: Schema.Struct({
    ...Adapter.fields,
    database: Schema.NonEmptyTrimmedString,
    undoLogCollection: Schema.optional(Schema.NonEmptyTrimmedString),
    barrierCollection: Schema.optional(Schema.NonEmptyTrimmedString),
    undoLogRetention: Adapter.millis,
    serializeWrites: Schema.optional(Schema.Boolean),
    maxConnections: Adapter.maxConnections,
    connectTimeout: Adapter.millis
  }),
  make
})
