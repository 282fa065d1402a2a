/**
 * A step's write, in the transaction the kernel opened: before-images read with `SELECT … FOR UPDATE`, relative
 * updates as `col = col + $1`, every value a bound parameter. Undo actions hold rows as PostgreSQL's own text
 * rendering of each column, so a restore is exact for every type.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import {
  Filter,
  type Operation,
  Store,
  type StoreError,
  Undo,
  type Update,
  type WriteContext,
  type Written
} from "@polysaga/store"
import * as Effect from "effect/Effect"
import type * as Catalog from "./catalog.js"
import * as Compile from "./compile.js"
import { engine, fromSql } from "./connection.js"

/**
 * Rows selected with `*, imageColumns`, split into record and image. A row with a column the kept catalog does not
 * list means the table changed since it was read: its image would miss that column, so the statement fails
 * (`FieldNotFound`, and the store reads the catalog again and retries).
 */
export const splitRows = (table: Catalog.Table, rows: ReadonlyArray<Record<string, unknown>>) =>
  Effect.suspend(() => {
    const split = rows.map((row) => Compile.split(table, row))
    const unknown = split.flatMap(({ record }) => Object.keys(record).filter((k) => !table.columns.has(k)))
    return unknown.length === 0 ? Effect.succeed(split) : Effect.fail(
      Store.fail(engine, "FieldNotFound", `table ${table.name} has a column its kept catalog lacks: ${unknown[0]}`, {
        entity: table.name
      })
    )
  })

/** Locks and reads at most `limit` rows matching `where`, split into record and image. */
export const lock = (sql: SqlClient.SqlClient, table: Catalog.Table, where: Filter.Filter, limit: number) =>
  Effect.flatMap(
    sql<Record<string, unknown>>`
      SELECT *, ${Compile.imageColumns(sql, table)} FROM ${Compile.qualified(sql, table)}
      WHERE ${Compile.where(sql, table, where)} LIMIT ${limit} FOR UPDATE`,
    (rows) => splitRows(table, rows)
  )

export const write = (sql: SqlClient.SqlClient) =>
(
  _: void,
  table: Catalog.Table,
  operation: Operation.Operation,
  context: WriteContext
): Effect.Effect<Written, StoreError> => {
  const t = Compile.qualified(sql, table)

  /** The rows `where` matches, locked, within the kernel's bound. */
  const matching = (where: Filter.Filter) =>
    Effect.tap(lock(sql, table, where, context.readLimit), (rows) => context.matched(rows.length))

  const insert = (record: Operation.Row, conflict: "fail" | "skip") => {
    const columns = Object.keys(record)
    return sql<Record<string, unknown>>`
      INSERT INTO ${t} (${sql.csv(columns.map((c) => sql`${sql(c)}`))})
      VALUES (${sql.csv(columns.map((c) => sql`${Compile.param(table.columns.get(c), record[c])}`))})
      ${conflict === "skip" ? sql`ON CONFLICT DO NOTHING` : sql``}
      RETURNING *, ${Compile.imageColumns(sql, table)}`.pipe(Effect.flatMap((rows) => splitRows(table, rows)))
  }

  const update = (keys: ReadonlyArray<Undo.Image>, changes: ReadonlyArray<Update.Change>) =>
    Effect.flatMap(
      sql<Record<string, unknown>>`
        UPDATE ${t} SET ${Compile.assignments(sql, table, changes)}
        WHERE ${Compile.byKeys(sql, table, keys)}
        RETURNING *, ${Compile.imageColumns(sql, table)}`,
      (rows) => splitRows(table, rows)
    )

  /** The filter an upsert record is identified by: `where`, `options.key`, the primary key or a unique key. */
  const upsertKey = (op: Extract<Operation.Operation, { kind: "upsert" }>, row: Operation.Row) => {
    if (op.where !== undefined) return Effect.succeed(op.where)
    const fields = op.options.key ??
      [table.primaryKey, ...table.uniqueKeys].find((k) => k.length > 0 && k.every((c) => row[c] !== undefined))
    if (fields === undefined || fields.some((f) => row[f] === undefined)) {
      return Effect.fail(context.fail(
        "Validation",
        "an upsert needs where, options.key, or the values of the primary key or a unique key in data"
      ))
    }
    return Effect.succeed(Filter.byKey(Object.fromEntries(fields.map((f) => [f, row[f]]))))
  }

  const upsert = (
    op: Extract<Operation.Operation, { kind: "upsert" }>,
    row: Operation.Row
  ): Effect.Effect<{ record: Record<string, unknown>; action: Undo.UndoAction }, unknown> =>
    Effect.gen(function*() {
      const key = yield* upsertKey(op, row)
      const existing = yield* matching(key)
      if (existing.length > 1) return yield* context.fail("Validation", "the upsert key matches more than one record")
      if (existing.length === 1) {
        const changes = Object.entries(row).map(([field, value]) => ({ op: "set" as const, field, value, path: field }))
        const before = existing[0]!
        const pk = Compile.keyOf(table, before.image)
        const [after] = yield* update([pk], changes)
        return { record: after!.record, action: Undo.revert(pk, changes, before.image, after!.image) }
      }
      const [created] = yield* insert(row, "skip")
      // another writer inserted the key since it was read: update that record instead
      if (created === undefined) return yield* upsert({ ...op, where: key }, row)
      return { record: created.record, action: { _tag: "DeleteCreated", key: Compile.keyOf(table, created.image) } }
    })

  return Effect.gen(function*() {
    switch (operation.kind) {
      case "select": {
        const rows = yield* sql<Record<string, unknown>>`${Compile.select(sql, table, operation, context.readLimit)}`
        return { records: rows, actions: [] }
      }
      case "insert": {
        if (operation.records.length > 0 && table.primaryKey.length === 0) {
          return yield* context.fail("Validation", "the table has no primary key, so an insert could not be undone")
        }
        const rows = (yield* Effect.forEach(operation.records, (r) => insert(r, "fail"))).flat()
        return {
          records: rows.map((r) => r.record),
          actions: rows.map((r): Undo.UndoAction => ({ _tag: "DeleteCreated", key: Compile.keyOf(table, r.image) }))
        }
      }
      case "update": {
        const before = yield* matching(operation.where)
        if (before.length === 0) return { records: [], actions: [] }
        const after = yield* update(before.map((b) => Compile.keyOf(table, b.image)), operation.changes)
        const beforeByKey = new Map(before.map((b) => [JSON.stringify(Compile.keyOf(table, b.image)), b.image]))
        return {
          records: after.map((a) => a.record),
          actions: after.map((a) => {
            const key = Compile.keyOf(table, a.image)
            return Undo.revert(key, operation.changes, beforeByKey.get(JSON.stringify(key))!, a.image)
          })
        }
      }
      case "delete": {
        const before = yield* matching(operation.where)
        if (before.length === 0) return { records: [], actions: [] }
        yield* sql`DELETE FROM ${t} WHERE ${
          Compile.byKeys(sql, table, before.map((b) => Compile.keyOf(table, b.image)))
        }`
        return {
          records: before.map((b) => b.record),
          actions: before.map((b): Undo.UndoAction => ({ _tag: "Reinsert", image: b.image }))
        }
      }
      case "upsert": {
        const rows = yield* Effect.forEach(operation.records, (r) => upsert(operation, r))
        return { records: rows.map((r) => r.record), actions: rows.map((r) => r.action) }
      }
    }
  }).pipe(Effect.mapError(fromSql(operation.entity)))
}
