/**
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A transaction that could not start: bad input (rejected whole before the first write) or a system fault.
 * `code` is stable (`VALIDATION_ERROR`, `SOURCE_NOT_FOUND`, `SOURCE_TYPE_MISMATCH`, `ENTITY_NOT_FOUND`,
 * `FIELD_NOT_FOUND`, `INVALID_IDENTIFIER`, `UNSUPPORTED_OPERATOR`, `TOO_MANY_RECORDS`, `DUPLICATE_ID`,
 * `SOURCE_UNAVAILABLE`, `JOURNAL_UNAVAILABLE`); `path` names the offending part, e.g. `operations[2].where.quantity.$gte`.
 *
 * @since 0.1.0
 */
export class WarehouseError extends Schema.TaggedError<WarehouseError>()("WarehouseError", {
  code: Schema.String,
  message: Schema.String,
  path: Schema.optional(Schema.String)
}) {}
