import type * as SqlClient from "@effect/sql/SqlClient"
import { Filter, Identifier, Operation, Store, type StoreError } from "@polysaga/store"
import * as Effect from "effect/Effect"
import { engine, fromSql } from "./connection.js"

export interface Column {
  readonly name: string
  readonly typname: string
  /** PostgreSQL type category: `A` array, `N` numeric, `S` string, … */
  readonly category: string
  readonly json: boolean
}

export interface Table {
  /** The table's oid: a statement checks the kept columns are still the table's (see `Compile.fresh`). */
  readonly oid: number
  readonly schema: string
  readonly name: string
  readonly columns: ReadonlyMap<string, Column>
  readonly primaryKey: ReadonlyArray<string>
  /** Column sets of unique indexes (primary key included). */
  readonly uniqueKeys: ReadonlyArray<ReadonlyArray<string>>
}

interface Row {
  readonly name: string
  readonly typname: string
  readonly category: string
  readonly pk: boolean
  readonly oid: string
}

/** Reads a table's columns and keys from the catalog; `EntityNotFound` when there is no such table. */
export const table = (sql: SqlClient.SqlClient, schema: string, name: string): Effect.Effect<Table, StoreError> =>
  Effect.gen(function*() {
    // one round trip: columns, primary key, and (on every row) the column sets of the unique indexes
    const rows = yield* sql<Row & { readonly unique_keys: ReadonlyArray<ReadonlyArray<string>> }>`
      SELECT c.oid::int8::text AS oid, a.attname AS name, t.typname AS typname, t.typcategory AS category,
             COALESCE(a.attnum = ANY (p.indkey::int2[]), false) AS pk,
             (SELECT COALESCE(jsonb_agg(k.columns), '[]'::jsonb) FROM (
                SELECT array_agg(ua.attname::text ORDER BY u.ord) AS columns
                FROM pg_index i
                CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS u(attnum, ord)
                JOIN pg_attribute ua ON ua.attrelid = i.indrelid AND ua.attnum = u.attnum
                WHERE i.indrelid = c.oid AND i.indisunique AND i.indpred IS NULL
                GROUP BY i.indexrelid) k) AS unique_keys
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      JOIN pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_index p ON p.indrelid = c.oid AND p.indisprimary
      WHERE n.nspname = ${schema} AND c.relname = ${name} AND c.relkind IN ('r', 'p')
      ORDER BY a.attnum`
    if (rows.length === 0) {
      return yield* Store.fail(engine, "EntityNotFound", `no table ${schema}.${name}`, { entity: name })
    }
    return {
      oid: Number(rows[0]!.oid),
      schema,
      name,
      columns: new Map(rows.map((r) => [r.name, {
        name: r.name,
        typname: r.typname,
        category: r.category,
        json: r.typname === "json" || r.typname === "jsonb"
      }])),
      primaryKey: rows.filter((r) => r.pk).map((r) => r.name),
      uniqueKeys: rows[0]!.unique_keys
    }
  }).pipe(Effect.mapError(fromSql(name)))

const fieldNotFound = (table: Table, field: string, path: string) =>
  Store.fail(engine, "FieldNotFound", `table ${table.name} has no column ${JSON.stringify(field)}`, {
    entity: table.name,
    path
  })

const textOperators: ReadonlySet<Filter.CompareOperator> = new Set(["like", "ilike", "startsWith", "endsWith", "regex"])

/** The first text comparison (`$like`, `$regex`, …) on a column that is not text, if any. */
const textComparison = (table: Table, filter: Filter.Filter): Filter.Compare | undefined => {
  const stack: Array<Filter.Filter> = [filter]
  while (stack.length > 0) {
    const f = stack.pop()!
    if (f._tag === "Compare") {
      if (textOperators.has(f.op) && table.columns.get(f.field)?.category !== "S") return f
    } else if (f._tag === "Not") stack.push(f.filter)
    else stack.push(...f.filters)
  }
  return undefined
}

