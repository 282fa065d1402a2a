/**
 * The polysaga `Store` on Chroma (the `chromadb` client): entity = collection, record =
 * `{ id, vector, document?, metadata? }`, `where` on metadata.
 *
 * @since 0.1.0
 */
import { Adapter, type Capabilities, KeyedLock, Store, type StoreError, StoreLayer } from "@polysaga/store"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Barrier from "./internal/barrier.js"
import * as Catalog from "./internal/catalog.js"
import * as Connection from "./internal/connection.js"
import * as Execute from "./internal/execute.js"
import * as UndoLog from "./internal/undo.js"

/**
 * @since 0.1.0
 */
export class ChromaStore extends Context.Tag("@polysaga/chroma/ChromaStore")<ChromaStore, Store>() {}

/**
 * Chroma's distance functions (`hnsw.space` of a collection).
 *
 * @since 0.1.0
 */
export type Distance = Catalog.Distance

/**
 * @since 0.1.0
 */
export interface ChromaStoreConfig {
  /** The server, e.g. `http://127.0.0.1:8000`. */
  readonly url: Redacted.Redacted<string>
  /** Default `default_tenant`. */
  readonly tenant?: string | undefined
  /** Default `default_database`. */
  readonly database?: string | undefined
  /** A token for a server with token authentication. */
  readonly token?: Redacted.Redacted<string> | undefined
  /** How the token is sent: `authorization` (`Bearer …`, the default) or `x-chroma-token`. */
  readonly tokenHeader?: "authorization" | "x-chroma-token" | undefined
  /** The distance function of collections this store creates (default `l2`, Chroma's own default). */
  readonly distance?: Distance | undefined
  /**
   * The dimension of every collection's vectors. Without it, a collection's dimension is the one recorded when
   * this store created it, else the length of its first vector. A wrong-length vector is rejected before any
   * write.
   */
  readonly dimension?: number | undefined
  /** Per-collection dimensions, overriding `dimension`. */
  readonly dimensions?: Readonly<Record<string, number>> | undefined
  /** The most records one operation may write or match (default 1000). */
  readonly maxRecordsPerOperation?: number | undefined
  /** The companion collection that records applied undo ids (default `polysaga_undo`). */
  readonly markerCollection?: string | undefined
  /** The companion collection of the step barrier's entries (default `polysaga_steps`); see the README. */
  readonly barrierCollection?: string | undefined
  /** The longest a single request to Chroma may take (default 10 seconds). */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * The store, on a client that is health-checked (heartbeat) when acquired.
 *
 * @since 0.1.0
 */
export const make = (config: ChromaStoreConfig): Effect.Effect<Store, StoreError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings: Connection.Settings = {
      url: config.url,
      tenant: config.tenant ?? "default_tenant",
      database: config.database ?? "default_database",
      token: config.token,
      tokenHeader: config.tokenHeader ?? "authorization",
      timeout: Duration.decode(config.timeout ?? "10 seconds")
    }
    const options = {
      distance: config.distance ?? "l2",
      dimension: config.dimension,
      dimensions: config.dimensions ?? {},
      maxRecordsPerOperation: config.maxRecordsPerOperation ?? 1000,
      markerCollection: config.markerCollection ?? "polysaga_undo",
      barrierCollection: config.barrierCollection ?? "polysaga_steps"
    }
    // the chromadb client holds no connection of its own (fetch's pool is global): nothing to release
    const conn = yield* Connection.connect(settings)
    const ping = conn.call("heartbeat", undefined, () => conn.client.heartbeat()).pipe(Effect.asVoid)
    yield* ping
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

    // Writes to one record (and undos) are serialized within this Store, so a read-modify-write is atomic against
    // writers in the same process (not against other processes).
    const locks = KeyedLock.make()
    const catalog = Catalog.make(conn, options)
    const undoLog = UndoLog.make({ conn, catalog, markerCollection: options.markerCollection })
    const barrier = Barrier.make({
      conn,
      catalog,
      steps: options.barrierCollection,
      companions: [options.barrierCollection, options.markerCollection]
    })
    const execute = Execute.make({ conn, catalog, max, undoLog, barrier, locks })

    const undo = (record: Parameters<typeof undoLog.apply>[0]) =>
      Effect.flatMap(
        Catalog.checkEntity(record.entity, "undo.entity"),
        (entity) => execute.locked(entity, undoLog.ids(record), catalog.refreshing(undoLog.apply(record)))
      ).pipe(Effect.withSpan("ChromaStore.undo"))

    /** Retention: applied-undo records and barrier entries (with their markers and tombstones) past `olderThan`. */
    const prune = Effect.fn("ChromaStore.prune")(function*(olderThan: Duration.DurationInput) {
      const cutoff = Date.now() - Duration.toMillis(Duration.decode(olderThan))
      return yield* catalog.refreshing(
        Effect.zipWith(undoLog.prune(cutoff), barrier.prune(cutoff), (undone, steps) => undone + steps)
      )
    })

    return Store.make({
      name: Connection.engine,
      capabilities,
      prepare: execute.prepare,
      validate: execute.validate,
      // Chroma has no transaction: a step's unit is its write, which claims the step itself (see `barrier.ts`)
      transaction: (_entity, use) => use({ claimed: undefined }),
      write: execute.write,
      undo,
      ping,
      barrier: {
        ...barrier,
        // every step but a delete claims no entry: its records carry its proof (see `barrier.ts`)
        keyed: {
          undoId: (context, operation) => Barrier.isMarked(operation) ? Barrier.keyedUndoId(context) : undefined,
          resolve: (_unit, step, operation) => execute.resolveMarked(step, operation)
        }
      },
      prune
    })
  })

const layers = StoreLayer.make(ChromaStore, make)

/**
 * @since 0.1.0
 */
export const layer: (config: ChromaStoreConfig) => Layer.Layer<ChromaStore, StoreError> = layers.layer

/**
 * The store from configuration, e.g.
 * `layerConfig({ url: Config.redacted("CHROMA_URL"), dimension: Config.integer("CHROMA_DIMENSION") })`.
 *
 * @since 0.1.0
 */
export const layerConfig: (
  config: Config.Config.Wrap<ChromaStoreConfig>
) => Layer.Layer<ChromaStore, StoreError | ConfigError.ConfigError> = layers.layerConfig

const dimension = Schema.Int.pipe(Schema.between(1, 65_536))

/**
 * The descriptor: a configured source `{ "engine": "chroma", "url": "http://…", "dimension": 384 }` (also `tenant`,
 * `database`, `token`, `tokenHeader`, `distance`, `dimensions`, `maxRecordsPerOperation`, `markerCollection`, `barrierCollection`, and
 * `timeout` in milliseconds).
 *
 * @since 0.1.0
 */
export const adapter = Adapter.make({
  name: Connection.engine,
  sourceTypes: ["vector"],
  config: Schema.Struct({
    ...Adapter.fields,
    tenant: Schema.optional(Schema.NonEmptyTrimmedString),
    database: Schema.optional(Schema.NonEmptyTrimmedString),
    token: Schema.optional(Schema.Redacted(Schema.String)),
    tokenHeader: Schema.optional(Schema.Literal("authorization", "x-chroma-token")),
    distance: Schema.optional(Schema.Literal("l2", "cosine", "ip")),
    dimension: Schema.optional(dimension),
    dimensions: Schema.optional(Schema.Record({ key: Schema.String, value: dimension })),
    markerCollection: Schema.optional(Schema.NonEmptyTrimmedString),
    barrierCollection: Schema.optional(Schema.NonEmptyTrimmedString),
    timeout: Adapter.millis
  }),
  make
})
