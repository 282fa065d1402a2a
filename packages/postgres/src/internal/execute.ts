/**
 * A step's write as **one statement**: data-modifying CTEs read the before-images (`SELECT … FOR UPDATE`), write
 * only when the step has no barrier row yet and the match is within bounds, and insert the barrier row with the
 * recorded write (the rows' text images, see `Recorded`), all atomically, in one round trip and PostgreSQL's own
 * implicit transaction. The statement answers the written rows, or the barrier row an earlier attempt left (then it
 * wrote nothing). Relative updates are `col = col + $1`, every value a bound parameter, every identifier quoted.
 *
 * An upsert of several records cannot be one statement (a record's decision depends on the ones before it): its
 * statements run in a transaction of their own, the barrier row inserted last, in the same transaction.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { Fragment } from "@effect/sql/Statement"
import {
  Filter,
  type Mark,
  type Operation,
  type Step,
  Store,
  type StoreError,
  type Update,
  type WriteContext,
  type Written
} from "@polysaga/store"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { barrierTable } from "./barrier.js"
import type * as Catalog from "./catalog.js"
import * as Compile from "./compile.js"
import { engine, fromSql, isolated, transaction } from "./connection.js"
import * as Recorded from "./recorded.js"

/**
 * The kernel's unit for a write: no transaction of its own (the write is one statement, or opens one); what the
 * step's statement found in the barrier, for the kernel's `claimWithOutcome` to answer.
 */
export interface Unit {
  prior: Option.Option<Mark>
}

/** The kernel's local unit: the write's statements run isolated from a caller's transaction. */
export const unit = <A, E>(entity: string | undefined, use: (unit: Unit) => Effect.Effect<A, E>) =>
  isolated(Effect.suspend(() => use({ prior: Option.none() }))).pipe(Effect.mapError(fromSql(entity)))

const before = "__polysaga_before"
const after = "__polysaga_after"
const reserved = "__polysaga_"

/** A written row: the record as the driver read it, and its images. */
interface Done {
  readonly record: Record<string, unknown>
  readonly row: Recorded.Row
}

/**
 * What one kind of write puts in the statement: CTEs (`name AS (…)`), the last one `w` with the written rows (the
 * table's columns and the `__polysaga_before` / `__polysaga_after` images); how many rows the filter matched; when
 * the write is whole (the barrier row is inserted only then).
 */
interface Body {
  readonly ctes: ReadonlyArray<Fragment>
  readonly matched?: Fragment | undefined
  readonly complete: Fragment
}

/** A statement's answer: whether the kept catalog was still true, the barrier row found, the match, the rows. */
interface Answer {
  readonly prior: unknown
  readonly matched: number | undefined
  readonly done: ReadonlyArray<Done>
}

