import { StoreError, type StoreErrorReason } from "@polysaga/store"
import * as Data from "effect/Data"

export const engine = "neo4j"

/** Raised inside an undo transaction whose marker says it was already applied: the transaction rolls back. */
export class AlreadyUndone extends Data.TaggedError("AlreadyUndone")<{}> {}

export const storeError = (
  reason: StoreErrorReason,
  entity: string | undefined,
  message: string,
  extra: { readonly path?: string | undefined; readonly cause?: unknown } = {}
): StoreError =>
  new StoreError({
    reason,
    engine,
    entity,
    path: extra.path,
    message: extra.path === undefined || message.startsWith(`${extra.path}:`) ? message : `${extra.path}: ${message}`,
    cause: extra.cause
  })

const codeOf = (error: unknown): string =>
  typeof error === "object" && error !== null && typeof (error as { code?: unknown }).code === "string"
    ? (error as { code: string }).code
    : ""

/** Is this the unique-constraint violation Neo4j raises when a node with the same key already exists? */
export const isConstraintViolation = (error: unknown): boolean =>
  codeOf(error) === "Neo.ClientError.Schema.ConstraintValidationFailed"

const reasonOf = (error: unknown): StoreErrorReason => {
  const code = codeOf(error)
  if (code === "ServiceUnavailable" || code === "SessionExpired") return "Unavailable"
  if (code.includes("DeadlockDetected")) return "Deadlock"
  if (code.includes("TransactionTimedOut") || code.includes("Timeout")) return "Timeout"
  if (code.startsWith("Neo.TransientError.")) return "Unavailable"
  if (code.startsWith("Neo.ClientError.Schema.Constraint")) return "Constraint"
  if (
    code === "Neo.ClientError.Statement.TypeError" || code === "Neo.ClientError.Statement.ArgumentError" ||
    code === "Neo.ClientError.Statement.ArithmeticError"
  ) return "Validation"
  if (error instanceof Error && /connect|ECONNREFUSED|ECONNRESET|socket/i.test(error.message)) return "Unavailable"
  return "Unknown"
}

/** A driver fault as a `StoreError`: connection, deadlock and timeout faults are transient, the rest are not. */
export const fromDriver = (entity: string | undefined, what: string) => (error: unknown): StoreError =>
  error instanceof StoreError
    ? error
    : storeError(reasonOf(error), entity, `${what}: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error
    })
