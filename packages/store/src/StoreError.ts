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

/**
 * @since 0.1.0
 */
export const isStoreError = (u: unknown): u is StoreError => u instanceof StoreError
