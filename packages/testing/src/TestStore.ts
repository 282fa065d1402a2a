/**
 * An in-memory store built on `Store.make`: the worked example of an adapter (its primitives are the whole of
 * it) and a store for unit tests of your own sagas. It passes the conformance suite, barrier included. It never
 * stands in for a real store in an adapter or integration test.
 *
 * Records are JSON objects keyed by their `id` field (an insert without one gets a random UUID). Steps and undos
 * run one at a time; each one's changes are logged and rolled back when it fails: a failed step leaves nothing
 * behind. A step costs what it touches, not the size of the store.
 *
 * @since 0.1.0
 */
import {
  Adapter,
  Capabilities,
  Filter,
  type Mark,
  Operation,
  type Outcome,
  type StepContext,
  Store,
  type Store as StoreService,
  type StoreError,
  Undo,
  Update,
  type WriteContext,
  type Written
} from "@polysaga/store"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

type Json = Undo.Json
type Row = Record<string, Json>

interface State {
  readonly entities: Map<string, Map<string, Row>>
  /** Barrier marks by `[sagaId, stepId]`. */
  readonly marks: Map<string, Mark & { readonly at: number }>
  /** Applied undo ids, when. */
  readonly undone: Map<string, number>
}

/** The open unit's rollback: the inverse of each change, in the order they were made. */
interface Changes {
  current: Array<() => void> | undefined
}

