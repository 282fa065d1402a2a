import { StoreError, type StoreErrorReason } from "@polysaga/store"

const reasonOf = (code: string | undefined, message: string): StoreErrorReason => {
  if (code === undefined) {
    return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|terminat|Connection|connect/i.test(message)
      ? "Unavailable"
      : "Unknown"
  }
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

/** Maps an `@effect/sql` error (its cause is node-postgres's) to a classified `StoreError`. */
export const fromSql = (entity: string | undefined) => (error: unknown): StoreError => {
  if (error instanceof StoreError) return error
  const cause = (error as { cause?: unknown }).cause ?? error
  const code = (cause as { code?: unknown }).code
  const message = cause instanceof Error ? cause.message : String(cause)
  return new StoreError({
    reason: reasonOf(typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined, message),
    engine: "postgres",
    entity,
    message: entity === undefined ? `postgres: ${message}` : `postgres ${entity}: ${message}`,
    cause: error
  })
}
