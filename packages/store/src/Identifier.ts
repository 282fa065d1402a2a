/**
 * Identifiers (tables, collections, labels, relationship types, fields) are never spliced into a query
 * unchecked: each one must match this pattern before an adapter quotes it.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { StoreError } from "./StoreError.js"

/**
 * Letters, digits and underscores, not starting with a digit, at most 63 characters (PostgreSQL's limit).
 *
 * @since 0.1.0
 */
export const pattern = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/**
 * @since 0.1.0
 */
export const Identifier = Schema.String.pipe(
  Schema.pattern(pattern, {
    message: () => "must be letters, digits and underscores, start with a letter or underscore, at most 63 characters"
  }),
  Schema.brand("@polysaga/store/Identifier")
)

/**
 * @since 0.1.0
 */
export type Identifier = typeof Identifier.Type

/**
 * Checks one identifier; `what` and `path` go into the error message.
 *
 * @since 0.1.0
 */
export const check = (value: string, what: string, path: string): Effect.Effect<Identifier, StoreError> =>
  pattern.test(value)
    ? Effect.succeed(value as Identifier)
    : Effect.fail(
      new StoreError({
        reason: "InvalidIdentifier",
        path,
        message: `${path}: invalid ${what} ${
          JSON.stringify(value)
        }: ${"must be letters, digits and underscores, start with a letter or underscore, at most 63 characters"}`
      })
    )