/** A map whose changes are logged while a unit is open, so that a unit that fails is rolled back. */
class Logged<K, V> extends Map<K, V> {
  constructor(private readonly changes: Changes) {
    super()
  }
  override set(key: K, value: V): this {
    const log = this.changes.current
    if (log !== undefined) {
      if (super.has(key)) {
        const before = super.get(key)!
        log.push(() => void super.set(key, before))
      } else {
        log.push(() => void super.delete(key))
      }
    }
    return super.set(key, value)
  }
  override delete(key: K): boolean {
    if (!super.has(key)) return false
    const before = super.get(key)!
    this.changes.current?.push(() => void super.set(key, before))
    return super.delete(key)
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TestStore extends StoreService {
  /** Makes `entity` exist and be empty. */
  readonly reset: (entity: string) => Effect.Effect<void>
  /** Every record of `entity`, ordered by `id`. */
  readonly snapshot: (entity: string) => Effect.Effect<ReadonlyArray<Readonly<Record<string, Json>>>>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TestStoreOptions {
  /** The most records one operation may write, match or select (default 100). */
  readonly maxRecordsPerOperation?: number | undefined
  /** The source types it serves (default all three). */
  readonly sourceTypes?: ReadonlyArray<Operation.SourceType> | undefined
}

const engine = "test"

const allTypes = Operation.SourceType.literals

/**
 * A new, empty in-memory store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: TestStoreOptions = {}): Effect.Effect<TestStore> =>
  Effect.gen(function*() {
    const changes: Changes = { current: undefined }
    const state: State = { entities: new Logged(changes), marks: new Logged(changes), undone: new Logged(changes) }
    const lock = yield* Effect.makeSemaphore(1)

    /** One local unit: `use` changes the state in place, its changes are rolled back when it fails. */
    const transaction = <A>(_entity: string | undefined, use: (unit: State) => Effect.Effect<A, StoreError>) =>
      lock.withPermits(1)(Effect.suspend(() => {
        const log: Array<() => void> = []
        changes.current = log
        return use(state).pipe(Effect.onExit((exit) =>
          Effect.sync(() => {
            changes.current = undefined
            if (Exit.isFailure(exit)) { for (let i = log.length - 1; i >= 0; i--) log[i]!() }
          })
        ))
      }))

    const rowsOf = (unit: State, entity: string) => {
      const found = unit.entities.get(entity)
      if (found !== undefined) return found
      const rows: Map<string, Row> = new Logged(changes)
      unit.entities.set(entity, rows)
      return rows
    }
    const rowOf = (record: Readonly<Record<string, unknown>>): Row => Undo.toJson(record) as Row
    const matching = (unit: State, entity: string, where: Filter.Filter) =>
      [...rowsOf(unit, entity).values()].filter((row) => Filter.matches(where, row))
    const same = (a: Json | undefined, b: Json | undefined) => Undo.canonical(a) === Undo.canonical(b)

    const write = (
      unit: State,
      _prepared: void,
      operation: Operation.Operation,
      context: WriteContext
    ): Effect.Effect<Written, StoreError> =>
      Effect.gen(function*() {
        const rows = rowsOf(unit, operation.entity)
        const insert = (record: Readonly<Record<string, unknown>>, path: string) => {
          const row = rowOf({ id: crypto.randomUUID(), ...record })
          if (typeof row.id !== "string" && typeof row.id !== "number") {
            return Effect.fail(context.fail("Validation", "id must be a string or a number", { path: `${path}.id` }))
          }
          if (rows.has(String(row.id))) {
            return Effect.fail(
              context.fail("Constraint", `a record with id ${JSON.stringify(row.id)} exists`, { path })
            )
          }
          rows.set(String(row.id), row)
          return Effect.succeed(row)
        }
        const update = (row: Row, changes: ReadonlyArray<Update.Change>) => {
          const after = rowOf(Update.apply(changes, row))
          rows.set(String(row.id), after)
          return { record: after, action: Undo.revert({ id: row.id! }, changes, row, after) }
        }
        switch (operation.kind) {
          case "select": {
            // the reference semantics of the clauses; `fields` always keeps the key
            const { fields, ...clauses } = operation.clauses ?? {}
            const found = Operation.select(
              { ...operation, clauses, options: { ...operation.options, limit: context.readLimit } },
              matching(unit, operation.entity, operation.where)
            )
            const records = fields === undefined
              ? found
              : found.map((r) => Object.fromEntries(["id", ...fields].filter((f) => f in r).map((f) => [f, r[f]])))
            return { records, actions: [] }
          }
          case "insert": {
            const inserted = yield* Effect.forEach(operation.records, (r, i) => insert(r, `data[${i}]`))
            return {
              records: inserted,
              actions: inserted.map((row): Undo.UndoAction => ({ _tag: "DeleteCreated", key: { id: row.id! } }))
            }
          }
          case "update": {
            const found = matching(unit, operation.entity, operation.where)
            yield* context.matched(found.length)
            const updated = found.map((row) => update(row, operation.changes))
            return { records: updated.map((u) => u.record), actions: updated.map((u) => u.action) }
          }
          case "delete": {
            const found = matching(unit, operation.entity, operation.where)
            yield* context.matched(found.length)
            for (const row of found) rows.delete(String(row.id))
            return { records: found, actions: found.map((image): Undo.UndoAction => ({ _tag: "Reinsert", image })) }
          }
          case "upsert": {
            const written = yield* Effect.forEach(operation.records, (record, i) =>
              Effect.gen(function*() {
                const fields = operation.options.key ?? (record.id === undefined ? undefined : ["id"])
                const where = operation.where ??
                  (fields === undefined
                    ? undefined
                    : Filter.byKey(Object.fromEntries(fields.map((f) => [f, record[f]]))))
                if (where === undefined) {
                  return yield* context.fail("Validation", "an upsert needs where, options.key or an id in data", {
                    path: "data"
                  })
                }
                const found = matching(unit, operation.entity, where)
                if (found.length > 1) {
                  return yield* context.fail("Validation", "the upsert key matches more than one record", {
                    path: "where"
                  })
                }
                if (found.length === 1) {
                  return update(
                    found[0]!,
                    Object.entries(record).map(([field, value]) => ({ op: "set", field, value, path: field }))
                  )
                }
                const row = yield* insert(record, `data[${i}]`)
                return { record: row, action: { _tag: "DeleteCreated", key: { id: row.id! } } as Undo.UndoAction }
              }))
            return { records: written.map((w) => w.record), actions: written.map((w) => w.action) }
          }
        }
      })

    const revert = (
      row: Row,
      action: Extract<Undo.UndoAction, { _tag: "Revert" }>,
      fail: (message: string) => StoreError
    ) =>
      Effect.gen(function*() {
        const next: Record<string, Json> = { ...row }
        for (const [field, { after, before }] of Object.entries(action.restore)) {
          const now = row[field] ?? null
          if (same(now, after)) {
            if (before === undefined) delete next[field]
            else next[field] = before
          } else if (!(before === undefined ? !(field in row) : same(now, before))) {
            return yield* fail(`${field} was changed by another writer`)
          }
        }
        for (const inverse of action.inverse) {
          const now = next[inverse.field]
          if (inverse._tag === "Increment") {
            if (typeof now !== "number") return yield* fail(`${inverse.field} no longer holds a number`)
            const value = now + inverse.by
            if (inverse.absent === true && value === 0) delete next[inverse.field]
            else next[inverse.field] = value
          } else if (Array.isArray(now)) {
            const at = now.map((v) => same(v, inverse.value)).lastIndexOf(true)
            const value = at < 0 ? now : [...now.slice(0, at), ...now.slice(at + 1)]
            if (inverse.absent === true && value.length === 0) delete next[inverse.field]
            else next[inverse.field] = value
          }
        }
        return next
      })

    const undo = (
      record: Undo.UndoRecord,
      fail: (reason: "Conflict", message: string) => StoreError
    ): Effect.Effect<void, StoreError> =>
      transaction(record.entity, (unit) =>
        Effect.gen(function*() {
          if (unit.undone.has(record.id)) return
          unit.undone.set(record.id, yield* Clock.currentTimeMillis)
          const rows = rowsOf(unit, record.entity)
          for (const action of [...record.actions].reverse()) {
            switch (action._tag) {
              case "DeleteCreated":
                rows.delete(String(action.key.id))
                break
              case "Reinsert": {
                const current = rows.get(String(action.image.id))
                if (current !== undefined && !same(current, action.image)) {
                  return yield* fail("Conflict", `a different record now holds id ${JSON.stringify(action.image.id)}`)
                }
                rows.set(String(action.image.id), action.image)
                break
              }
              case "Revert": {
                const current = rows.get(String(action.key.id))
                if (current === undefined) {
                  return yield* fail("Conflict", `record ${JSON.stringify(action.key)} no longer exists`)
                }
                rows.set(String(action.key.id), yield* revert(current, action, (m) => fail("Conflict", m)))
              }
            }
          }
        }))

    const keyOf = (step: StepContext) => JSON.stringify([step.sagaId, step.stepId])

    const store = Store.make<void, State>({
      name: engine,
      capabilities: Capabilities.full({
        sourceTypes: options.sourceTypes ?? allTypes,
        maxRecordsPerOperation: options.maxRecordsPerOperation ?? 100
      }),
      prepare: () => Effect.void,
      transaction,
      write,
      undo,
      ping: Effect.void,
      barrier: {
        claim: (unit, step, kind, fingerprint) =>
          Effect.gen(function*() {
            const earlier = unit.marks.get(keyOf(step))
            if (earlier !== undefined) return Option.some<Mark>(earlier)
            unit.marks.set(keyOf(step), {
              kind,
              fingerprint,
              outcome: Option.none(),
              at: yield* Clock.currentTimeMillis
            })
            return Option.none()
          }),
        record: (unit, step, outcome: Outcome) =>
          Effect.sync(() => {
            const mark = unit.marks.get(keyOf(step))!
            unit.marks.set(keyOf(step), { ...mark, outcome: Option.some(outcome) })
          }),
        // the keys of a saga's steps start with `["<sagaId>",`
        used: (unit, sagaId) =>
          Effect.sync(() => {
            const prefix = `${JSON.stringify([sagaId]).slice(0, -1)},`
            return [...unit.marks.keys()].some((key) => key.startsWith(prefix))
          })
      },
      prune: (olderThan) =>
        transaction(undefined, (unit) =>
          Effect.gen(function*() {
            const cutoff = (yield* Clock.currentTimeMillis) - Duration.toMillis(Duration.decode(olderThan))
            let removed = 0
            for (const bookkeeping of [unit.marks, unit.undone] as const) {
              for (const [key, value] of bookkeeping) {
                if ((typeof value === "number" ? value : value.at) <= cutoff) {
                  bookkeeping.delete(key)
                  removed++
                }
              }
            }
            return removed
          }))
    })

    return {
      ...store,
      reset: (entity) => lock.withPermits(1)(Effect.sync(() => void state.entities.set(entity, new Logged(changes)))),
      // between units: never a unit's changes half made
      snapshot: (entity) =>
        lock.withPermits(1)(Effect.sync(() =>
          [...(state.entities.get(entity)?.values() ?? [])].sort((a, b) => String(a.id) < String(b.id) ? -1 : 1)
        ))
    }
  })

/**
 * The TestStore as a configured engine: `{ "tag": "orders", "type": "database", "engine": "testing" }` in a
 * warehouse's or the service's sources (optional `maxRecordsPerOperation`, `sourceTypes`). Entries with the same
 * settings share one store; it lives as long as the warehouse.
 *
 * @since 0.1.0
 * @category constructors
 */
export const adapter = Adapter.make({
  name: engine,
  sourceTypes: allTypes,
  config: Schema.Struct({
    maxRecordsPerOperation: Adapter.fields.maxRecordsPerOperation,
    sourceTypes: Schema.optional(Schema.Array(Operation.SourceType))
  }),
  make
})
