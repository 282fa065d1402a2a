/**
 * Applying an undo record: in one transaction together with a row in `polysaga_undo_log` keyed by the undo id,
 * which makes it atomic and idempotent (an undo of deletes only — an insert's — is one statement doing both). A restore applies only over this step's after-image (else `Conflict`).
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { type ErrorOptions, Filter, Store, type StoreError, type StoreErrorReason, type Undo } from "@polysaga/store"
import * as Effect from "effect/Effect"
import { undoLogTable } from "./barrier.js"
import type * as Catalog from "./catalog.js"
import * as Compile from "./compile.js"
import { engine, fromSql, isolated, transaction } from "./connection.js"
import { keyOf } from "./recorded.js"

type Image = Record<string, string | null>

const imageColumn = "__polysaga_image"

/**
 * Locks and reads the row `where` matches, with its image. A row with a column the kept catalog does not list means
 * the table changed since it was read: its image would miss that column, so the undo fails (`FieldNotFound`, and the
 * store reads the catalog again and retries; the undo's transaction rolled back).
 */
const lock = (sql: SqlClient.SqlClient, table: Catalog.Table, where: Filter.Filter) =>
  Effect.flatMap(
    sql<Record<string, unknown>>`
      SELECT t.*, ${Compile.image(sql, table, "t")} AS ${sql(imageColumn)} FROM ${Compile.qualified(sql, table)} AS t
      WHERE ${Compile.where(sql, table, where)} LIMIT 1 FOR UPDATE`,
    (rows) => {
      const unknown = rows.flatMap((row) => Object.keys(row).filter((k) => k !== imageColumn && !table.columns.has(k)))
      return unknown.length === 0
        ? Effect.succeed(rows.map((row) => ({ image: row[imageColumn] as Image })))
        : Effect.fail(
          Store.fail(
            engine,
            "FieldNotFound",
            `table ${table.name} has a column its kept catalog lacks: ${unknown[0]}`,
            {
              entity: table.name
            }
          )
        )
    }
  )

const same = (a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>) =>
  Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => a[k] === b[k])

export const apply = (
  sql: SqlClient.SqlClient,
  schema: string,
  tableOf: (entity: string) => Effect.Effect<Catalog.Table, StoreError>
) =>
(
  record: Undo.UndoRecord,
  fail: (reason: StoreErrorReason, message: string, options?: ErrorOptions) => StoreError
): Effect.Effect<void, StoreError> =>
  Effect.gen(function*() {
    const table = yield* tableOf(record.entity)
    const t = Compile.qualified(sql, table)
    const conflict = (message: string) => Effect.fail(fail("Conflict", message))

    const action = (action: Undo.UndoAction) =>
      Effect.gen(function*() {
        switch (action._tag) {
          case "DeleteCreated":
            yield* sql`DELETE FROM ${t} WHERE ${Compile.byKeys(sql, table, [action.key])}`
            return
          case "Reinsert": {
            const current = yield* lock(sql, table, Filter.byKey(keyOf(table.primaryKey, action.image as Image)))
            if (current.length > 0) {
              if (same(current[0]!.image, action.image)) return
              return yield* conflict(`a different record now holds key ${JSON.stringify(action.image)}`)
            }
            const columns = Object.keys(action.image).filter((c) => table.columns.has(c))
            yield* sql`INSERT INTO ${t} (${sql.csv(columns.map((c) => sql`${sql(c)}`))})
              VALUES (${sql.csv(columns.map((c) => sql`${action.image[c] as string | null}`))})`
            return
          }
          case "Revert": {
            const [current] = yield* lock(sql, table, Filter.byKey(action.key))
            if (current === undefined) return yield* conflict(`record ${JSON.stringify(action.key)} no longer exists`)
            // a column always exists: a field absent before the step was NULL
            const fields = Object.entries(action.restore).map(([f, r]) =>
              [f, { before: r.before ?? null, after: r.after }] as const
            )
            const isAfter = fields.every(([f, r]) => current.image[f] === r.after)
            const isBefore = fields.every(([f, r]) => current.image[f] === r.before)
            if (!isAfter && !isBefore) {
              const changed = fields.filter(([f, r]) => current.image[f] !== r.after).map(([f]) => f)
              return yield* conflict(
                `record ${JSON.stringify(action.key)} was changed by another writer (${changed.join(", ")})`
              )
            }
            const sets = [
              ...(isAfter ? fields.map(([f, r]) => sql`${sql(f)} = ${r.before as string | null}`) : []),
              ...Compile.inverse(sql, action.inverse)
            ]
            if (sets.length === 0) return
            yield* sql`UPDATE ${t} AS t SET ${sql.csv(sets)} WHERE ${Compile.byKeys(sql, table, [action.key])}`
          }
        }
      })

    const logged = sql`INSERT INTO ${sql(schema)}.${sql(undoLogTable)} (undo_id) VALUES (${record.id})
      ON CONFLICT DO NOTHING RETURNING undo_id`
    const created = record.actions.flatMap((a) => a._tag === "DeleteCreated" ? [a.key] : [])
    if (created.length === record.actions.length) {
      // deletes only (an insert's undo): the undo-log row and the delete in one statement, atomic on its own
      return yield* isolated(sql`
        WITH fresh AS (${logged})
        DELETE FROM ${t} WHERE ${Compile.byKeys(sql, table, created)} AND EXISTS (SELECT 1 FROM fresh)`).pipe(
        Effect.asVoid,
        Effect.mapError(fromSql(record.entity))
      )
    }
    yield* transaction(sql)(record.entity, () =>
      Effect.gen(function*() {
        const fresh = yield* logged
        if (fresh.length === 0) return
        for (const a of [...record.actions].reverse()) yield* action(a)
      }))
  })
