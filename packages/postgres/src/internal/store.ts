import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import {
  Capabilities,
  Filter,
  Identifier,
  Operation,
  type Outcome,
  RecordedOutcome,
  type StepContext,
  type Store,
  StoreError,
  Undo
} from "@polysaga/store"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Catalog from "./catalog.js"
import * as Compile from "./compile.js"
import { fromSql } from "./errors.js"

export interface Options {
  readonly schema: string
  readonly maxRecordsPerOperation: number
}

type Image = Record<string, string | null>

const engine = "postgres"

const capabilitiesOf = (max: number): Capabilities.Capabilities =>
  Capabilities.full({ sourceTypes: ["database"], maxRecordsPerOperation: max, atomicSteps: true })

/** The table where applied undo ids are recorded, in the same transaction as the undo. */
export const undoLogTable = "polysaga_undo_log"

/** The step barrier: one row per (saga, step), written in the step's own transaction. */
export const barrierTable = "polysaga_barrier"

interface BarrierRow {
  readonly kind: "action" | "fence"
  readonly outcome: unknown
  readonly fingerprint: string | null
}

export const make = (sql: SqlClient.SqlClient, options: Options): Effect.Effect<Store, StoreError> =>
  Effect.gen(function*() {
    yield* Identifier.check(options.schema, "schema name", "schema")
    const capabilities = capabilitiesOf(options.maxRecordsPerOperation)
    const max = options.maxRecordsPerOperation
    // Several stores (or processes) may start on a fresh database at once, and concurrent `CREATE TABLE IF NOT
    // EXISTS` can still collide in PostgreSQL's catalog: take a transaction-level advisory lock around the DDL.
    yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SELECT pg_advisory_xact_lock(hashtext('polysaga/postgres/bookkeeping'))`
      yield* sql`CREATE TABLE IF NOT EXISTS ${sql(options.schema)}.${sql(barrierTable)} (
        saga_id text NOT NULL,
        step_id text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('action', 'fence')),
        outcome jsonb,
        fingerprint text,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (saga_id, step_id)
      )`
      yield* sql`ALTER TABLE ${sql(options.schema)}.${sql(barrierTable)} ADD COLUMN IF NOT EXISTS fingerprint text`
      yield* sql`CREATE TABLE IF NOT EXISTS ${sql(options.schema)}.${sql(undoLogTable)} (
        undo_id text PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`
    })).pipe(Effect.mapError(fromSql(undefined)))

    const tableOf = (entity: string) => Catalog.table(sql, options.schema, entity)

    /**
     * `@effect/sql` keeps the open transaction in the fiber's context under one tag for every client, so a step
     * run inside a caller's transaction (even one of another pool) would join it. Each step and each undo is a
     * transaction of its own: hide the caller's.
     */
    const isolated = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E | StoreError> =>
      Effect.mapInputContext(
        effect,
        (context: Context.Context<never>) =>
          Context.omit(SqlClient.TransactionConnection)(context) as Context.Context<never>
      ).pipe(
        // `withTransaction` dies when its ROLLBACK fails on a lost connection: that is still a lost connection
        Effect.catchSomeDefect((defect) =>
          defect instanceof SqlError ? Option.some(Effect.fail(fromSql(undefined)(defect))) : Option.none()
        )
      )

    const validate = Effect.fn("PostgresStore.validate")(function*(operation: Operation.Operation, path = "") {
      yield* Capabilities.check(engine, capabilities, operation, path)
      const table = yield* Effect.mapError(
        tableOf(operation.entity),
        (e) => {
          const at = path === "" ? "from.entity" : `${path}.from.entity`
          return new StoreError({
            reason: e.reason,
            engine,
            entity: operation.entity,
            path: at,
            message: `${at}: ${e.message}`,
            cause: e.cause
          })
        }
      )
      yield* Catalog.checkFields(table, operation, path)
      return table
    })

    const fail = (
      table: Catalog.Table,
      reason: "NoMatch" | "TooManyRecords" | "Conflict" | "Validation",
      message: string
    ) => new StoreError({ reason, engine, entity: table.name, message: `postgres ${table.name}: ${message}` })

    const t = (table: Catalog.Table) => Compile.qualified(sql, table)

    /** Locks the rows matching `where` (at most max + 1 are read, to detect the bound). */
    const lock = (table: Catalog.Table, where: Filter.Filter, allowNoMatch: boolean) =>
      Effect.gen(function*() {
        const rows = yield* sql<Record<string, unknown>>`
          SELECT *, ${Compile.imageColumns(sql, table)} FROM ${t(table)}
          WHERE ${Compile.where(sql, table, where)} LIMIT ${max + 1} FOR UPDATE`
        if (rows.length > max) {
          return yield* fail(table, "TooManyRecords", `the filter matches more than ${max} records`)
        }
        if (rows.length === 0 && !allowNoMatch) return yield* fail(table, "NoMatch", "no record matches the filter")
        return rows.map((row) => Compile.split(table, row))
      })

    const insertRow = (table: Catalog.Table, record: Operation.Row) =>
      Effect.gen(function*() {
        const columns = Object.keys(record)
        const [row] = yield* sql<Record<string, unknown>>`
          INSERT INTO ${t(table)} (${sql.csv(columns.map((c) => sql`${sql(c)}`))})
          VALUES (${sql.csv(columns.map((c) => sql`${Compile.param(table.columns.get(c), record[c])}`))})
          RETURNING *, ${Compile.imageColumns(sql, table)}`
        return Compile.split(table, row!)
      })

    const update = (table: Catalog.Table, op: Extract<Operation.Operation, { kind: "update" }>) =>
      Effect.gen(function*() {
        const before = yield* lock(table, op.where, op.options.allowNoMatch === true)
        if (before.length === 0) return { records: [], affected: 0, actions: [] }
        const keys = before.map((b) => Compile.keyOf(table, b.image))
        const rows = yield* sql<Record<string, unknown>>`
          UPDATE ${t(table)} SET ${Compile.assignments(sql, table, op.changes)}
          WHERE ${Compile.byKeys(sql, table, keys)}
          RETURNING *, ${Compile.imageColumns(sql, table)}`
        const after = rows.map((row) => Compile.split(table, row))
        const beforeByKey = new Map(before.map((b) => [JSON.stringify(Compile.keyOf(table, b.image)), b.image]))
        const actions = after.map((a) => {
          const key = Compile.keyOf(table, a.image)
          return Undo.revert(key, op.changes, beforeByKey.get(JSON.stringify(key))!, a.image)
        })
        return { records: after.map((a) => a.record), affected: after.length, actions }
      })

    const remove = (table: Catalog.Table, op: Extract<Operation.Operation, { kind: "delete" }>) =>
      Effect.gen(function*() {
        const before = yield* lock(table, op.where, op.options.allowNoMatch === true)
        if (before.length === 0) return { records: [], affected: 0, actions: [] }
        yield* sql`DELETE FROM ${t(table)} WHERE ${
          Compile.byKeys(sql, table, before.map((b) => Compile.keyOf(table, b.image)))
        }`
        return {
          records: before.map((b) => b.record),
          affected: before.length,
          actions: before.map((b): Undo.UndoAction => ({ _tag: "Reinsert", image: b.image }))
        }
      })

    /** The filter an upsert record is identified by: `where`, `options.key`, the primary key or a unique key. */
    const upsertKey = (
      table: Catalog.Table,
      op: Extract<Operation.Operation, { kind: "upsert" }>,
      row: Operation.Row
    ) =>
      Effect.gen(function*() {
        if (op.where !== undefined) return op.where
        const fields = op.options.key ??
          [table.primaryKey, ...table.uniqueKeys].find((k) => k.length > 0 && k.every((c) => row[c] !== undefined))
        if (fields === undefined || fields.some((f) => row[f] === undefined)) {
          return yield* fail(
            table,
            "Validation",
            "an upsert needs where, options.key, or the values of the primary key or a unique key in data"
          )
        }
        return Filter.byKey(Object.fromEntries(fields.map((f) => [f, row[f]])))
      })

    const upsertRow = (
      table: Catalog.Table,
      op: Extract<Operation.Operation, { kind: "upsert" }>,
      row: Operation.Row
    ): Effect.Effect<{ record: Record<string, unknown>; action: Undo.UndoAction }, StoreError | unknown> =>
      Effect.gen(function*() {
        const key = yield* upsertKey(table, op, row)
        const existing = yield* lock(table, key, true)
        if (existing.length > 1) return yield* fail(table, "Validation", "the upsert key matches more than one record")
        if (existing.length === 1) {
          const changes = Object.entries(row).map(([field, value]) => ({
            op: "set" as const,
            field,
            value,
            path: field
          }))
          const before = existing[0]!
          const pk = Compile.keyOf(table, before.image)
          const [updated] = yield* sql<Record<string, unknown>>`
            UPDATE ${t(table)} SET ${Compile.assignments(sql, table, changes)}
            WHERE ${Compile.byKeys(sql, table, [pk])}
            RETURNING *, ${Compile.imageColumns(sql, table)}`
          const after = Compile.split(table, updated!)
          return { record: after.record, action: Undo.revert(pk, changes, before.image, after.image) }
        }
        const columns = Object.keys(row)
        const inserted = yield* sql<Record<string, unknown>>`
          INSERT INTO ${t(table)} (${sql.csv(columns.map((c) => sql`${sql(c)}`))})
          VALUES (${sql.csv(columns.map((c) => sql`${Compile.param(table.columns.get(c), row[c])}`))})
          ON CONFLICT DO NOTHING
          RETURNING *, ${Compile.imageColumns(sql, table)}`
        if (inserted.length === 0) return yield* upsertRow(table, { ...op, where: key }, row)
        const created = Compile.split(table, inserted[0]!)
        return { record: created.record, action: { _tag: "DeleteCreated", key: Compile.keyOf(table, created.image) } }
      })

    const run = (table: Catalog.Table, op: Operation.Operation) =>
      Effect.gen(function*() {
        switch (op.kind) {
          case "select": {
            const limit = Math.min(op.options.limit ?? max, max)
            const rows = yield* sql<Record<string, unknown>>`
              SELECT * FROM ${t(table)} WHERE ${Compile.where(sql, table, op.where)} LIMIT ${limit}`
            return { records: rows, affected: rows.length, actions: [] }
          }
          case "insert": {
            if (op.records.length > 0 && table.primaryKey.length === 0) {
              return yield* fail(table, "Validation", "the table has no primary key, so an insert could not be undone")
            }
            const rows = yield* Effect.forEach(op.records, (r) => insertRow(table, r))
            return {
              records: rows.map((r) => r.record),
              affected: rows.length,
              actions: rows.map((r): Undo.UndoAction => ({ _tag: "DeleteCreated", key: Compile.keyOf(table, r.image) }))
            }
          }
          case "update":
            return yield* update(table, op)
          case "delete":
            return yield* remove(table, op)
          case "upsert": {
            const rows = yield* Effect.forEach(op.records, (r) => upsertRow(table, op, r))
            return { records: rows.map((r) => r.record), affected: rows.length, actions: rows.map((r) => r.action) }
          }
        }
      })

    const barrier = sql`${sql(options.schema)}.${sql(barrierTable)}`

    /** The barrier row of a step, after claiming it for `kind` when there was none. */
    const claim = (context: StepContext, kind: "action" | "fence", fingerprint: string | null) =>
      Effect.gen(function*() {
        const claimed = yield* sql`
          INSERT INTO ${barrier} (saga_id, step_id, kind, fingerprint)
          VALUES (${context.sagaId}, ${context.stepId}, ${kind}, ${fingerprint})
          ON CONFLICT DO NOTHING RETURNING kind`
        if (claimed.length > 0) return Option.none<BarrierRow>()
        const [row] = yield* sql<BarrierRow>`
          SELECT kind, outcome, fingerprint FROM ${barrier}
          WHERE saga_id = ${context.sagaId} AND step_id = ${context.stepId}`
        return Option.fromNullable(row)
      })

    const decodeOutcome = (row: BarrierRow) =>
      Effect.map(Schema.decodeUnknown(RecordedOutcome)(row.outcome), (o): Outcome => o)

    const execute = Effect.fn("PostgresStore.execute")(
      function*(operation: Operation.Operation, context?: StepContext) {
        const table = yield* validate(operation)
        const outcome = yield* isolated(sql.withTransaction(Effect.gen(function*() {
          if (context !== undefined && operation.kind !== "select") {
            const fingerprint = Operation.fingerprint(operation)
            const earlier = yield* claim(context, "action", fingerprint)
            if (Option.isSome(earlier)) {
              if (earlier.value.kind === "fence") {
                return yield* fail(
                  table,
                  "Conflict",
                  `step ${context.stepId} of saga ${context.sagaId} was compensated before it arrived; it is refused`
                )
              }
              if (earlier.value.fingerprint !== null && earlier.value.fingerprint !== fingerprint) {
                return yield* fail(
                  table,
                  "Conflict",
                  `step ${context.stepId} of saga ${context.sagaId} already ran another operation (a saga id used twice?)`
                )
              }
              return yield* decodeOutcome(earlier.value)
            }
          }
          const result = yield* run(table, operation)
          const outcome: Outcome = {
            records: result.records,
            affected: result.affected,
            undo: Undo.make(engine, operation.entity, result.actions)
          }
          if (context !== undefined && operation.kind !== "select") {
            yield* sql`UPDATE ${barrier} SET outcome = ${JSON.stringify(Schema.encodeSync(RecordedOutcome)(outcome))}
            WHERE saga_id = ${context.sagaId} AND step_id = ${context.stepId}`
          }
          return outcome
        }))).pipe(Effect.mapError(fromSql(operation.entity)))
        yield* Effect.annotateCurrentSpan({
          entity: operation.entity,
          kind: operation.kind,
          affected: outcome.affected
        })
        return outcome
      }
    )

    const resolve = Effect.fn("PostgresStore.resolve")(function*(context: StepContext) {
      return yield* isolated(sql.withTransaction(Effect.gen(function*() {
        const earlier = yield* claim(context, "fence", null)
        if (Option.isNone(earlier) || earlier.value.kind === "fence") return Option.none<Outcome>()
        return Option.some(yield* decodeOutcome(earlier.value))
      }))).pipe(Effect.mapError(fromSql(undefined)))
    })

    const same = (a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>) =>
      Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => a[k] === b[k])

    const applyAction = (table: Catalog.Table, action: Undo.UndoAction) =>
      Effect.gen(function*() {
        switch (action._tag) {
          case "DeleteCreated":
            yield* sql`DELETE FROM ${t(table)} WHERE ${Compile.byKeys(sql, table, [action.key])}`
            return
          case "Reinsert": {
            const current = yield* lock(table, Filter.byKey(Compile.keyOf(table, action.image as Image)), true)
            if (current.length > 0) {
              if (same(current[0]!.image, action.image)) return
              return yield* fail(table, "Conflict", `a different record now holds key ${JSON.stringify(action.image)}`)
            }
            const columns = Object.keys(action.image).filter((c) => table.columns.has(c))
            yield* sql`INSERT INTO ${t(table)} (${sql.csv(columns.map((c) => sql`${sql(c)}`))})
              VALUES (${sql.csv(columns.map((c) => sql`${action.image[c] as string | null}`))})`
            return
          }
          case "Revert": {
            const [current] = yield* lock(table, Filter.byKey(action.key), true)
            if (current === undefined) {
              return yield* fail(table, "Conflict", `record ${JSON.stringify(action.key)} no longer exists`)
            }
            const fields = Object.entries(action.restore)
            const isAfter = fields.every(([f, r]) => current.image[f] === r.after)
            const isBefore = fields.every(([f, r]) => current.image[f] === r.before)
            if (!isAfter && !isBefore) {
              const changed = fields.filter(([f, r]) => current.image[f] !== r.after).map(([f]) => f)
              return yield* fail(
                table,
                "Conflict",
                `record ${JSON.stringify(action.key)} was changed by another writer (${changed.join(", ")})`
              )
            }
            const sets = [
              ...(isAfter ? fields.map(([f, r]) => sql`${sql(f)} = ${r.before as string | null}`) : []),
              ...Compile.inverse(sql, action.inverse)
            ]
            if (sets.length === 0) return
            yield* sql`UPDATE ${t(table)} AS t SET ${sql.csv(sets)} WHERE ${Compile.byKeys(sql, table, [action.key])}`
          }
        }
      })

    const undo = Effect.fn("PostgresStore.undo")(function*(record: Undo.UndoRecord) {
      if (record.actions.length === 0) return
      const table = yield* tableOf(record.entity)
      yield* isolated(sql.withTransaction(Effect.gen(function*() {
        const fresh = yield* sql`
          INSERT INTO ${sql(options.schema)}.${sql(undoLogTable)} (undo_id) VALUES (${record.id})
          ON CONFLICT DO NOTHING RETURNING undo_id`
        if (fresh.length === 0) return
        for (const action of [...record.actions].reverse()) yield* applyAction(table, action)
      }))).pipe(Effect.mapError(fromSql(record.entity)))
    })

    const ping = sql`SELECT 1`.pipe(Effect.asVoid, Effect.mapError(fromSql(undefined)))

    const prune = Effect.fn("PostgresStore.prune")(function*(olderThan: Duration.DurationInput) {
      const ms = Duration.toMillis(Duration.decode(olderThan))
      const cutoff = sql`now() - ${ms}::double precision * interval '1 millisecond'`
      const steps = yield* sql`DELETE FROM ${barrier} WHERE created_at < ${cutoff} RETURNING 1`
      const undos = yield* sql`
        DELETE FROM ${sql(options.schema)}.${sql(undoLogTable)} WHERE applied_at < ${cutoff} RETURNING 1`
      return steps.length + undos.length
    }, (effect) => Effect.mapError(isolated(effect), fromSql(undefined)))

    return {
      engine,
      capabilities,
      validate: (op, path) => Effect.asVoid(validate(op, path)),
      execute,
      undo,
      ping,
      resolve,
      prune
    } satisfies Store
  })
