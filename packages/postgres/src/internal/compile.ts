import type * as SqlClient from "@effect/sql/SqlClient"
import type { Fragment } from "@effect/sql/Statement"
import type { Filter, Operation, Undo, Update } from "@polysaga/store"
import type { Column, Table } from "./catalog.js"

/** A value bound for a column: JSON columns take JSON text, everything else the driver's own conversion. */
export const param = (column: Column | undefined, value: unknown): unknown =>
  column?.json === true && value !== null ? JSON.stringify(value) : value

export const qualified = (sql: SqlClient.SqlClient, table: Table): Fragment =>
  sql`${sql(table.schema)}.${sql(table.name)}`

/** Compiles a filter to a condition that is never NULL (the port's two-valued semantics). */
export const where = (sql: SqlClient.SqlClient, table: Table, filter: Filter.Filter): Fragment => {
  switch (filter._tag) {
    case "And":
      return sql.join(" AND ", true, "TRUE")(filter.filters.map((f) => where(sql, table, f)))
    case "Or":
      return sql.join(" OR ", true, "FALSE")(filter.filters.map((f) => where(sql, table, f)))
    case "Not":
      return sql`(NOT ${where(sql, table, filter.filter)})`
    case "Compare": {
      const c = sql(filter.field)
      const v = param(table.columns.get(filter.field), filter.value)
      switch (filter.op) {
        case "eq":
          return sql`COALESCE(${c} = ${v}, FALSE)`
        case "ne":
          return sql`(${c} IS DISTINCT FROM ${v})`
        case "gt":
          return sql`COALESCE(${c} > ${v}, FALSE)`
        case "gte":
          return sql`COALESCE(${c} >= ${v}, FALSE)`
        case "lt":
          return sql`COALESCE(${c} < ${v}, FALSE)`
        case "lte":
          return sql`COALESCE(${c} <= ${v}, FALSE)`
        case "in":
          return sql`COALESCE(${c} = ANY(${v}), FALSE)`
        case "nin":
          return sql`(NOT COALESCE(${c} = ANY(${v}), FALSE))`
        case "contains":
          return sql`COALESCE(${filter.value} = ANY(${c}), FALSE)`
        case "like":
          return sql`COALESCE(${c} LIKE ${v} ESCAPE '', FALSE)`
        case "ilike":
          return sql`COALESCE(${c} ILIKE ${v} ESCAPE '', FALSE)`
        case "startsWith":
          return sql`COALESCE(starts_with(${c}, ${v}), FALSE)`
        case "endsWith":
          return sql`COALESCE(right(${c}, char_length(${v}::text)) = ${v}, FALSE)`
        case "null":
          return filter.value === true ? sql`(${c} IS NULL)` : sql`(${c} IS NOT NULL)`
        case "exists":
          return filter.value === true ? sql`(${c} IS NOT NULL)` : sql`(${c} IS NULL)`
        case "regex":
          // POSIX ARE, not newline-sensitive: `.` matches newlines, `^` / `$` the start and end of the value, as
          // in the safe subset (`Filter.regex`) every pattern here belongs to
          return sql`COALESCE(${c} ~ ${v}, FALSE)`
      }
    }
  }
}

/**
 * A select operation's query: the `fields` (with the primary key, always returned), `where`, `orderBy` (nulls
 * first in `ASC`, last in `DESC`; text in code point order, `COLLATE "C"`), `offset`, and at most `limit` rows.
 */
export const select = (
  sql: SqlClient.SqlClient,
  table: Table,
  operation: Extract<Operation.Operation, { readonly kind: "select" }>,
  limit: number
): Fragment => {
  const { fields, offset, orderBy = [] } = operation.clauses ?? {}
  const columns = fields === undefined
    ? sql`*`
    : sql.csv([...new Set([...table.primaryKey, ...fields])].map((c) => sql`${sql(c)}`))
  const keys = orderBy.map(({ field, order }) => {
    const collate = table.columns.get(field)?.category === "S" ? sql` COLLATE "C"` : sql``
    return sql`${sql(field)}${collate} ${order === "ASC" ? sql`ASC NULLS FIRST` : sql`DESC NULLS LAST`}`
  })
  return sql`SELECT ${columns} FROM ${qualified(sql, table)} WHERE ${where(sql, table, operation.where)}
    ${keys.length === 0 ? sql`` : sql`ORDER BY ${sql.csv(keys)}`}
    ${offset === undefined ? sql`` : sql`OFFSET ${offset}`} LIMIT ${limit}`
}

/** `SET` assignments for a list of changes. */
export const assignments = (
  sql: SqlClient.SqlClient,
  table: Table,
  changes: ReadonlyArray<Update.Change>
): Fragment =>
  sql.csv(changes.map((change) => {
    const c = sql(change.field)
    switch (change.op) {
      case "set":
        return sql`${c} = ${param(table.columns.get(change.field), change.value)}`
      case "increment":
        return sql`${c} = ${c} + ${change.by}`
      case "multiply":
        return sql`${c} = ${c} * ${change.by}`
      case "push":
        return sql`${c} = array_append(${c}, ${change.value})`
      case "pull":
        return sql`${c} = array_remove(${c}, ${change.value})`
    }
  }))

/** `SET` assignments that invert relative changes (`t` is the updated table's alias). */
export const inverse = (sql: SqlClient.SqlClient, inverses: ReadonlyArray<Undo.Inverse>): ReadonlyArray<Fragment> =>
  inverses.map((inv) => {
    const c = sql(inv.field)
    switch (inv._tag) {
      case "Increment":
        return sql`${c} = t.${c} + ${inv.by}`
      case "RemoveLast":
        return sql`${c} = (
          SELECT CASE WHEN max(u.i) IS NULL THEN t.${c} ELSE (t.${c})[:max(u.i) - 1] || (t.${c})[max(u.i) + 1:] END
          FROM unnest(t.${c}) WITH ORDINALITY AS u(v, i) WHERE u.v = ${inv.value})`
    }
  })

/** Rows whose key columns equal the given key images. */
export const byKeys = (
  sql: SqlClient.SqlClient,
  table: Table,
  keys: ReadonlyArray<Readonly<Record<string, unknown>>>
): Fragment =>
  sql.join(" OR ", true, "FALSE")(
    keys.map((key) => sql.join(" AND ", true, "TRUE")(table.primaryKey.map((c) => sql`${sql(c)} = ${key[c]}`)))
  )

/**
 * A row's exact image as one `jsonb` object: every column the kept catalog lists, rendered as PostgreSQL's own text
 * (`col::text`, `null` for SQL NULL). `alias` names the row (`t`, the written table).
 */
export const image = (sql: SqlClient.SqlClient, table: Table, alias: string): Fragment => {
  const names = [...table.columns.keys()]
  return sql`jsonb_object(${names}::text[], ARRAY[${
    sql.csv(names.map((c) => sql`${sql(alias)}.${sql(c)}::text`))
  }]::text[])`
}

/**
 * The CTE `fresh(ok)`: whether the table still has exactly the kept catalog's columns. A statement writes only when
 * it does; when it does not, nothing is written and the store reads the catalog again.
 */
export const fresh = (sql: SqlClient.SqlClient, table: Table): Fragment =>
  sql`fresh AS (SELECT (SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
    WHERE a.attrelid = ${table.oid}::oid AND a.attnum > 0 AND NOT a.attisdropped) = ${[
    ...table.columns.keys()
  ]}::text[] AS ok)`