export const write = (
  sql: SqlClient.SqlClient,
  toMark: (row: unknown) => Effect.Effect<Mark, StoreError>
) =>
(
  unit: Unit,
  table: Catalog.Table,
  operation: Operation.Operation,
  context: WriteContext
): Effect.Effect<Written, StoreError> => {
  const t = Compile.qualified(sql, table)
  const barrier = sql`${sql(table.schema)}.${sql(barrierTable)}`
  const image = Compile.image(sql, table, "t")
  const key = (i: number) => sql(`${reserved}k${i}`)
  /** The key columns of `t`, aliased so they never collide with the table's own columns. */
  const keys = sql.csv(table.primaryKey.map((c, i) => sql`t.${sql(c)} AS ${key(i)}`))
  /** `t` joined to the locked rows `b` by key. */
  const byLocked = sql.join(" AND ", false)(table.primaryKey.map((c, i) => sql`t.${sql(c)} = b.${key(i)}`))

  /**
   * Runs a body as one statement; with `step`, guarded by and claiming the barrier. Every CTE writes only when `go`:
   * the table still has the kept columns (else nothing is written and the store reads the catalog again), and the
   * step has no barrier row.
   */
  const statement = (build: (go: Fragment) => Body, step: Step | undefined, changes: ReadonlyArray<Update.Change>) =>
    Effect.gen(function*() {
      const go = step === undefined
        ? sql`(SELECT ok FROM fresh)`
        : sql`(SELECT ok FROM fresh) AND NOT EXISTS (SELECT 1 FROM prior)`
      const body = build(go)
      const written = sql`(SELECT jsonb_agg(jsonb_build_object('before', w.${sql(before)}, 'after', w.${sql(after)}))
        FROM w)`
      const ctes = [
        Compile.fresh(sql, table),
        ...(step === undefined ? [] : [
          sql`prior AS (SELECT kind, fingerprint, outcome FROM ${barrier}
            WHERE saga_id = ${step.sagaId} AND step_id = ${step.stepId})`
        ]),
        ...body.ctes,
        ...(step === undefined ? [] : [
          sql`claim AS (INSERT INTO ${barrier} (saga_id, step_id, kind, fingerprint, outcome)
            SELECT ${step.sagaId}, ${step.stepId}, 'action', ${step.fingerprint},
              ${Recorded.build(sql, step, table.name, table.primaryKey, changes, written)}
            WHERE ${go} AND ${body.complete})`
        ])
      ]
      const prior = step === undefined
        ? sql`NULL::jsonb`
        : sql`(SELECT jsonb_build_object('kind', kind, 'fingerprint', fingerprint, 'outcome', outcome) FROM prior)`
      const rows = yield* sql<Record<string, unknown>>`WITH ${sql.csv(ctes)}
        SELECT p.*, w.* FROM (SELECT (SELECT ok FROM fresh) AS ${sql(`${reserved}fresh`)}, ${prior} AS ${
        sql(`${reserved}prior`)
      }, ${body.matched ?? sql`NULL::int8`} AS ${sql(`${reserved}matched`)}) p LEFT JOIN w ON true`
      const first = rows[0] ?? {}
      if (first[`${reserved}fresh`] !== true) {
        return yield* Store.fail(engine, "FieldNotFound", `table ${table.name} changed since its catalog was read`, {
          entity: table.name
        })
      }
      const matched = first[`${reserved}matched`]
      return {
        prior: first[`${reserved}prior`],
        matched: matched === null || matched === undefined ? undefined : Number(matched),
        done: rows.filter((r) => r[before] != null || r[after] != null).map((r): Done => {
          const record: Record<string, unknown> = {}
          for (const [k, v] of Object.entries(r)) if (!k.startsWith(reserved)) record[k] = v
          return {
            record,
            row: { before: r[before] as Recorded.Image | null, after: r[after] as Recorded.Image | null }
          }
        })
      } satisfies Answer
    })

  const step = context.step

  /** Whether the statement found the step claimed before: it then wrote nothing, and the kernel answers the mark. */
  const claimedBefore = (answer: Answer) =>
    Effect.gen(function*() {
      if (answer.prior === null || answer.prior === undefined) return false
      unit.prior = Option.some(yield* toMark(answer.prior))
      return true
    })

  const written = (
    done: ReadonlyArray<Done>,
    changes: ReadonlyArray<Update.Change>
  ): Written => ({
    records: done.map((d) => d.record),
    actions: Recorded.actions(table.primaryKey, changes, done.map((d) => d.row))
  })

  /**
   * Statements in a transaction of their own (each without the barrier), then the barrier row with the recorded
   * write: a conflicting row (a concurrent attempt's, a fence) fails the insert and rolls the whole write back; the
   * kernel then reads the barrier.
   */
  const several = <E>(pieces: ReadonlyArray<Effect.Effect<ReadonlyArray<Done>, E>>) =>
    transaction(sql)(table.name, () =>
      Effect.gen(function*() {
        const done = (yield* Effect.forEach(pieces, (piece) => piece)).flat()
        if (step !== undefined) {
          const rows = done.map((d) => ({ ...d.row, changes: Recorded.changesJson(d.row.changes ?? []) }))
          yield* sql`INSERT INTO ${barrier} (saga_id, step_id, kind, fingerprint, outcome)
            VALUES (${step.sagaId}, ${step.stepId}, 'action', ${step.fingerprint},
              ${Recorded.build(sql, step, table.name, table.primaryKey, [], sql`${JSON.stringify(rows)}::jsonb`)})`
        }
        return written(done, [])
      }))

  const none = sql`NULL::jsonb`
  /**
   * Inserts records that name the same columns (the others take their defaults), as one `jsonb` parameter read as
   * the table's rows (`jsonb_populate_recordset`: each value goes through its column type's input, a JSON column
   * takes the JSON value), in the records' order.
   */
  const insertRun = (
    records: ReadonlyArray<Operation.Row>,
    go: Fragment,
    conflict: "fail" | "skip",
    extra: Fragment = sql``
  ) => {
    const columns = Object.keys(records[0]!).map((c) => sql`${sql(c)}`)
    return columns.length === 0
      ? sql`INSERT INTO ${t} AS t SELECT FROM generate_series(1, ${records.length}::int) WHERE ${go} ${extra}
        ${conflict === "skip" ? sql`ON CONFLICT DO NOTHING` : sql``}
        RETURNING t.*, ${none} AS ${sql(before)}, ${image} AS ${sql(after)}`
      : sql`INSERT INTO ${t} AS t (${sql.csv(columns)})
        SELECT ${sql.csv(columns.map((c) => sql`r.${c}`))}
        FROM jsonb_populate_recordset(NULL::${t}, ${JSON.stringify(records)}::jsonb) AS r WHERE ${go} ${extra}
        ${conflict === "skip" ? sql`ON CONFLICT DO NOTHING` : sql``}
        RETURNING t.*, ${none} AS ${sql(before)}, ${image} AS ${sql(after)}`
  }

  /** Consecutive records naming the same columns, in order: one insert each. */
  const runs = (records: ReadonlyArray<Operation.Row>) => {
    const out: Array<Array<Operation.Row>> = []
    let columns = ""
    for (const record of records) {
      const these = JSON.stringify(Object.keys(record))
      if (out.length === 0 || these !== columns) out.push([])
      out.at(-1)!.push(record)
      columns = these
    }
    return out
  }

  const insertBody = (records: ReadonlyArray<Operation.Row>) => (go: Fragment): Body => {
    const each = runs(records)
    if (each.length === 1) return { ctes: [sql`w AS (${insertRun(each[0]!, go, "fail")})`], complete: sql`TRUE` }
    const union = each.length === 0
      ? sql`SELECT t.*, ${none} AS ${sql(before)}, ${none} AS ${sql(after)} FROM ${t} AS t WHERE FALSE`
      : sql.join(" UNION ALL ", false)(each.map((_, i) => sql`SELECT * FROM ${sql(`w${i}`)}`))
    return {
      ctes: [...each.map((r, i) => sql`${sql(`w${i}`)} AS (${insertRun(r, go, "fail")})`), sql`w AS (${union})`],
      complete: sql`TRUE`
    }
  }

  /** Reads (and locks) the rows `where` matches, at most `readLimit`, with their key and image. */
  const locked = (where: Filter.Filter, go: Fragment, limit: number) =>
    sql`b AS (SELECT ${keys}, ${image} AS ${sql(before)} FROM ${t} AS t
      WHERE ${Compile.where(sql, table, where)} AND ${go} LIMIT ${limit} FOR UPDATE)`

  /** Whether the match is within the kernel's bounds (1 or 0 … the bound), so the write applies. */
  const inBounds = (allowNoMatch: boolean) =>
    sql`(SELECT count(*) FROM b) BETWEEN ${allowNoMatch ? 0 : 1} AND ${context.readLimit - 1}`

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

  const setAll = (row: Operation.Row): ReadonlyArray<Update.Change> =>
    Object.entries(row).map(([field, value]) => ({ op: "set" as const, field, value, path: field }))

  /**
   * One upsert record: the record its key finds is locked and updated, or the record inserted when none is found. A
   * record another writer inserted in between (the insert finds its key taken) is found by running again, once; the
   * second time a conflict is an error.
   */
  const upsertBody = (
    key: Filter.Filter,
    row: Operation.Row,
    conflict: "fail" | "skip"
  ) =>
  (go: Fragment): Body => ({
    ctes: [
      locked(key, go, 2),
      sql`u AS (UPDATE ${t} AS t SET ${Compile.assignments(sql, table, setAll(row))} FROM b
        WHERE ${byLocked} AND (SELECT count(*) FROM b) = 1
        RETURNING t.*, b.${sql(before)}, ${image} AS ${sql(after)})`,
      sql`i AS (${insertRun([row], go, conflict, sql`AND NOT EXISTS (SELECT 1 FROM b)`)})`,
      sql`w AS (SELECT * FROM u UNION ALL SELECT * FROM i)`
    ],
    matched: sql`(SELECT count(*) FROM b)`,
    complete: sql`(SELECT count(*) FROM w) = 1`
  })

  /** Runs one upsert record's statement; `None` when the step was claimed before. */
  const upsert = (
    op: Extract<Operation.Operation, { kind: "upsert" }>,
    row: Operation.Row,
    step: Step | undefined
  ) =>
    Effect.gen(function*() {
      const key = yield* upsertKey(op, row)
      for (const conflict of ["skip", "fail"] as const) {
        const answer = yield* statement(upsertBody(key, row, conflict), step, setAll(row))
        if (yield* claimedBefore(answer)) return Option.none<Done>()
        if (answer.matched! > 1) return yield* context.fail("Validation", "the upsert key matches more than one record")
        const done = answer.done[0]
        if (done !== undefined) return Option.some<Done>({ ...done, row: { ...done.row, changes: setAll(row) } })
      }
      return yield* context.fail("Unknown", "the upsert found no record and could not insert one")
    })

  const nothing: Written = { records: [], actions: [] }

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
        const answer = yield* statement(insertBody(operation.records), step, [])
        if (yield* claimedBefore(answer)) return nothing
        return written(answer.done, [])
      }
      case "update":
      case "delete": {
        const allow = operation.options.allowNoMatch === true
        const body = (go: Fragment): Body => ({
          ctes: [
            locked(operation.where, go, context.readLimit),
            operation.kind === "update"
              ? sql`w AS (UPDATE ${t} AS t SET ${Compile.assignments(sql, table, operation.changes)} FROM b
                  WHERE ${byLocked} AND ${inBounds(allow)}
                  RETURNING t.*, b.${sql(before)}, ${image} AS ${sql(after)})`
              : sql`w AS (DELETE FROM ${t} AS t USING b WHERE ${byLocked} AND ${inBounds(allow)}
                  RETURNING t.*, ${image} AS ${sql(before)}, ${none} AS ${sql(after)})`
          ],
          matched: sql`(SELECT count(*) FROM b)`,
          complete: inBounds(allow)
        })
        const changes = operation.kind === "update" ? operation.changes : []
        const answer = yield* statement(body, step, changes)
        if (yield* claimedBefore(answer)) return nothing
        yield* context.matched(answer.matched!)
        return written(answer.done, changes)
      }
      case "upsert": {
        if (operation.records.length === 1) {
          const done = yield* upsert(operation, operation.records[0]!, step)
          return Option.match(done, { onNone: () => nothing, onSome: (d) => written([d], d.row.changes!) })
        }
        return yield* several(
          operation.records.map((r) => Effect.map(upsert(operation, r, undefined), (d) => Option.toArray(d)))
        )
      }
    }
  }).pipe(Effect.mapError(fromSql(operation.entity)))
}
