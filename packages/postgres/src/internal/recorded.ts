/**
 * What a step's barrier row records about its write, built by PostgreSQL in the write's own statement: each written
 * row's text images (before and after the write), the undo id, the entity, the key columns and the changes of an
 * update. The undo actions and the outcome are derived from it in one place ({@link actions}), for the write that
 * just ran as for a step answered from its barrier row later, so both carry the same undo record.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { Fragment } from "@effect/sql/Statement"
import { type Step, Undo, type Update } from "@polysaga/store"
import * as Schema from "effect/Schema"

/** A row's text image: each column as PostgreSQL renders it (`col::text`), `null` for SQL NULL. */
export type Image = Readonly<Record<string, string | null>>

/** One written row: its image before the write (none for an insert), after it (none for a delete). */
export interface Row {
  readonly before: Image | null
  readonly after: Image | null
  /** The changes of an upsert's update of this row, when they differ from the write's own. */
  readonly changes?: ReadonlyArray<Update.Change> | undefined
}

const ImageSchema = Schema.Record({ key: Schema.String, value: Schema.NullOr(Schema.String) })

const ChangeSchema = Schema.Struct({
  op: Schema.Literal("set", "increment", "multiply", "push", "pull"),
  field: Schema.String,
  by: Schema.optional(Schema.Number),
  value: Schema.optional(Schema.Unknown)
})

const RowSchema = Schema.Struct({
  before: Schema.NullOr(ImageSchema),
  after: Schema.NullOr(ImageSchema),
  changes: Schema.optional(Schema.Array(ChangeSchema))
})

/** The recorded write, as the barrier row's `outcome` holds it (`v: 2`; earlier rows hold a `RecordedOutcome`). */
export const RecordedWrite = Schema.Struct({
  v: Schema.Literal(2),
  undo: Schema.String,
  entity: Schema.String,
  key: Schema.Array(Schema.String),
  changes: Schema.Array(ChangeSchema),
  rows: Schema.Array(RowSchema)
})

export type RecordedWrite = typeof RecordedWrite.Type

/** Whether a barrier row's outcome is a recorded write (else an earlier version's `RecordedOutcome`). */
export const isRecordedWrite = (u: unknown): boolean =>
  typeof u === "object" && u !== null && (u as { readonly v?: unknown }).v === 2

/** Changes as JSON, with only what an undo needs (the operand of a relative change). */
export const changesJson = (changes: ReadonlyArray<Update.Change>): Undo.Json =>
  changes.map((c) =>
    Undo.toJson(
      c.op === "increment" ?
        { op: c.op, field: c.field, by: c.by } :
        c.op === "push" ?
        { op: c.op, field: c.field, value: c.value } :
        { op: c.op, field: c.field }
    )
  )

/**
 * The recorded write as a `jsonb` expression: `rows` is a `jsonb` array of `{ before, after }` (the statement's own
 * written rows, or a bound parameter).
 */
export const build = (
  sql: SqlClient.SqlClient,
  step: Step,
  entity: string,
  key: ReadonlyArray<string>,
  changes: ReadonlyArray<Update.Change>,
  rows: Fragment
): Fragment =>
  sql`jsonb_build_object('v', 2, 'undo', ${step.undoId}::text, 'entity', ${entity}::text,
    'key', ${JSON.stringify(key)}::jsonb, 'changes', ${JSON.stringify(changesJson(changes))}::jsonb,
    'rows', COALESCE(${rows}, '[]'::jsonb))`

/** The key columns' values of an image. */
export const keyOf = (key: ReadonlyArray<string>, image: Image): Record<string, string | null> =>
  Object.fromEntries(key.map((c) => [c, image[c] ?? null]))

/** The undo actions of written rows: delete what was created, re-insert what was deleted, revert what changed. */
export const actions = (
  key: ReadonlyArray<string>,
  changes: ReadonlyArray<Update.Change>,
  rows: ReadonlyArray<Row>
): Array<Undo.UndoAction> =>
  rows.map((row): Undo.UndoAction =>
    row.before === null
      ? { _tag: "DeleteCreated", key: keyOf(key, row.after!) }
      : row.after === null
      ? { _tag: "Reinsert", image: row.before }
      : Undo.revert(keyOf(key, row.after), row.changes ?? changes, row.before, row.after)
  )

/** The image a row's record is read back from: as written (insert, update, upsert), as deleted (delete). */
export const recordImage = (row: Row): Image => row.after ?? row.before!

/** A recorded write's changes as the update model's (the path is not recorded: an undo does not need it). */
export const decodeChanges = (changes: RecordedWrite["changes"]): ReadonlyArray<Update.Change> =>
  changes.map((c) => ({ ...c, path: c.field }) as Update.Change)
