/**
 * `@polysaga/mongodb`: the polysaga `Store` on the official `mongodb` driver, for MongoDB 6/7 and FerretDB.
 *
 * Entity = collection, record = document keyed by `_id` (an ObjectId is generated when `data` has none and is
 * returned in the step's records). `where` compiles to a query, `$increment` / `$decrement` to `$inc`,
 * `$multiply` to `$mul`, `$push` / `$pull` to their twins, plain values to `$set`.
 *
 * @since 0.1.0
 */
import { Adapter, type Store, type StoreError, StoreLayer } from "@polysaga/store"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as check from "./internal/check.js"
import * as internal from "./internal/store.js"

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
  /** Connection and server-selection timeout (default 10 seconds). */
  readonly connectTimeout?: Duration.DurationInput | undefined
}

/**
 * The engine name undo records of this store carry.
 *
 * @since 0.1.0
 */
export const engine: "mongodb" = check.engine

/**
 * Builds the store on a scoped client: connected and pinged on acquire, closed (within 5 seconds) on release.
 *
 * @since 0.1.0
 */
export const make: (config: MongoStoreConfig) => Effect.Effect<Store, StoreError, Scope.Scope> = internal.make

const layers = StoreLayer.make(MongoStore, make)

/**
 * @since 0.1.0
 */
export const layer: (config: MongoStoreConfig) => Layer.Layer<MongoStore, StoreError> = layers.layer

/**
 * The layer, configured through `Config` (e.g. `{ url: Config.redacted("MONGO_URL"), database: Config.string("MONGO_DB") }`).
 *
 * @since 0.1.0
 */
export const layerConfig: (
  config: Config.Config.Wrap<MongoStoreConfig>
) => Layer.Layer<MongoStore, StoreError | ConfigError.ConfigError> = layers.layerConfig

/**
 * The descriptor: a configured source `{ "engine": "mongodb", "url": "mongodb://…", "database": "shop" }` (also
 * `maxRecordsPerOperation`, `undoLogCollection`, `barrierCollection`, `serializeWrites`, and `undoLogRetention` / `connectTimeout` in
 * milliseconds).
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
    connectTimeout: Adapter.millis
  }),
  make
})
