/**
 * @since 0.1.0
 */

/**
 * The durable journal on PostgreSQL or an embedded PGlite.
 *
 * @since 0.1.0
 */
export * as PostgresJournal from "./PostgresJournal.js"

/**
 * The durable journal embedded in the process on SQLite (WAL, `synchronous = FULL`).
 *
 * @since 0.1.0
 */
export * as SqliteJournal from "./SqliteJournal.js"

/**
 * The journal's own service: failed sagas, retention, manual retry, `LeaseLost`.
 *
 * @since 0.1.0
 */
export * as Journal from "./Journal.js"

/**
 * The recovery runner.
 *
 * @since 0.1.0
 */
export * as Recovery from "./Recovery.js"
