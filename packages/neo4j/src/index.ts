/**
 * The polysaga Store on Neo4j (neo4j-driver).
 *
 * - An entity is a node label (`Customer`), or a relationship type when written in UPPER_SNAKE_CASE (`PLACED`).
 * - A node record is its properties plus `_elementId`; a relationship record is its properties plus
 *   `_elementId`, `_type`, `_from` and `_to` (the element ids of its start and end nodes).
 * - A relationship insert takes `data: { from: { label, match }, to: { label, match }, ...properties }`; each
 *   matcher must select exactly one node.
 * - Deleting a node that has relationships fails with `HasRelationships` unless `options.detach: true`; the
 *   undo of a detach-delete restores the node's labels, properties and every relationship.
 * - Each step runs in one transaction that locks the records it changes and reads their before-images under
 *   those locks; an undo runs in one transaction with a unique marker node, so it applies at most once.
 *
 * @since 0.1.0
 */
import { Adapter, Capabilities, Store, type StoreError, StoreLayer } from "@polysaga/store"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Barrier from "./internal/barrier.js"
import { isRelationshipType, plan } from "./internal/compile.js"
import * as Connection from "./internal/connection.js"
import * as Execute from "./internal/execute.js"
import * as Undo from "./internal/undo.js"

/**
 * The Neo4j Store service.
 *
 * @since 0.1.0
 * @category tags
 */
export class Neo4jStore extends Context.Tag("@polysaga/neo4j/Neo4jStore")<Neo4jStore, Store>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Neo4jStoreConfig {
  /** `bolt://host:7687`, `neo4j://host:7687`, `neo4j+s://…`. */
  readonly url: Redacted.Redacted<string>
  /** Basic-auth user; omit for a server without authentication. */
  readonly user?: string | undefined
  readonly password?: Redacted.Redacted<string> | undefined
  /** The database to use (the server's default when omitted). */
  readonly database?: string | undefined
  /** The most records (nodes or relationships) one operation may write or match (default 1000). */
  readonly maxRecordsPerOperation?: number | undefined
  /**
   * How long one step's or one undo's transaction may run (default 30 seconds); past it Neo4j rolls it back and
   * the call fails with a transient `Timeout`.
   */
  readonly transactionTimeout?: Duration.DurationInput | undefined
  /** The driver's connection pool size (default 20). */
  readonly maxConnections?: number | undefined
  /** How long opening a connection may take (default 10 seconds). */
  readonly connectTimeout?: Duration.DurationInput | undefined
}

const sourceTypes = ["graph"] as const

/**
 * Opens a driver (closed when the scope closes, within 5 seconds), checks connectivity, creates the unique
 * constraint of the undo markers (`:_PolysagaUndo(id)`) and returns the Store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (config: Neo4jStoreConfig): Effect.Effect<Store, StoreError, Scope.Scope> =>
  Effect.gen(function*() {
    const driver = yield* Connection.open(config)
    const database = config.database
    const timeout = Duration.toMillis(Duration.decode(config.transactionTimeout ?? "30 seconds"))
    const transaction = <A, E>(entity: string | undefined, use: (tx: Connection.Tx) => Effect.Effect<A, E>) =>
      Connection.transaction({ driver, database, timeout }, entity ?? Barrier.stepLabel, use)
    const ping = Connection.ping(driver, database)
    yield* ping
    // Several processes may create the constraints at once: `IF NOT EXISTS` can still race, so retry a little.
    for (const constraint of [Undo.markerConstraint, Barrier.stepConstraint]) {
      yield* transaction(Undo.markerLabel, (tx) => tx.run(constraint)).pipe(Effect.retry({ times: 3 }))
    }
    return Store.make({
      name: Connection.engine,
      capabilities: Capabilities.full({
        sourceTypes,
        maxRecordsPerOperation: config.maxRecordsPerOperation ?? 1000
      }),
      prepare: plan,
      transaction,
      write: Execute.execute,
      undo: (record) =>
        Effect.flatMap(
          Undo.decode(record, isRelationshipType(record.entity)),
          (actions) =>
            transaction(record.entity, (tx) => Undo.apply(tx, record, actions)).pipe(
              Effect.catchTag("AlreadyUndone", () => Effect.void)
            )
        ),
      ping,
      barrier: Barrier.make(transaction),
      prune: Barrier.prune(transaction)
    })
  })

/**
 * `layer(config)`: the store as a scoped layer (the client opened and checked when built, closed with the scope);
 * `layerConfig(config)`: the same, configured through `Config` (e.g.
 * `{ url: Config.redacted("NEO4J_URL"), user: Config.option(…) … }`).
 *
 * @since 0.1.0
 * @category layers
 */
export const { layer, layerConfig } = StoreLayer.make(Neo4jStore, make)

/**
 * The descriptor: a configured source `{ "engine": "neo4j", "url": "bolt://…", "user": "neo4j", "password": "…" }`
 * (also `database`, `maxRecordsPerOperation`, `maxConnections`, and `transactionTimeout` / `connectTimeout` in
 * milliseconds).
 *
 * @since 0.1.0
 * @category constructors
 */
export const adapter = Adapter.make({
  name: Connection.engine,
  sourceTypes,
  config: Schema.Struct({
    ...Adapter.fields,
    user: Schema.optional(Schema.String),
    password: Schema.optional(Schema.Redacted(Schema.String)),
    database: Schema.optional(Schema.NonEmptyTrimmedString),
    transactionTimeout: Adapter.millis,
    maxConnections: Adapter.maxConnections,
    connectTimeout: Adapter.millis
  }),
  make
})
