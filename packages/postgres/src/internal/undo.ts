/**
 * Applying an undo record as **one statement**: data-modifying CTEs lock and read the rows the actions touch (`SELECT
 * … FOR UPDATE`), check each against what the step wrote, insert the undo id into `polysaga_undo_log` only when every
 * check holds, and write only when that insert did (the id was not there yet) — atomically, in one round trip and
 * PostgreSQL's own implicit transaction. The row in the undo log makes an undo idempotent: applied twice (or once
 * more after recovery) it finds its id and writes nothing. A restore applies only over this step's after-image (else
 * `Conflict`, nothing written); a re-insert only where no other record holds the key.
 *
 * A record whose actions touch one key twice (an upsert of several records naming the same key), or that has many
 * checked actions, is split into statements of distinct keys, run in one transaction of their own, the first one
 * claiming the undo id.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { Fragment } from "@effect/sql/Statement"
import { type ErrorOptions, Store, type StoreError, type StoreErrorReason, Undo } from "@polysaga/store"
import * as Effect from "effect/Effect"
import { undoLogTable } from "./barrier.js"
import type * as Catalog from "./catalog.js"
import * as Compile from "./compile.js"
import { engine, fromSql, isolated, transaction } from "./connection.js"
import { keyOf } from "./recorded.js"

type Image = Record<string, string | null>

type Checked = Exclude<Undo.UndoAction, { readonly _tag: "DeleteCreated" }>

/** At most this many checked actions (each locks a row and reads its image) in one statement. */
const perStatement = 32

/** The key an action touches. */
const keyOfAction = (table: Catalog.Table, action: Undo.UndoAction): Undo.Image =>
  action._tag === "Reinsert" ? keyOf(table.primaryKey, action.image as Image) : action.key

/**
 * The actions in the order they apply (the record's reverse order), cut into runs of distinct keys, each with at
 * most `perStatement` checked actions: within one statement a row cannot be written twice.
 */
const runs = (table: Catalog.Table, actions: ReadonlyArray<Undo.UndoAction>) => {
  const out: Array<Array<Undo.UndoAction>> = []
  let keys = new Set<string>()
  let checked = 0
  for (const action of [...actions].reverse()) {
    const key = Undo.canonical(keyOfAction(table, action))
    const counts = action._tag !== "DeleteCreated"
    if (out.length === 0 || keys.has(key) || (counts && checked === perStatement)) {
      out.push([])
      keys = new Set()
      checked = 0
    }
    out.at(-1)!.push(action)
    keys.add(key)
    if (counts) checked++
  }
  return out
}

/** What a checked action found: whether it may apply, and the row's image (none when there is no row). */
interface Check {
  readonly ok: boolean
  readonly current: Image | null
}

/** A statement's answer. */
interface Answer {
  /** The table still has the kept catalog's columns. */
  readonly fresh: boolean
  readonly checks: ReadonlyArray<Check>
  /** With a claim: the undo id was inserted by this statement. */
  readonly claimed: boolean
  /** With a claim: the undo id was in the log when the statement started (applied before). */
  readonly seen: boolean
}

/** The restores of a `Revert`, each field's `before` (`null` for a field absent before: a column is never absent). */
const restores = (action: Extract<Undo.UndoAction, { _tag: "Revert" }>) =>
  Object.entries(action.restore).map(([field, r]) => ({
    field,
    before: (r.before ?? null) as string | null,
    after: r.after as string | null
  }))

/**
 * One statement for actions on distinct keys. `claim`: the undo id, inserted into the undo log only when every check
 * holds, and every write gated on that insert; without it (a later statement of a transaction that claimed the id
 * already) the writes are gated on the checks alone.
 */
