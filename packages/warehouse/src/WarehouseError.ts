/**
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The codes a `WarehouseError` carries:
 * - bad input, rejected whole before the first write: `VALIDATION_ERROR` (shape, options, `id`, `dependsOn`,
 *   `$ref`), `SOURCE_NOT_FOUND`, `SOURCE_TYPE_MISMATCH`, `ENTITY_NOT_FOUND`, `FIELD_NOT_FOUND`,
 *   `INVALID_IDENTIFIER`, `UNSUPPORTED_OPERATOR`, `TOO_MANY_RECORDS`, `TOO_MANY_OPERATIONS`, `DUPLICATE_ID`
 *   (`options.id` names a transaction the journal already has);
 * - configuration: `ENGINE_NOT_INSTALLED` (a source's adapter package is missing);
 * - system faults: `SOURCE_UNAVAILABLE`, `JOURNAL_UNAVAILABLE`;
 * - a store's other refusals during validation: `NO_MATCH`, `CONFLICT`, `CONSTRAINT`, `HAS_RELATIONSHIPS`,
 *   `UNKNOWN`.
 *
 * @since 0.1.0
 * @category errors
 */
export const Code = Schema.Literal(
  "VALIDATION_ERROR",
  "SOURCE_NOT_FOUND",
  "SOURCE_TYPE_MISMATCH",
  "ENTITY_NOT_FOUND",
  "FIELD_NOT_FOUND",
  "INVALID_IDENTIFIER",
  "UNSUPPORTED_OPERATOR",
  "TOO_MANY_RECORDS",
  "TOO_MANY_OPERATIONS",
  "DUPLICATE_ID",
  "ENGINE_NOT_INSTALLED",
  "SOURCE_UNAVAILABLE",
  "JOURNAL_UNAVAILABLE",
  "NO_MATCH",
  "CONFLICT",
  "CONSTRAINT",
  "HAS_RELATIONSHIPS",
  "UNKNOWN"
)

/**
 * A transaction that could not start: bad input (rejected whole before the first write) or a system fault.
 * `code` is one of {@link Code}; `path` names the offending part, e.g. `operations[2].where.quantity.$gte`.
 *
 * @since 0.1.0
 * @category errors
 */
export class WarehouseError extends Schema.TaggedError<WarehouseError>()("WarehouseError", {
  code: Code,
  message: Schema.String,
  path: Schema.optional(Schema.String)
}) {}

/**
 * @since 0.1.0
 * @category errors
 */
export declare namespace WarehouseError {
  /**
   * @since 0.1.0
   */
  export type Code = typeof Code.Type
}
