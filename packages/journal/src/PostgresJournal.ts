/**
 * The durable `SagaJournal` on PostgreSQL through `@effect/sql-pg`, or on an embedded PGlite (a real PostgreSQL in
 * process, data in a directory) reached with the same client and the same SQL.
 *
 * Every layer provides `SagaJournal` (the port, with leases) and `Journal` (failed sagas, retention). The schema
 * (`polysaga_journal_sagas`, `polysaga_journal_entries`, `polysaga_journal_migrations`) is created and migrated
 * on acquire, so the journal can share a database with a Store.
 *
 * @since 0.1.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { SagaError, SagaJournal } from "@polysaga/saga"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as embedded from "./internal/embedded.js"
import * as internal from "./internal/journal.js"
import * as postgres from "./internal/postgres.js"
import { Journal, type JournalService } from "./Journal.js"

/**
 * @since 0.1.0
 */
export interface JournalOptions {
  /** This instance's owner id (default: `hostname:pid:random`). Give each running instance its own. */
  readonly owner?: string | undefined
  /**
   * How long a lease lasts without renewal (default 30 seconds); renewed every third of it. A saga of a dead
   * instance is recovered by another one once its lease has expired.
   */
  readonly leaseDuration?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 */
export interface PostgresJournalConfig extends JournalOptions {
  /** `postgres://user@host:port/database`. */
  readonly url: Redacted.Redacted<string>
  /** Pool size (default 4). */
  readonly maxConnections?: number | undefined
}

/**
 * @since 0.1.0
 */
export interface EmbeddedJournalConfig extends JournalOptions {
  /** The data directory (created if missing; reopened with its sagas after a restart). */
  readonly dir: string
}

/**
 * The journal on an existing `SqlClient` (e.g. one a Store uses), scoped: migrates, starts renewing leases.
 *
 * @since 0.1.0
 */
export const make = (
  sql: SqlClient.SqlClient,
  options: JournalOptions = {}
): Effect.Effect<
  { readonly journal: SagaJournal.SagaJournal.Service; readonly admin: JournalService },
  SagaError.JournalError,
  Scope.Scope
> => internal.make(sql, postgres.make, options)

const connectError = (cause: unknown) => new SagaError.JournalError({ operation: "connect", sagaId: undefined, cause })

const fromClientConfig = (client: PgClient.PgClientConfig, options: JournalOptions) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(PgClient.layer(client)).pipe(Effect.mapError(connectError))
    const sql = Context.get(context, PgClient.PgClient)
    yield* sql`SELECT 1`.pipe(Effect.mapError(connectError))
    const { admin, journal } = yield* make(sql, options)
    return Context.make(SagaJournal.SagaJournal, journal).pipe(Context.add(Journal, admin))
  })

const databaseName = /^[a-z_][a-z0-9_]{0,62}$/

/**
 * Creates the database `name` on the PostgreSQL server of `url` (connected through the database `url` names) if it
 * does not exist yet, and returns its URL: a journal of its own for an application or a test, beside the stores'
 * database. `name` is lower-case letters, digits and `_` (at most 63); anything else fails before connecting.
 *
 * @since 0.1.0
 * @category constructors
 */
export const createDatabase = (
  url: Redacted.Redacted<string> | string,
  name: string
): Effect.Effect<Redacted.Redacted<string>, SagaError.JournalError> =>
  Effect.gen(function*() {
    const server = Redacted.isRedacted(url) ? url : Redacted.make(url)
    if (!databaseName.test(name)) {
      return yield* new SagaError.JournalError({
        operation: "create database",
        sagaId: undefined,
        cause: new Error(`database name ${JSON.stringify(name)}: must match ${databaseName.source}`)
      })
    }
    yield* Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      const found = yield* sql`SELECT 1 FROM pg_database WHERE datname = ${name}`
      if (found.length === 0) yield* sql`CREATE DATABASE ${sql(name)}`
    }).pipe(
      Effect.provide(PgClient.layer({ url: server, maxConnections: 1, connectTimeout: "10 seconds" })),
      Effect.scoped,
      Effect.mapError((cause) => new SagaError.JournalError({ operation: "create database", sagaId: undefined, cause }))
    )
    const target = new URL(Redacted.value(server))
    target.pathname = `/${name}`
    return Redacted.make(target.href)
  })

/**
 * The journal on a PostgreSQL server, with a pool of its own.
 *
 * @since 0.1.0
 */
export const layer = (
  config: PostgresJournalConfig
): Layer.Layer<SagaJournal.SagaJournal | Journal, SagaError.JournalError> =>
  Layer.scopedContext(fromClientConfig({
    url: config.url,
    maxConnections: config.maxConnections ?? 4,
    connectTimeout: "10 seconds",
    applicationName: "polysaga-journal"
  }, config))

/**
 * `layer` from configuration, e.g. `Config.all({ url: Config.redacted("JOURNAL_URL") })`.
 *
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Config.Wrap<PostgresJournalConfig>
): Layer.Layer<SagaJournal.SagaJournal | Journal, SagaError.JournalError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))

/**
 * The journal on an existing `SqlClient` in the context (share a Store's pool).
 *
 * @since 0.1.0
 */
export const layerFromClient = (
  options: JournalOptions = {}
): Layer.Layer<SagaJournal.SagaJournal | Journal, SagaError.JournalError, SqlClient.SqlClient> =>
  Layer.scopedContext(Effect.gen(function*() {
    const { admin, journal } = yield* make(yield* SqlClient.SqlClient, options)
    return Context.make(SagaJournal.SagaJournal, journal).pipe(Context.add(Journal, admin))
  }))

/**
 * The journal on an embedded PostgreSQL (PGlite) with its data in `dir`: no server to run. PGlite is served on a
 * loopback port chosen by the system and reached with `@effect/sql-pg` over one connection (the client is provided
 * too). One process at a time may open a directory.
 *
 * @since 0.1.0
 */
export const layerEmbedded = (
  config: EmbeddedJournalConfig
): Layer.Layer<
  SagaJournal.SagaJournal | Journal | PgClient.PgClient | SqlClient.SqlClient,
  SagaError.JournalError
> => layerFromClient(config).pipe(Layer.provideMerge(embeddedClient(config.dir)))

/**
 * A `PgClient` on an embedded PostgreSQL (PGlite) with its data in `dir`, served on a loopback port chosen by the
 * system, over one connection (what `layerEmbedded` uses; a Store or a test can share it).
 *
 * @since 0.1.0
 */
export const embeddedClient = (
  dir: string
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, SagaError.JournalError> =>
  Layer.unwrapScoped(Effect.map(embedded.serve(dir), ({ host, port }) =>
    PgClient.layer({
      host,
      port,
      database: "postgres",
      username: "postgres",
      maxConnections: 1,
      // The socket server takes one connection at a time. A pool that closes its idle connection (pg's default:
      // after 10 s) opens the next one before the server has seen the old one go, and that one is refused
      // ("Connection terminated unexpectedly"): keep the one connection for the life of the journal instead.
      minConnections: 1,
      connectTimeout: "10 seconds",
      applicationName: "polysaga-journal"
    }).pipe(Layer.mapError(connectError))))
