import * as Either from "effect/Either"
import type { Identifier } from "../Identifier.js"
import { StoreError } from "../StoreError.js"
import { reservedKeys } from "./values.js"

export const pattern = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

export const rule = "must be letters, digits and underscores, start with a letter or underscore, at most 63 characters"
export const reservedRule = "must not be __proto__, constructor or prototype"

export const isValid = (value: string): boolean => pattern.test(value) && !reservedKeys.has(value)

/** Checks one identifier (a plain function: the parsers check every field name of every operation). */
export const check = (value: string, what: string, path: string): Either.Either<Identifier, StoreError> =>
  isValid(value)
    ? Either.right(value as Identifier)
    : Either.left(
      new StoreError({
        reason: "InvalidIdentifier",
        path,
        message: `${path}: invalid ${what} ${JSON.stringify(value)}: ${pattern.test(value) ? reservedRule : rule}`
      })
    )
