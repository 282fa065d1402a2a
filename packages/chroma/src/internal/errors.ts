import { StoreError, type StoreErrorReason } from "@polysaga/store"

/** The engine name undo records and errors carry. */
export const engine = "chroma"

/** A `StoreError` of this adapter; `path` is prefixed to the message when given. */
export const storeError = (
  reason: StoreErrorReason,
  message: string,
  options: { readonly entity?: string | undefined; readonly path?: string | undefined; readonly cause?: unknown } = {}
): StoreError =>
  new StoreError({
    reason,
    engine,
    entity: options.entity,
    path: options.path,
    message: options.path === undefined || options.path === "" ? message : `${options.path}: ${message}`,
    cause: options.cause
  })

/** Adds this adapter's engine and the entity to an error raised by the port's helpers. */
export const locate = (entity: string | undefined) => (error: StoreError): StoreError =>
  error.engine === undefined || error.entity === undefined
    ? new StoreError({
      reason: error.reason,
      message: error.message,
      path: error.path,
      cause: error.cause,
      engine: error.engine ?? engine,
      entity: error.entity ?? entity
    })
    : error

const nameOf = (u: unknown): string =>
  typeof u === "object" && u !== null && "name" in u && typeof u.name === "string" ? u.name : ""

const messageOf = (u: unknown): string => u instanceof Error ? u.message : String(u)

/**
 * Classifies an error thrown by the chromadb client (or by `fetch`): connection faults, rate limits and the server's
 * internal errors (5xx) are transient (`Unavailable`), aborted requests are `Timeout`, bad requests are `Validation`, the rest is
 * `Unknown` (never retried).
 */
export const classify = (what: string, entity: string | undefined) => (cause: unknown): StoreError => {
  const message = `${what}: ${messageOf(cause)}`
  switch (nameOf(cause)) {
    // ChromaServerError is a 5xx: Chroma reports its own internal faults this way (e.g. "Error sending message to
    // compactor")
    case "ChromaConnectionError":
    case "ChromaRateLimitError":
    case "ChromaServerError":
      return storeError("Unavailable", message, { entity, cause })
    case "TimeoutError":
    case "AbortError":
      return storeError("Timeout", message, { entity, cause })
    case "ChromaClientError":
    case "ChromaValueError":
    case "InvalidArgumentError":
      return storeError("Validation", message, { entity, cause })
    case "ChromaUniqueError":
      return storeError("Constraint", message, { entity, cause })
    case "ChromaNotFoundError":
    case "InvalidCollectionError":
      return storeError("EntityNotFound", message, { entity, cause })
    case "TypeError":
      // undici's `fetch failed` (connection refused, reset, DNS)
      return /fetch failed|ECONNREFUSED|ECONNRESET|ENOTFOUND|socket/i.test(message)
        ? storeError("Unavailable", message, { entity, cause })
        : storeError("Unknown", message, { entity, cause })
    default:
      return storeError("Unknown", message, { entity, cause })
  }
}

/** Classifies a non-2xx answer of the Chroma REST API. */
export const classifyStatus = (what: string, entity: string | undefined, status: number, body: string): StoreError => {
  const message = `${what}: HTTP ${status} ${body.slice(0, 500)}`
  const cause = { status, body }
  if (status === 400 || status === 422) return storeError("Validation", message, { entity, cause })
  if (status === 404) return storeError("EntityNotFound", message, { entity, cause })
  if (status === 409) return storeError("Constraint", message, { entity, cause })
  if (status === 408 || status === 504) return storeError("Timeout", message, { entity, cause })
  // 500: Chroma's internal faults (e.g. "Error sending message to compactor" under load) pass when retried
  if (status === 429 || status === 500 || status === 502 || status === 503) {
    return storeError("Unavailable", message, { entity, cause })
  }
  return storeError("Unknown", message, { entity, cause })
}
