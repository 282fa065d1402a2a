/**
 * The durable `SagaJournal` embedded in the process on SQLite (`@effect/sql-sqlite-node`, `better-sqlite3`): a file
 * in a directory, WAL with `synchronous = FULL` (every append is on disk when it returns, through a crash of the
 * process or of the machine), no server, no second engine. One process at a time holds the file (an exclusive
 * lock), so at open every unfinished saga is one whose process is gone and is recovered at once.
 *
 * For several instances, share a PostgreSQL journal (`PostgresJournal`).
 *
 * @since 0.1.0
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { SagaError, SagaJournal } from "@polysaga/saga"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import * as internal from "./internal/journal.js"
import * as migrations from "./internal/migrations.js"
import * as statements from "./internal/sqlite.js"
import { Journal, type JournalService } from "./Journal.js"
import type { JournalOptions } from "./PostgresJournal.js"

/**
 * @since 0.1.0
 */
export interface SqliteJournalConfig extends JournalOptions {
  /** The directory of the journal's file, `journal.sqlite` (created if missing; reopened after a restart). */
  readonly dir: string
}

/**
 * The file of the journal in `dir`.
 *
 * @since 0.1.0
 */
export const file = (dir: string): string => path.join(dir, "journal.sqlite")

/**
 * The journal on an existing SQLite `SqlClient`, scoped: migrates, starts renewing leases. Several journals (owners)
 * may share one client, as instances would share a PostgreSQL journal.
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
> => internal.make(sql, statements.make, options)

const openError = (dir: string) => (cause: unknown) =>
  new SagaError.JournalError({
    operation: `open the embedded journal ${file(dir)}`,
    sagaId: undefined,
    cause: cause instanceof Error && /database is locked/.test(cause.message)
      ? new Error(`${file(dir)} is open in another process (one process at a time may use an embedded journal)`)
      : cause
  })

/**
 * A SQLite `SqlClient` on the journal's file in `dir` (what `layer` uses): WAL, `synchronous = FULL`, foreign keys
 * on, and the file locked for this process.
 *
 * @since 0.1.0
 */
export const client = (
  dir: string
): Layer.Layer<SqliteClient.SqliteClient | SqlClient.SqlClient, SagaError.JournalError> =>
  Layer.scopedContext(Effect.gen(function*() {
    yield* Effect.try({ try: () => fs.mkdirSync(dir, { recursive: true }), catch: openError(dir) })
    const context = yield* Layer.build(SqliteClient.layer({ filename: file(dir) })).pipe(
      Effect.mapError(openError(dir)),
      Effect.catchAllDefect((defect) => Effect.fail(openError(dir)(defect)))
    )
    const sql = Context.get(context, SqliteClient.SqliteClient)
    yield* Effect.mapError(
      Effect.all([
        sql`PRAGMA synchronous = FULL`,
        sql`PRAGMA foreign_keys = ON`,
        sql`PRAGMA locking_mode = EXCLUSIVE`,
        // take the lock now: a second process fails here, not on its first append
        sql`BEGIN IMMEDIATE`,
        sql`COMMIT`
      ], { discard: true }),
      openError(dir)
    )
    return Context.make(SqliteClient.SqliteClient, sql).pipe(Context.add(SqlClient.SqlClient, sql))
  }))

/**
 * The journal embedded in this process on SQLite, its file in `dir`. The sagas left unfinished by the previous
 * process on the file have their leases expired at open, so the recovery runner takes them on its first pass. The
 * SQLite client is provided too.
 *
 * @example
 * ```ts
 * const App = Warehouse.layer(config).pipe(
 *   Layer.provideMerge(Recovery.layer(Warehouse.registry)),
 *   Layer.provideMerge(SqliteJournal.layer({ dir: "./data/journal" }))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layer = (
  config: SqliteJournalConfig
): Layer.Layer<
  SagaJournal.SagaJournal | Journal | SqliteClient.SqliteClient | SqlClient.SqlClient,
  SagaError.JournalError
> =>
  Layer.scopedContext(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const { admin, journal } = yield* make(sql, config)
    yield* sql`UPDATE ${sql(migrations.sagasTable)} SET lease_until = 0
      WHERE status = 'running' AND owner <> ${admin.owner}`.pipe(Effect.mapError(openError(config.dir)))
    return Context.make(SagaJournal.SagaJournal, journal).pipe(Context.add(Journal, admin))
  })).pipe(Layer.provideMerge(client(config.dir)))
