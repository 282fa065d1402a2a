/**
 * Bounds on what one operation may hold, and the text every store (and the saga journal) can keep exactly.
 * `Operation.parse`, `Filter.parse` and `Update.parse` check them with one iterative pass over the raw input before
 * anything recursive runs, so every recursive walk after them (the model's own, the adapters' filter compilers,
 * the journal's encoding) stays within these depths.
 *
 * Depth counts every object and array from the checked value itself: `where: {"$not": {"id": "x"}}` is 2 levels
 * deep, each `$and: [...]` level adds 2 (the array and the object in it). Sizes count UTF-16 code units
 * (JavaScript string length) and array elements.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as internal from "./internal/values.js"
import type { StoreError } from "./StoreError.js"

/**
 * How deep a `where` may nest (objects and arrays).
 *
 * @since 0.1.0
 */
export const maxWhereDepth: number = internal.whereBounds.depth

/**
 * How many values (objects, arrays and scalars, operators' operands included) a `where` may hold.
 *
 * @since 0.1.0
 */
export const maxWhereNodes: number = internal.whereBounds.nodes

/**
 * How deep `data` may nest, counting from `data` itself (a list of records is one level, each record another).
 *
 * @since 0.1.0
 */
export const maxDataDepth: number = internal.dataBounds.depth

/**
 * The longest string (value or key) an operation may hold, in UTF-16 code units.
 *
 * @since 0.1.0
 */
export const maxStringLength: number = internal.maxStringLength

/**
 * The longest array an operation may hold (a list of records, a `$in` list, an array value, a vector).
 *
 * @since 0.1.0
 */
export const maxArrayLength: number = internal.maxArrayLength

/**
 * Keys refused anywhere in `data` and `where` (field names and nested keys alike): on a JavaScript object they
 * name the prototype chain, so a store, a driver or a copy could drop them or read something that was never
 * written.
 *
 * @since 0.1.0
 */
export const reservedKeys: ReadonlySet<string> = internal.reservedKeys

/**
 * Text every store and the journal can hold exactly: well-formed UTF-16 (no lone surrogate) and no U+0000, which
 * PostgreSQL refuses in `text` and `jsonb`.
 *
 * @since 0.1.0
 */
export const isStorableText: (text: string) => boolean = internal.isStorableText

/**
 * The bounds one check applies: how deep, how many values.
 *
 * @since 0.1.0
 */
export interface Bounds {
  readonly depth: number
  readonly nodes: number
}

/**
 * The bounds of a `where`.
 *
 * @since 0.1.0
 */
export const where: Bounds = internal.whereBounds

/**
 * The bounds of `data` (its size is bounded by the body limit of whoever receives it).
 *
 * @since 0.1.0
 */
export const data: Bounds = internal.dataBounds

/**
 * Checks `value` iteratively (no recursion, whatever its depth): depth and value count within `bounds`, every
 * string and array within {@link maxStringLength} / {@link maxArrayLength}, every string and key storable text,
 * no key in {@link reservedKeys}. Fails with a `Validation` error at the path of the first offending part.
 *
 * @since 0.1.0
 */
export const check: (value: unknown, path: string, bounds: Bounds) => Effect.Effect<void, StoreError> =
  internal.checkBounds
