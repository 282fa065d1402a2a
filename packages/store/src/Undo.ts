/**
 * Undo records: what a store call must remember so that its compensation can be applied later, in another
 * process, after a restart. Every undo record is plain JSON by its Schema, so a journal can keep it.
 *
 * Actions, applied in reverse order by `Store.undo`:
 * - `DeleteCreated`: delete exactly the record this step created, by its key;
 * - `Reinsert`: re-insert the full before-image of a record this step deleted;
 * - `Revert`: on the record with this key, apply the inverse of each relative change, and restore each
 *   absolutely changed field to `before` only if it still equals `after` (otherwise a `Conflict`).
 *
 * Absence is exact: a field the record did not have before the step has no `before` in its `Restore`, and its
 * relative inverse says `absent: true`; the undo then removes the field (for an inverse: when it brings the field
 * back to `0` / an empty list, i.e. when no other writer changed it since), instead of leaving `null`, `0` or `[]`
 * where nothing was.
 *
 * Applying an undo record twice has the effect of applying it once (adapters guarantee it; the conformance
 * suite checks it).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type { Change } from "./Update.js"

/**
 * @since 0.1.0
 */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

/**
 * @since 0.1.0
 */
export const Json: Schema.Schema<Json> = Schema.Union(
  Schema.Null,
  Schema.Boolean,
  Schema.Finite,
  Schema.String,
  Schema.Array(Schema.suspend(() => Json)),
  Schema.Record({ key: Schema.String, value: Schema.suspend(() => Json) })
)

/**
 * A record's key or full image, in the adapter's own JSON form.
 *
 * @since 0.1.0
 */
export const Image = Schema.Record({ key: Schema.String, value: Json })

/**
 * @since 0.1.0
 */
export type Image = typeof Image.Type

/**
 * The inverse of one relative change.
 *
 * @since 0.1.0
 */
export const Inverse = Schema.Union(
  Schema.TaggedStruct("Increment", {
    field: Schema.String,
    by: Schema.Finite,
    absent: Schema.optional(Schema.Literal(true))
  }),
  Schema.TaggedStruct("RemoveLast", {
    field: Schema.String,
    value: Json,
    absent: Schema.optional(Schema.Literal(true))
  })
)

/**
 * @since 0.1.0
 */
export type Inverse = typeof Inverse.Type

/**
 * A field to restore: to `before`, only if it still holds `after`. A missing `before` means the field was absent
 * before the step.
 *
 * @since 0.1.0
 */
export const Restore = Schema.Struct({ before: Schema.optional(Json), after: Json })

/**
 * @since 0.1.0
 */
export type Restore = typeof Restore.Type

/**
 * @since 0.1.0
 */
export const UndoAction = Schema.Union(
  Schema.TaggedStruct("DeleteCreated", { key: Image }),
  Schema.TaggedStruct("Reinsert", { image: Image }),
  Schema.TaggedStruct("Revert", {
    key: Image,
    inverse: Schema.Array(Inverse),
    restore: Schema.Record({ key: Schema.String, value: Restore })
  })
)

/**
 * @since 0.1.0
 */
export type UndoAction = typeof UndoAction.Type

/**
 * `id` is unique per store call (adapters use it to make undo idempotent); `engine` and `entity` say where
 * the actions apply.
 *
 * @since 0.1.0
 */
export const UndoRecord = Schema.Struct({
  id: Schema.String,
  engine: Schema.String,
  entity: Schema.String,
  actions: Schema.Array(UndoAction)
})

/**
 * @since 0.1.0
 */
export type UndoRecord = typeof UndoRecord.Type

/**
 * The `Revert` action for one updated record: inverses of its relative changes (a push is undone by removing
 * the last occurrence of the pushed value, as {@link toJson} renders it), checked restores of the absolute
 * ones. `before` / `after` are the record's images in the adapter's JSON form.
 *
 * @since 0.1.0
 */
export const revert = (
  key: Image,
  changes: ReadonlyArray<Change>,
  before: Image,
  after: Image
): Extract<UndoAction, { _tag: "Revert" }> => {
  const inverse: Array<Inverse> = []
  const restore: Record<string, Restore> = {}
  for (const change of changes) {
    const absent = before[change.field] === undefined ? { absent: true as const } : {}
    if (change.op === "increment") inverse.push({ _tag: "Increment", field: change.field, by: -change.by, ...absent })
    else if (change.op === "push") {
      inverse.push({ _tag: "RemoveLast", field: change.field, value: toJson(change.value), ...absent })
    } else {
      const was = before[change.field]
      restore[change.field] = { ...(was === undefined ? {} : { before: was }), after: after[change.field] ?? null }
    }
  }
  return { _tag: "Revert", key, inverse, restore }
}

/**
 * A record value (JSON values and dates, as `Operation.parse` admits) as JSON: dates become ISO strings.
 *
 * @since 0.1.0
 */
export const toJson = (u: unknown): Json =>
  u instanceof Date
    ? u.toISOString()
    : Array.isArray(u)
    ? u.map(toJson)
    : typeof u === "object" && u !== null
    ? Object.fromEntries(Object.entries(u).map(([k, v]) => [k, toJson(v)]))
    : u as Json

/**
 * A new undo record.
 *
 * @since 0.1.0
 */
export const make = (
  engine: string,
  entity: string,
  actions: ReadonlyArray<UndoAction>,
  id: string = crypto.randomUUID()
): UndoRecord => ({ id, engine, entity, actions })

/**
 * A JSON form of a value with sorted object keys, so images compare whatever their key order.
 *
 * @since 0.1.0
 */
export const canonical = (u: unknown): string =>
  JSON.stringify(u, (_, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
      : v)

const show = (value: unknown, max = 160): string => {
  const text = JSON.stringify(value) ?? "null"
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

/**
 * What an undo action will do, in one line for a person (e.g. the operator console):
 * `on {"id":"o1"}: set status back to "pending" if it is still "paid"; add -2 to quantity`.
 *
 * @since 0.1.0
 */
export const describe = (action: UndoAction): string => {
  switch (action._tag) {
    case "DeleteCreated":
      return `delete the record it created, ${show(action.key)}`
    case "Reinsert":
      return `re-insert the record it deleted, ${show(action.image)}`
    case "Revert": {
      const parts = [
        ...Object.entries(action.restore).map(([field, restore]) =>
          `${
            restore.before === undefined ? `remove ${field}` : `set ${field} back to ${show(restore.before, 80)}`
          } if it is still ${show(restore.after, 80)}`
        ),
        ...action.inverse.map((inverse) =>
          (inverse._tag === "Increment"
            ? `add ${inverse.by} to ${inverse.field}`
            : `remove the last ${show(inverse.value, 80)} from ${inverse.field}`) +
          (inverse.absent === true ? ", then remove it if that leaves 0 or [] (it was absent before)" : "")
        )
      ]
      return `on ${show(action.key)}: ${parts.length === 0 ? "nothing to revert" : parts.join("; ")}`
    }
  }
}
