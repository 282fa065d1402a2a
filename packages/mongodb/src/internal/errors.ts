/**
 * Driver errors → `StoreError` reasons. Connection faults are transient (`Unavailable` / `Timeout`), a write
 * conflict is `Deadlock`, a duplicate key or a schema-validation failure is `Constraint`, a refused operand is
 * `Validation`; anything else is `Unknown`.
 */
import type { StoreError } from "@polysaga/store"
import {
  BSON,
  MongoClientClosedError,
  MongoError,
  MongoNetworkError,
  MongoNetworkTimeoutError,
  MongoNotConnectedError,
  MongoOperationTimeoutError,
  MongoParseError,
  MongoServerClosedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError
} from "mongodb"
import { storeError } from "./check.js"

const constraintCodes = new Set([11000, 11001, 12582, 121])
const timeoutCodes = new Set([50, 89, 202, 262, 290])
const unavailableCodes = new Set([6, 7, 91, 189, 9001, 10107, 11600, 11602, 13435, 13436])
const conflictCodes = new Set([112, 251])
const validationCodes = new Set([2, 9, 14, 40, 52, 53, 56, 57, 66])

const reasonOf = (error: unknown): StoreError["reason"] => {
  if (error instanceof MongoNetworkTimeoutError || error instanceof MongoOperationTimeoutError) return "Timeout"
  if (
    error instanceof MongoNetworkError || error instanceof MongoServerSelectionError ||
    error instanceof MongoTopologyClosedError || error instanceof MongoNotConnectedError ||
    error instanceof MongoClientClosedError || error instanceof MongoServerClosedError
  ) return "Unavailable"
  if (error instanceof MongoParseError || error instanceof BSON.BSONError) return "Validation"
  if (error instanceof MongoServerError) {
    const code = typeof error.code === "number" ? error.code : undefined
    if (code !== undefined && constraintCodes.has(code)) return "Constraint"
    // FerretDB v1 reports a unique index violated by an update as InternalError (1) with SQLite's message.
    if (code === 1 && /UNIQUE constraint failed/.test(error.message)) return "Constraint"
    if (code !== undefined && conflictCodes.has(code)) return "Deadlock"
    if (code !== undefined && timeoutCodes.has(code)) return "Timeout"
    if (code !== undefined && unavailableCodes.has(code)) return "Unavailable"
    if (error.hasErrorLabel("RetryableWriteError") || error.hasErrorLabel("TransientTransactionError")) {
      return "Unavailable"
    }
    if (code !== undefined && validationCodes.has(code)) return "Validation"
  }
  if (error instanceof MongoError && error.hasErrorLabel("ResetPool")) return "Unavailable"
  return "Unknown"
}

/** Is this a duplicate-key error? */
export const isDuplicateKey = (error: unknown): boolean =>
  error instanceof MongoServerError && (error.code === 11000 || error.code === 11001)

/** A driver error as a `StoreError`; `what` says which call failed. */
export const fromDriver = (entity: string | undefined, what: string) => (error: unknown): StoreError => {
  const detail = error instanceof Error ? error.message : String(error)
  return storeError(reasonOf(error), entity, "", `mongodb ${what} failed: ${detail}`, error)
}
