/**
 * The connection: the driver (opened with its configuration — pool size, connect timeout — and closed with the
 * store's scope), one explicit write transaction per step or undo, and driver faults as classified `StoreError`s.
 */
import { type ErrorOptions, Store, StoreError, type StoreErrorReason } from "@polysaga/store"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { Driver } from "neo4j-driver"
import neo4j from "neo4j-driver"

/** Runs Cypher inside one transaction; each row is returned as an object of its columns. */
export interface Tx {
  readonly run: (
    query: string,
    params?: Readonly<Record<string, unknown>>
  ) => Effect.Effect<ReadonlyArray<Record<string, unknown>>, StoreError>
}

/**
 * Runs `use` in one explicit write transaction: committed when `use` succeeds, rolled back when it fails or is
 * interrupted. The session is always closed (bounded).
 */
export const transaction = <A, E>(
  { database, driver, timeout }: {
    readonly driver: Driver
    readonly database: string | undefined
    /** Milliseconds; Neo4j fails a transaction running longer (a `Timeout`, transient). */
    readonly timeout: number
  },
  entity: string,
  use: (tx: Tx) => Effect.Effect<A, E>
): Effect.Effect<A, E | StoreError> =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const session = driver.session({
        defaultAccessMode: neo4j.session.WRITE,
        ...(database === undefined ? {} : { database })
      })
      return { session, tx: session.beginTransaction({ timeout }) }
    }),
    ({ tx }) =>
      use({
        run: (query, params = {}) =>
          Effect.tryPromise({
            try: () => tx.run(query, params).then((result) => result.records.map((record) => record.toObject())),
            catch: fromDriver(entity, "Neo4j query failed")
          })
      }).pipe(
        Effect.tap(() =>
          Effect.tryPromise({ try: () => tx.commit(), catch: fromDriver(entity, "Neo4j commit failed") })
        )
      ),
    ({ session, tx }, exit) =>
      Effect.promise(async () => {
        if (Exit.isFailure(exit) && tx.isOpen()) await tx.rollback().catch(() => undefined)
        await session.close().catch(() => undefined)
        // A release runs uninterruptibly, so the bound only holds if the wait itself may be interrupted: a frozen
        // server never answers the rollback, and whoever interrupted the step (a saga timeout) must not wait past
        // the bound. After it the promise is no longer awaited; the driver finishes the rollback and the close
        // when the server answers again (or the connection dies).
      }).pipe(Effect.interruptible, Effect.timeout("10 seconds"), Effect.ignore)
  )

export const engine = "neo4j"

/** The kernel's error constructor, for this engine. */
export const fail = (reason: StoreErrorReason, message: string, options?: ErrorOptions): StoreError =>
  Store.fail(engine, reason, message, options)

const codeOf = (error: unknown): string =>
  typeof error === "object" && error !== null && typeof (error as { code?: unknown }).code === "string"
    ? (error as { code: string }).code
    : ""

/** Is this the unique-constraint violation Neo4j raises when a node with the same key already exists? */
export const isConstraintViolation = (error: unknown): boolean =>
  codeOf(error) === "Neo.ClientError.Schema.ConstraintValidationFailed"

/**
 * The driver's classification: every error it raises is a `Neo4jError` with a code — `ServiceUnavailable` /
 * `SessionExpired` for a connection lost or not made (the driver's own codes), the server's status codes otherwise —
 * and `Neo4jError.isRetriable` says which are transient (those two, `Neo.TransientError.*`, an expired
 * authorization). A Node socket error let through unwrapped is recognised by its errno code. No message is read.
 */
const reasonOf = (error: unknown): StoreErrorReason => {
  const code = codeOf(error)
  if (code.includes("DeadlockDetected")) return "Deadlock"
  if (code.includes("TransactionTimedOut") || code.includes("Timeout")) return "Timeout"
  if (neo4j.isRetriableError(error) || code === "ServiceUnavailable" || code === "SessionExpired") return "Unavailable"
  if (code.startsWith("Neo.ClientError.Schema.Constraint")) return "Constraint"
  if (
    code === "Neo.ClientError.Statement.TypeError" || code === "Neo.ClientError.Statement.ArgumentError" ||
    code === "Neo.ClientError.Statement.ArithmeticError"
  ) return "Validation"
  return Store.connectionLost(error) ? "Unavailable" : "Unknown"
}

/** A driver fault as a `StoreError`: connection, deadlock and timeout faults are transient, the rest are not. */
export const fromDriver = (entity: string | undefined, what: string) => (error: unknown): StoreError =>
  error instanceof StoreError
    ? error
    : fail(reasonOf(error), `${what}: ${error instanceof Error ? error.message : String(error)}`, {
      entity,
      cause: error
    })

const unavailable = (what: string) => (error: unknown): StoreError => {
  const e = fromDriver(undefined, what)(error)
  return e.reason === "Unknown" ? fail("Unavailable", e.message, { cause: error }) : e
}

/** Opens the driver, closed within 5 seconds when the scope closes. */
export const open = (config: {
  readonly url: Redacted.Redacted<string>
  readonly user?: string | undefined
  readonly password?: Redacted.Redacted<string> | undefined
  readonly maxConnections?: number | undefined
  readonly connectTimeout?: Duration.DurationInput | undefined
}): Effect.Effect<Driver, StoreError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () =>
        neo4j.driver(
          Redacted.value(config.url),
          config.user === undefined
            ? undefined
            : neo4j.auth.basic(config.user, config.password === undefined ? "" : Redacted.value(config.password)),
          {
            disableLosslessIntegers: false,
            maxConnectionPoolSize: config.maxConnections ?? 20,
            connectionTimeout: Duration.toMillis(Duration.decode(config.connectTimeout ?? "10 seconds"))
          }
        ),
      catch: (cause) => fail("Validation", `invalid Neo4j configuration: ${String(cause)}`, { cause })
    }),
    (driver) => Effect.promise(() => driver.close()).pipe(Effect.timeout("5 seconds"), Effect.ignore)
  )

export const ping = (driver: Driver, database: string | undefined): Effect.Effect<void, StoreError> =>
  Effect.tryPromise({
    try: () => driver.verifyConnectivity(database === undefined ? {} : { database }),
    catch: unavailable("Neo4j is not reachable")
  }).pipe(Effect.asVoid)
