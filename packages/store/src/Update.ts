/**
 * The update model: `data` of an `update` is a record of changes, one per field. A plain value sets the field;
 * `{ $increment: n }`, `{ $decrement: n }`, `{ $multiply: n }`, `{ $push: v }`, `{ $pull: v }` are operators.
 * `$decrement: n` is read as an increment by `-n`.
 *
 * Relative changes (`increment`, `push`) are undone by their inverse (`increment` by the opposite amount,
 * `removeLast` of the pushed value) so concurrent sagas' writes survive an undo. Absolute changes (`set`,
 * `multiply`, `pull`) are undone by restoring the before-image, only if the field still holds this step's
 * after-image.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as internal from "./internal/update.js"
import type { StoreError } from "./StoreError.js"

/**
 * @since 0.1.0
 */
export type Change =
  | { readonly op: "set"; readonly field: string; readonly value: unknown; readonly path: string }
  | { readonly op: "increment"; readonly field: string; readonly by: number; readonly path: string }
  | { readonly op: "multiply"; readonly field: string; readonly by: number; readonly path: string }
  | { readonly op: "push"; readonly field: string; readonly value: unknown; readonly path: string }
  | { readonly op: "pull"; readonly field: string; readonly value: unknown; readonly path: string }

/**
 * The update operators a store may support (`set` is a plain value).
 *
 * @since 0.1.0
 */
export type UpdateOperator = Change["op"]

/**
 * @since 0.1.0
 */
export const updateOperators: ReadonlyArray<UpdateOperator> = ["set", "increment", "multiply", "push", "pull"]

/**
 * Parses the `data` of an update into changes, checking field names and operand types.
 *
 * @since 0.1.0
 */
export const parse: (data: unknown, path?: string) => Effect.Effect<ReadonlyArray<Change>, StoreError> = internal.parse

/**
 * Is the change relative (undone by its inverse) rather than absolute (undone by a checked restore)?
 *
 * @since 0.1.0
 */
export const isRelative = (change: Change): change is Extract<Change, { op: "increment" | "push" }> =>
  change.op === "increment" || change.op === "push"

/**
 * The reference semantics: `record` after `changes`. Used by the conformance suite and in-memory fakes.
 *
 * @since 0.1.0
 */
export const apply: (
  changes: ReadonlyArray<Change>,
  record: Readonly<Record<string, unknown>>
) => Record<string, unknown> = internal.apply