const statement = (
  sql: SqlClient.SqlClient,
  schema: string,
  table: Catalog.Table,
  actions: ReadonlyArray<Undo.UndoAction>,
  claim: string | undefined
): Effect.Effect<Answer, unknown> => {
  const t = Compile.qualified(sql, table)
  const log = sql`${sql(schema)}.${sql(undoLogTable)}`
  const fresh = sql`(SELECT ok FROM fresh)`
  const checked = actions.filter((a): a is Checked => a._tag !== "DeleteCreated")
  const created = actions.flatMap((a) => a._tag === "DeleteCreated" ? [a.key] : [])
  const name = (prefix: string, i: number) => sql(`${prefix}${i}`)
  const row = (i: number) => sql`(SELECT img FROM ${name("b", i)})`

  // each checked action: its row locked and read (`b<i>`), its check (`c<i>`: ok, and for a revert whether the row
  // still holds the step's after-image, so the absolute changes are restored)
  const reads = checked.flatMap((action, i): Array<Fragment> => {
    const lock = sql`${name("b", i)} AS (SELECT ${Compile.image(sql, table, "t")} AS img FROM ${t} AS t
      WHERE ${Compile.byKeys(sql, table, [keyOfAction(table, action)])} AND ${fresh} FOR UPDATE)`
    if (action._tag === "Reinsert") {
      // no row holds the key, or the very record (an earlier undo put it back)
      return [
        lock,
        sql`${name("c", i)} AS (SELECT ${row(i)} IS NULL OR ${row(i)} = ${JSON.stringify(action.image)}::jsonb AS ok,
          FALSE AS restore, ${row(i)} AS current)`
      ]
    }
    const fields = restores(action)
    const holds = (side: "before" | "after") =>
      sql.join(" AND ", true, "TRUE")(
        fields.map((f) => sql`(${row(i)} ->> ${f.field}::text) IS NOT DISTINCT FROM ${f[side]}::text`)
      )
    // the row holds the step's after-image (restore it) or its before-image already (only the inverses apply)
    return [
      lock,
      sql`${name("c", i)} AS (SELECT ${row(i)} IS NOT NULL AND (${holds("after")} OR ${holds("before")}) AS ok,
        ${holds("after")} AS restore, ${row(i)} AS current)`
    ]
  })
  const checks = sql.join(" AND ", false)([fresh, ...checked.map((_, i) => sql`(SELECT ok FROM ${name("c", i)})`)])
  const claimed = claim === undefined ? [] : [
    sql`logged AS (INSERT INTO ${log} (undo_id) SELECT ${claim} WHERE ${checks}
      ON CONFLICT DO NOTHING RETURNING undo_id)`
  ]
  const go = claim === undefined ? checks : sql`EXISTS (SELECT 1 FROM logged)`

  const writes = checked.flatMap((action, i): Array<Fragment> => {
    const w = name("w", i)
    if (action._tag === "Reinsert") {
      const columns = Object.keys(action.image).filter((c) => table.columns.has(c))
      return [
        sql`${w} AS (INSERT INTO ${t} (${sql.csv(columns.map((c) => sql`${sql(c)}`))})
          SELECT ${sql.csv(columns.map((c) => sql`${action.image[c] as string | null}`))}
          WHERE ${go} AND ${row(i)} IS NULL RETURNING 1)`
      ]
    }
    const restore = sql`(SELECT restore FROM ${name("c", i)})`
    const sets = [
      ...restores(action).map((f) =>
        sql`${sql(f.field)} = CASE WHEN ${restore} THEN ${f.before} ELSE t.${sql(f.field)} END`
      ),
      ...Compile.inverse(sql, action.inverse)
    ]
    return sets.length === 0 ? [] : [
      sql`${w} AS (UPDATE ${t} AS t SET ${sql.csv(sets)}
        WHERE ${Compile.byKeys(sql, table, [action.key])} AND ${go} RETURNING 1)`
    ]
  })
  const deletes = created.length === 0
    ? []
    : [sql`d AS (DELETE FROM ${t} WHERE ${Compile.byKeys(sql, table, created)} AND ${go} RETURNING 1)`]

  const answer = sql`SELECT ${fresh} AS fresh,
    jsonb_build_array(${
    sql.csv(checked.map((_, i) => sql`(SELECT jsonb_build_object('ok', ok, 'current', current) FROM ${name("c", i)})`))
  }) AS checks,
    ${claim === undefined ? sql`FALSE` : sql`EXISTS (SELECT 1 FROM logged)`} AS claimed,
    ${claim === undefined ? sql`FALSE` : sql`EXISTS (SELECT 1 FROM ${log} WHERE undo_id = ${claim})`} AS seen`
  return Effect.map(
    sql<Answer>`WITH ${sql.csv([Compile.fresh(sql, table), ...reads, ...claimed, ...writes, ...deletes])} ${answer}`,
    (rows) => rows[0]!
  )
}

/** Why a checked action may not apply, for a person. */
const conflict = (action: Checked, current: Image | null) => {
  if (action._tag === "Reinsert") return `a different record now holds key ${JSON.stringify(action.image)}`
  if (current === null) return `record ${JSON.stringify(action.key)} no longer exists`
  const changed = restores(action).filter((f) => current[f.field] !== f.after).map((f) => f.field)
  return `record ${JSON.stringify(action.key)} was changed by another writer (${changed.join(", ")})`
}

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
    const seen = sql`SELECT 1 FROM ${sql(schema)}.${sql(undoLogTable)} WHERE undo_id = ${record.id}`

    /** Runs one statement; whether the undo had been applied before (then the statement wrote nothing). */
    const run = (actions: ReadonlyArray<Undo.UndoAction>, claim: boolean) =>
      Effect.gen(function*() {
        const answer = yield* statement(sql, schema, table, actions, claim ? record.id : undefined)
        if (answer.fresh !== true) {
          return yield* Store.fail(engine, "FieldNotFound", `table ${table.name} changed since its catalog was read`, {
            entity: table.name
          })
        }
        if (answer.claimed || answer.seen) return answer.seen
        const failed = answer.checks.findIndex((c) => !c.ok)
        // every check held but the id was taken: an undo of the same id committed while this one waited for it
        if (failed < 0) return claim
        // a row this undo waited for was written by an undo of the same id that committed after this statement
        // began (its snapshot did not show the id): read the log again before calling it a conflict
        if (claim && (yield* seen).length > 0) return true
        const checked = actions.filter((a): a is Checked => a._tag !== "DeleteCreated")
        return yield* fail("Conflict", conflict(checked[failed]!, answer.checks[failed]!.current))
      })

    const each = runs(table, record.actions)
    if (each.length <= 1) return yield* isolated(run(each[0] ?? [], true)).pipe(Effect.asVoid)
    yield* transaction(sql)(record.entity, () =>
      Effect.gen(function*() {
        if (yield* run(each[0]!, true)) return
        for (const actions of each.slice(1)) yield* run(actions, false)
      }))
  }).pipe(Effect.mapError(fromSql(record.entity)))
