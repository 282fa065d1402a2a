/**
 * Identifiers (tables, collections, labels, relationship types, fields) are never spliced into a query
 * unchecked: each one must match this pattern before an adapter quotes it.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as internal from "./internal/identifier.js"
import { reservedKeys } from "./internal/values.js"
import type { StoreError } from "./StoreError.js"

/**
 * Letters, digits and underscores, not starting with a digit, at most 63 characters (PostgreSQL's limit).
 *
 * @since 0.1.0
 */
export const pattern: RegExp = internal.pattern

/**
 * Whether `value` may name a table, collection, label, relationship type or field: it matches {@link pattern}
 * and is not one of the names of a JavaScript object's prototype chain (`__proto__`, `constructor`,
 * `prototype`), which a record object could not hold as a plain field.
 *
 * @since 0.1.0
 */
export const isValid: (value: string) => boolean = internal.isValid

/**
 * @since 0.1.0
 */
export const Identifier = Schema.String.pipe(
  Schema.pattern(pattern, { message: () => internal.rule }),
  Schema.filter((value) => !reservedKeys.has(value), { message: () => internal.reservedRule }),
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
export const check: (value: string, what: string, path: string) => Effect.Effect<Identifier, StoreError> =
  internal.check
