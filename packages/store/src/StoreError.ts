/**
 * The one error type of `@polysaga/store` and of every adapter built on it.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * Why a store call failed.
 *
 * Business reasons (never retried): `Validation`, `EntityNotFound`, `FieldNotFound`, `UnsupportedOperator`,
 * `InvalidIdentifier`, `NoMatch`, `Conflict`, `Constraint`, `TooManyRecords`, `HasRelationships`.
 * Transient reasons (may be retried with backoff): `Unavailable`, `Timeout`, `Deadlock`.
 * `Unknown` is a fault the adapter could not classify; it is not retried.
 *
 * @since 0.1.0
 */
export type StoreErrorReason =
  | "Validation"
  | "EntityNotFound"
  | "FieldNotFound"
  | "UnsupportedOperator"
  | "InvalidIdentifier"
  | "NoMatch"
  | "Conflict"
  | "Constraint"
  | "TooManyRecords"
  | "HasRelationships"
  | "Unavailable"
  | "Timeout"
  | "Deadlock"
  | "Unknown"

const transientReasons: ReadonlySet<StoreErrorReason> = new Set(["Unavailable", "Timeout", "Deadlock"])

/**
 * The stable, upper-snake error code for a reason, as the warehouse and the HTTP service report it
 * (`ENTITY_NOT_FOUND`, `NO_MATCH`, …).
 *
 * @since 0.1.0
 */
export const codeOf = (reason: StoreErrorReason): string =>
  reason === "Validation" ? "VALIDATION_ERROR" : reason.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase()

/**
 * A failed store call. `path` names the part of the operation that is wrong (`where.quantity.$gte`,
 * `data[1].email`), `engine` / `entity` say where it happened, `cause` keeps the driver's error.
 *
 * @since 0.1.0
 */
export class StoreError extends Data.TaggedError("StoreError")<{
  readonly reason: StoreErrorReason
  readonly message: string
  readonly engine?: string | undefined
  readonly entity?: string | undefined
  readonly path?: string | undefined
  readonly cause?: unknown
  /**
   * The write's request may have reached the store but its reply was lost (a connection dropped, a timeout after
   * sending): whether it applied is unknown. The saga engine then resolves the step through the store's barrier
   * instead of treating it as not applied (`SagaError.isInDoubt` reads this field). See {@link inDoubtOnWrite}.
   * `false` says the adapter knows nothing of the write was sent (see {@link beforeWrite}).
   */
  readonly inDoubt?: boolean | undefined
}> {
  /** Transient errors (connection, timeout, deadlock) may be retried; business errors never are. */
  get transient(): boolean {
    return transientReasons.has(this.reason)
  }
  /** The stable error code, e.g. `ENTITY_NOT_FOUND`. */
  get code(): string {
    return codeOf(this.reason)
  }
}

const neverSentCodes: ReadonlySet<string> = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH"])
const neverSentNames: ReadonlySet<string> = new Set(["MongoServerSelectionError"])

/** Does the cause say the request never left this process (no connection could be made)? */
const neverSent = (cause: unknown, depth = 0): boolean => {
  if (typeof cause !== "object" || cause === null || depth > 5) return false
  const { code, name } = cause as { readonly code?: unknown; readonly name?: unknown }
  if (typeof code === "string" && neverSentCodes.has(code)) return true
  if (typeof name === "string" && neverSentNames.has(name)) return true
  const errors = (cause as { readonly errors?: unknown }).errors
  return neverSent((cause as { readonly cause?: unknown }).cause, depth + 1) ||
    (Array.isArray(errors) && errors.length > 0 && errors.every((e) => neverSent(e, depth + 1)))
}

/**
 * The error of a write call, classified: a connection lost or a timeout (`Unavailable` / `Timeout`) whose request
 * may have reached the store is **in doubt** (`inDoubt: true`); a connection that could not even be made, and every
 * other reason, is returned as it is. Adapters apply it to the errors of their write operations.
 *
 * @since 0.1.0
 */
export const inDoubtOnWrite = (error: StoreError): StoreError =>
  error.inDoubt !== undefined || (error.reason !== "Unavailable" && error.reason !== "Timeout") ||
    neverSent(error.cause)
    ? error
    : withInDoubt(error, true)

/** The error with `inDoubt` set, every other field kept. */
const withInDoubt = (error: StoreError, inDoubt: boolean): StoreError =>
  new StoreError({
    reason: error.reason,
    message: error.message,
    engine: error.engine,
    entity: error.entity,
    path: error.path,
    cause: error.cause,
    inDoubt
  })

/**
 * The error of a call an adapter makes before it sends anything of a step's write (the read a write starts with):
 * whatever its reason, the step did not apply, so it is never in doubt (`inDoubt: false`, which
 * {@link inDoubtOnWrite} keeps). A lost reply of such a read must not make the saga resolve the step: resolving
 * fences it, and a fence holds the step's record ids until `prune` although nothing was written.
 *
 * @since 0.1.0
 */
export const beforeWrite = (error: StoreError): StoreError =>
  error.inDoubt !== undefined ? error : withInDoubt(error, false)

/**
 * @since 0.1.0
 */
export const isStoreError = (u: unknown): u is StoreError => u instanceof StoreError
