/**
 * `@polysaga/postgres`: the polysaga Store on PostgreSQL through `@effect/sql-pg`.
 *
 * Each step runs in one local transaction that reads its before-images with `SELECT … FOR UPDATE`; relative
 * updates are `col = col + $1`; tables and columns are checked against the catalog and always quoted; values
 * are always bound parameters. Undo records hold rows as PostgreSQL's own text rendering of each column, so a
 * restore is exact for every type. An undo is one statement (data-modifying CTEs) that inserts a row keyed by the
 * undo id into `polysaga_undo_log` together with the restore, which makes it atomic and idempotent.
 *
 * @since 0.1.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import { Adapter, Capabilities, Store, type StoreError, StoreLayer } from "@polysaga/store"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Barrier from "./internal/barrier.js"
import * as Catalog from "./internal/catalog.js"
import * as Connection from "./internal/connection.js"
import * as Execute from "./internal/execute.js"
import * as Undo from "./internal/undo.js"

/**
 * @since 0.1.0
 */
export class PostgresStore extends Context.Tag("@polysaga/postgres/PostgresStore")<PostgresStore, Store>() {}

/**
 * @since 0.1.0
 */
export interface PostgresStoreConfig {
  /** `postgres://user@host:port/database`. */
  readonly url: Redacted.Redacted<string>
  /** The schema holding the tables (default `public`). */
  readonly schema?: string | undefined
  /** The most records one operation may write or match (default 1,000). */
  readonly maxRecordsPerOperation?: number | undefined
  /** Pool size (default 10). */
  readonly maxConnections?: number | undefined
  /** How long opening a connection may take (default 10 seconds). */
  readonly connectTimeout?: Duration.DurationInput | undefined
}

const sourceTypes = ["database"] as const

/**
 * A Store on an existing `SqlClient` (for instance one shared with a journal).
 *
 * @since 0.1.0
 */
export const fromClient = (
  sql: SqlClient.SqlClient,
  options?: { readonly schema?: string | undefined; readonly maxRecordsPerOperation?: number | undefined }
): Effect.Effect<Store, StoreError> =>
  Effect.gen(function*() {
    const schema = yield* Catalog.checkSchema(options?.schema ?? "public")
    yield* Barrier.ensure(sql, schema)
    const tables = Catalog.cache(sql, schema)
    const toMark = Barrier.marks(sql, tables.table)
    const store = Store.make({
      name: Connection.engine,
      capabilities: Capabilities.full({
        sourceTypes,
        maxRecordsPerOperation: options?.maxRecordsPerOperation ?? 1000
      }),
      prepare: Catalog.prepare(tables),
      transaction: Execute.unit,
      write: Execute.write(sql, toMark),
      undo: Undo.apply(sql, schema, tables.table),
      ping: Connection.ping(sql),
      barrier: Barrier.make(sql, schema, toMark),
      prune: Barrier.prune(sql, schema)
    })
    // the kept catalog said the table was otherwise: forget it and run once more on a fresh read (the failed
    // attempt rolled back, its barrier claim and undo marker with it)
    const again = <A>(entity: string, run: () => Effect.Effect<A, StoreError>) =>
      Effect.catchIf(run(), Catalog.changed, (error) => tables.invalidate(entity) ? run() : Effect.fail(error))
    return {
      ...store,
      execute: (operation, context) => again(operation.entity, () => store.execute(operation, context)),
      undo: (record) => again(record.entity, () => store.undo(record))
    } satisfies Store
  })

/**
 * A scoped Store with a pool of its own, checked with a query on acquire and closed with the scope.
 *
 * @since 0.1.0
 */
export const make = (config: PostgresStoreConfig): Effect.Effect<Store, StoreError, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      PgClient.layer({
        url: config.url,
        maxConnections: config.maxConnections ?? 10,
        connectTimeout: config.connectTimeout ?? "10 seconds",
        applicationName: "polysaga"
      })
    ).pipe(Effect.mapError(Connection.fromSql(undefined)))
    const store = yield* fromClient(Context.get(context, PgClient.PgClient), config)
    yield* store.ping
    return store
  })

const layers = StoreLayer.make(PostgresStore, make)

/**
 * @since 0.1.0
 */
export const layer: (config: PostgresStoreConfig) => Layer.Layer<PostgresStore, StoreError> = layers.layer

/**
 * @since 0.1.0
 */
export const layerConfig: (
  config: Config.Config.Wrap<PostgresStoreConfig>
) => Layer.Layer<PostgresStore, StoreError | ConfigError.ConfigError> = layers.layerConfig

/**
 * The table where applied undo ids are recorded (created in the store's schema on acquire).
 *
 * @since 0.1.0
 */
export const undoLogTable: string = Barrier.undoLogTable

/**
 * The descriptor: a configured source `{ "engine": "postgres", "url": "postgres://…", "schema": "app" }` (also
 * `maxRecordsPerOperation`, `maxConnections`, `connectTimeout` in milliseconds).
 *
 * @since 0.1.0
 */
export const adapter = Adapter.make({
  name: Connection.engine,
  sourceTypes,
  config: Schema.Struct({
    ...Adapter.fields,
    schema: Schema.optional(Schema.NonEmptyTrimmedString),
    maxConnections: Adapter.maxConnections,
    connectTimeout: Adapter.millis
  }),
  make
})