/** Every field the operation names must be a column of the table. */
export const checkFields = (table: Table, operation: Operation.Operation, path: string) =>
  Effect.gen(function*() {
    const at = (p: string) => path === "" ? p : `${path}.${p}`
    if ("records" in operation) {
      for (const [i, record] of operation.records.entries()) {
        for (const field of Object.keys(record)) {
          if (!table.columns.has(field)) {
            return yield* fieldNotFound(table, field, `${Operation.recordPath(operation, i, path)}.${field}`)
          }
        }
      }
    }
    if (operation.kind === "update") {
      for (const change of operation.changes) {
        if (!table.columns.has(change.field)) return yield* fieldNotFound(table, change.field, at(change.path))
        const column = table.columns.get(change.field)!
        if ((change.op === "push" || change.op === "pull") && column.category !== "A") {
          return yield* Store.fail(
            engine,
            "Validation",
            `$${change.op} needs an array column; ${change.field} is ${column.typname}`,
            { entity: table.name, path: at(change.path) }
          )
        }
      }
    }
    if ("where" in operation && operation.where !== undefined) {
      for (const [field, fieldPath] of Filter.fields(operation.where)) {
        if (!table.columns.has(field)) return yield* fieldNotFound(table, field, at(fieldPath))
      }
    }
    if ("where" in operation && operation.where !== undefined) {
      const text = textComparison(table, operation.where)
      if (text !== undefined) {
        const column = table.columns.get(text.field)!
        return yield* Store.fail(
          engine,
          "Validation",
          `$${text.op} compares text; ${text.field} is ${column.typname}`,
          { entity: table.name, path: at(text.path) }
        )
      }
    }
    for (const [field, fieldPath] of Operation.clauseFields(operation)) {
      if (!table.columns.has(field)) return yield* fieldNotFound(table, field, at(fieldPath))
    }
    const keyed = operation.kind === "update" || operation.kind === "delete" || operation.kind === "upsert"
    if (keyed && table.primaryKey.length === 0) {
      return yield* Store.fail(
        engine,
        "Validation",
        `table ${table.name} has no primary key, so ${
          operation.kind === "upsert" ? "an" : "a"
        } ${operation.kind} could not be undone`,
        { entity: table.name, path: at("from.entity") }
      )
    }
  })

/**
 * The tables a store has read, each read from the catalog once and kept: a step then costs no catalog round trip.
 * A kept table is dropped (`invalidate`) when a statement on it fails with an error that says the table changed, and
 * read again when an operation names what the kept one lacks.
 */
export interface Cache {
  readonly table: (name: string) => Effect.Effect<Table, StoreError>
  /** Whether the table is kept. */
  readonly kept: (name: string) => boolean
  /** Drops the kept table; whether one was kept. */
  readonly invalidate: (name: string) => boolean
}

export const cache = (sql: SqlClient.SqlClient, schema: string): Cache => {
  const tables = new Map<string, Table>()
  return {
    table: (name) =>
      Effect.suspend(() => {
        const kept = tables.get(name)
        return kept !== undefined
          ? Effect.succeed(kept)
          : Effect.tap(table(sql, schema, name), (found) => Effect.sync(() => void tables.set(name, found)))
      }),
    kept: (name) => tables.has(name),
    invalidate: (name) => tables.delete(name)
  }
}

/**
 * Whether a write's error may come from a kept table that is no longer true: the table or a column is gone (`42P01`,
 * `42703`), a row came back with a column the catalog did not list, or the adapter refused the write from what the
 * catalog says (no primary key, no unique key for an upsert: a `Validation` of its own, without a driver cause).
 */
export const changed = (error: StoreError): boolean =>
  error.reason === "EntityNotFound" || error.reason === "FieldNotFound" ||
  (error.reason === "Validation" && error.cause === undefined)

/**
 * The kernel's `prepare`: the operation's table from the catalog (`EntityNotFound` at `from.entity`), with every
 * field it names checked against the columns — against the kept table, then, if it lacks one, a fresh read.
 */
export const prepare =
  (tables: Cache) => (operation: Operation.Operation, path: string): Effect.Effect<Table, StoreError> => {
    const read = Effect.gen(function*() {
      const found = yield* Effect.mapError(tables.table(operation.entity), (e) => {
        const at = path === "" ? "from.entity" : `${path}.from.entity`
        return Store.fail(engine, e.reason, e.message, { entity: operation.entity, path: at, cause: e.cause })
      })
      yield* checkFields(found, operation, path)
      return found
    })
    // a column (or a key) added since the table was kept: read it again once before refusing
    return Effect.suspend(() =>
      tables.kept(operation.entity)
        ? Effect.catchAll(read, () => Effect.zipRight(Effect.sync(() => tables.invalidate(operation.entity)), read))
        : read
    )
  }

/** The schema name, checked once when the store is made. */
export const checkSchema = (schema: string) => Identifier.check(schema, "schema name", "schema")
