/**
 * The connection: a step's or an undo's own transaction on the `SqlClient` (isolated from a caller's), and
 * node-postgres faults as classified `StoreError`s.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { Store, StoreError, type StoreErrorReason } from "@polysaga/store"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

export const engine = "postgres"

/**
 * node-postgres's own errors of a connection that is gone, or could not be made in time: `pg/lib/client.js` and
 * `pg-pool` create them as plain `Error`s with neither a SQLSTATE nor an errno code (`Connection terminated
 * unexpectedly` when the socket ends, `… is not queryable` after it did, `timeout expired` / `timeout exceeded when
 * trying to connect` for the connect timeouts), so their message is the only signal there is. Everything else is
 * classified by its code.
 */
const lostByClient =
  /^(Connection terminated|Client has encountered a connection error|Client was closed and is not queryable|timeout expired$|timeout exceeded when trying to connect)/

/**
 * A server error's SQLSTATE: class 08 (connection exception), 57P01–57P03 (the server shutting down or not yet
 * accepting connections) and 53300 (too many connections) are a connection lost or refused.
 */
const reasonOfState = (code: string): StoreErrorReason => {
  if (code.startsWith("23")) return "Constraint"
  if (code === "40P01" || code === "40001") return "Deadlock"
  if (code === "57014" || code === "55P03") return "Timeout"
  if (code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03" || code === "53300") {
    return "Unavailable"
  }
  if (code === "42P01") return "EntityNotFound"
  if (code === "42703") return "FieldNotFound"
  if (code.startsWith("22") || code === "42804" || code === "42883" || code === "42725") return "Validation"
  return "Unknown"
}

/**
 * Whether node-postgres says this is the server's own error: a `DatabaseError` (`pg-protocol`) carries the server's
 * `severity` and its SQLSTATE `code`.
 */
const sqlState = (cause: unknown): string | undefined => {
  const { code, severity } = cause as { readonly code?: unknown; readonly severity?: unknown }
  return typeof severity === "string" && typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}

/** The reason of node-postgres's error: the server's SQLSTATE, the socket's errno code, or the client's own error. */
const reasonOf = (cause: unknown): StoreErrorReason => {
  const state = sqlState(cause)
  if (state !== undefined) return reasonOfState(state)
  if (Store.connectionLost(cause)) return "Unavailable"
  return cause instanceof Error && lostByClient.test(cause.message) ? "Unavailable" : "Unknown"
}

/** Maps an `@effect/sql` error (its cause is node-postgres's) to a classified `StoreError`. */
export const fromSql = (entity: string | undefined) => (error: unknown): StoreError => {
  if (error instanceof StoreError) return error
  const cause = (error as { cause?: unknown }).cause ?? error
  const message = cause instanceof Error ? cause.message : String(cause)
  return Store.fail(engine, reasonOf(cause), message, { entity, cause: error })
}

/**
 * `@effect/sql` keeps the open transaction in the fiber's context under one tag for every client, so a step run
 * inside a caller's transaction (even one of another pool) would join it. Each step and each undo is a
 * transaction of its own: hide the caller's.
 */
export const isolated = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E | StoreError> =>
  Effect.mapInputContext(
    effect,
    (context: Context.Context<never>) =>
      Context.omit(SqlClient.TransactionConnection)(context) as Context.Context<never>
  ).pipe(
    // `withTransaction` dies when its ROLLBACK fails on a lost connection: that is still a lost connection
    Effect.catchSomeDefect((defect) =>
      defect instanceof SqlError ? Option.some(Effect.fail(fromSql(undefined)(defect))) : Option.none()
    )
  )

/** The kernel's local unit: one transaction of its own. */
export const transaction =
  (sql: SqlClient.SqlClient) =>
  <A, E>(entity: string | undefined, use: (unit: void) => Effect.Effect<A, E>): Effect.Effect<A, StoreError> =>
    isolated(sql.withTransaction(use())).pipe(Effect.mapError(fromSql(entity)))

export const ping = (sql: SqlClient.SqlClient): Effect.Effect<void, StoreError> =>
  sql`SELECT 1`.pipe(Effect.asVoid, Effect.mapError(fromSql(undefined)))
