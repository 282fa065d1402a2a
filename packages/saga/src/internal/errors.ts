import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

/** @internal */
export const isTransient = (error: unknown): boolean =>
  typeof error === "object" && error !== null && "transient" in error && error.transient === true

/** @internal */
export const isInDoubt = (error: unknown): boolean =>
  typeof error === "object" && error !== null && "inDoubt" in error && error.inDoubt === true

/** @internal */
export const errorMessage = (error: unknown): string => {
  if (typeof error !== "object" || error === null) return String(error)
  if ("message" in error && typeof error.message === "string" && error.message !== "") return error.message
  const { _tag, ...fields } = error as { readonly _tag?: unknown }
  const json = safeJson(fields)
  if (typeof _tag === "string") return json === "{}" ? _tag : `${_tag} ${json}`
  return json
}

const safeJson = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/**
 * A one-line message for a Cause: its first failure, else its first defect, else "interrupted".
 * @internal
 */
export const causeMessage = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return errorMessage(failure.value)
  const defect = Cause.dieOption(cause)
  if (Option.isSome(defect)) return `defect: ${errorMessage(defect.value)}`
  return Cause.isInterrupted(cause) ? "interrupted" : "empty cause"
}

/** @internal */
export const formatDuration = (duration: Duration.Duration): string => Duration.format(duration)
