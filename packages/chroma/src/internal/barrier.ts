/**
 * The step barrier on Chroma: the kernel's `Barrier` (`Store.make` owns the protocol), kept as markers
 * (`StepBarrier` of `@polysaga/store`).
 *
 * Chroma has no transactions and no conditional writes, but its `add` keeps the first record of an id and silently
 * drops later ones (insert-if-absent), and a `delete` can carry a `where`. On those:
 * - a **marked** step (`isMarked`: every step but a delete; its undo id and the ids it generates derived from the
 *   step) keeps no entry: its records carry its marker and its operation (fingerprint and count of records written),
 *   the `get` its write makes anyway is its barrier read (`proof`: a retry finds its marker, a resolution's fence) —
 *   by the ids of a **keyed** step (`isKeyed`: an insert, an upsert by id), else with its saga's key — and `resolve`
 *   is given its operation and reads those ids, or its records by its saga's key (`resolveMarked`);
 * - for a delete, the entry: one record per (saga, step) in the companion collection (`polysaga_steps`, id = the
 *   step's marker), added with a random token and read back (the first add wins, so reading our token back is the
 *   claim): its records are gone after it, so their images must be durable first, and a delete must not be sent once
 *   a resolution fenced the step. The write claims its step itself, once it has read what it will delete, announcing
 *   in the same `add` the ids and their images and the undo id its outcome carries. An entry found there before fails
 *   the write in doubt, and the kernel answers from the entry (`read`: a recorded outcome, a fence, another
 *   operation, a claim cut off). Nothing is sent after the write (`claimWithOutcome` records nothing): an entry
 *   without an outcome is answered from the records (`settle`), which say exactly what applied;
 * - the marker: a metadata key `polysaga:step:<undo id>` written in the same request as the record (`1` on an added
 *   record, the `Revert` JSON on an updated one, `"fence"` on a fenced one), with the saga's key and the time
 *   (`markers`), kept until the undo or `prune` (the undo of an added record deletes it only while it carries its
 *   step's marker);
 * - fences: a tombstone (metadata `polysaga:fence: true`, never returned, never matched) occupies the id of an add
 *   that never arrived — Chroma then drops the late add — or the step's fence id (a marked step that applied nothing);
 *   a fenced record is excluded from a late delete by its `where`. A late `update` cannot be refused (Chroma updates
 *   unconditionally): best effort, see the README;
 * - the registry: the collections where steps leave markers (`register`), the only ones `used` and `prune` search.
 */
import {
  type Barrier,
  type Mark,
  type Operation,
  type Outcome,
  type Step,
  StepBarrier,
  type StepContext,
  Store,
  type StoreError,
  Undo
} from "@polysaga/store"
import type { Collection } from "chromadb"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Hash from "node:crypto"
import type { Catalog } from "./catalog.js"
import { RecordImage, toImage, userPart } from "./compile.js"
import {
  atKey,
  type Connection,
  engine,
  fenceKey,
  operationKey,
  sagaKey,
  type Scalar,
  stepKey,
  stepPrefix,
  type Stored
} from "./connection.js"

/** A UUID-shaped name derived from `parts` (SHA-256), the same on every attempt and in `resolve`. */
const derived = (...parts: ReadonlyArray<string | number>): string => {
  const hex = Hash.createHash("sha256").update(JSON.stringify(parts)).digest("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
}

/**
 * Whether an operation is **keyed**: every id it writes is known from the operation and the step (an insert; an
 * upsert found by its records' ids, with no `where` and no other `key`). Such a step claims no entry: its proof is
 * the marker its records carry, and `resolve` reads those records (see the module's doc).
 */
export const isKeyed = (operation: Operation.Operation): boolean =>
  operation.kind === "insert" ||
  (operation.kind === "upsert" && operation.where === undefined &&
    (operation.options.key === undefined || (operation.options.key.length === 1 && operation.options.key[0] === "id")))

/**
 * Whether an operation's step is **marked**: its records carry its whole proof (every operation but a delete, whose
 * records are gone after it: its before-images need the barrier's entry). Its undo id is derived from the step
 * (`keyedUndoId`), so its markers are found from the step alone: by the ids a keyed step writes, by its saga's key
 * (`where` on metadata) for any other.
 */
export const isMarked = (operation: Operation.Operation): boolean =>
  operation.kind !== "delete" && operation.kind !== "select"

/** The id of the tombstone by which `resolve` fences a marked step that applied nothing (a retry finds it). */
export const fenceId = (context: StepContext): string => derived("polysaga:fence", context.sagaId, context.stepId)

/** The undo id of a marked step: derived from the step, so its markers are found from the step alone. */
export const keyedUndoId = (context: StepContext): string => derived("polysaga:undo", context.sagaId, context.stepId)

/** The id a keyed step gives the `index`-th record it writes without one (a random one without a step). */
export const generatedId = (context: StepContext | undefined, index: number): string =>
  context === undefined ? crypto.randomUUID() : derived("polysaga:id", context.sagaId, context.stepId, index)

/**
 * The bookkeeping a step writes on a record in the same request: its marker (`value`: `1` added, the `Revert` JSON
 * updated, `"fence"` fenced), a marked step's operation (`<count>:<fingerprint>`: how many records its write
 * writes, and the fingerprint of its operation), the saga's key (for `used`, and to find a marked step's records)
 * and the time (for `prune`).
 */
export const markers = (
  step: {
    readonly sagaId: string
    readonly undoId: string
    readonly fingerprint?: string | undefined
    readonly count?: number | undefined
  },
  value: Scalar
): Readonly<Record<string, Scalar>> => ({
  [stepKey(step.undoId)]: value,
  ...(step.fingerprint === undefined ? {} : { [operationKey(step.undoId)]: `${step.count ?? 0}:${step.fingerprint}` }),
  [sagaKey(sagaHash(step.sagaId))]: 1,
  [atKey]: Date.now()
})

/** The fingerprint and the count of a marked step's operation key (see `markers`). */
const operationOf = (value: Scalar | undefined): { readonly fingerprint: string | null; readonly count: number } => {
  const match = typeof value === "string" ? /^(\d+):(.*)$/s.exec(value) : null
  return match === null ? { fingerprint: null, count: 0 } : { fingerprint: match[2]!, count: Number(match[1]) }
}

const sagaHash = (sagaId: string) =>
  Hash.createHash("sha256").update(JSON.stringify([sagaId])).digest("hex").slice(0, 24)

/** A `where` finding every record a step of saga `sagaId` marked (its tombstones too). */
export const bySaga = (sagaId: string) => ({ [sagaKey(sagaHash(sagaId))]: { $eq: 1 } })

/** The undo action a record's marker holds (none for a fence). */
const actionOf = (stored: Stored, key: string): Option.Option<Undo.UndoAction> => {
  const value = stored.own[key]
  if (value === 1) return Option.some({ _tag: "DeleteCreated", key: { id: stored.record.id } })
  if (typeof value !== "string" || value === "fence") return Option.none()
  try {
    return Option.some(JSON.parse(value) as Undo.UndoAction)
  } catch {
    return Option.none()
  }
}

/**
 * What a marked write's own read of its records says about its step (`rows`: what the read returned; `ids`: a keyed
 * step's ids, in order, `undefined` for any other): `None` when no record carries the step's marker (it has not
 * applied: write); else its mark — a fence, or the step's run with the fingerprint its records carry and, when it
 * applied whole (every id of a keyed step carries its marker; as many records as its write wrote for any other), the
 * outcome read from them (a retry then answers it; a step applied in part stays in doubt, for `resolve`).
 */
export const proof = (
  step: Step,
  entity: string,
  ids: ReadonlyArray<string> | undefined,
  rows: ReadonlyArray<Stored>
): Option.Option<Mark> => {
  const key = stepKey(step.undoId)
  const marked = rows.filter((r) => r.own[key] !== undefined)
  if (marked.length === 0) return Option.none()
  if (marked.some((r) => r.own[key] === "fence")) {
    return Option.some({ kind: "fence", fingerprint: null, outcome: Option.none() })
  }
  const { count, fingerprint } = operationOf(marked[0]!.own[operationKey(step.undoId)])
  const byId = new Map(marked.map((r) => [r.record.id, r]))
  const order = ids ?? marked.map((r) => r.record.id)
  const actions = order.map((id) => byId.has(id) ? actionOf(byId.get(id)!, key) : Option.none())
  const whole = actions.every(Option.isSome) && (ids !== undefined || actions.length === count)
  if (!whole) return Option.some({ kind: "action", fingerprint, outcome: Option.none() })
  const records = order.map((id) => toImage(byId.get(id)!.record))
  return Option.some({
    kind: "action",
    fingerprint,
    outcome: Option.some({
      records,
      affected: records.length,
      undo: Undo.make(engine, entity, actions.map((a) => Option.getOrThrow(a)), step.undoId)
    })
  })
}

export interface Env {
  readonly conn: Connection
  readonly catalog: Catalog
  /** The companion collection of entries. */
  readonly steps: string
  /** Every companion collection of the store (never searched for markers). */
  readonly companions: ReadonlyArray<string>
}

const Payload = Schema.Struct({
  kind: Schema.Literal("action", "fence"),
  fingerprint: Schema.NullOr(Schema.String),
  entity: Schema.optional(Schema.String),
  operation: Schema.optional(Schema.String),
  undo: Schema.optional(Schema.String),
  /** Vector dimension of the entity (for tombstones). */
  dimension: Schema.optional(Schema.Number),
  keys: Schema.optional(Schema.Array(Schema.String)),
  ids: Schema.optional(Schema.Array(Schema.String)),
  images: Schema.optional(Schema.Array(RecordImage)),
  outcome: Schema.optional(Schema.String)
})

/** A barrier entry as the companion collection holds it (in the record's document). */
type Payload = typeof Payload.Type

const PayloadJson = Schema.parseJson(Payload)

/** What a write announces with its claim: the collection, the operation, and the records it will touch. */
export type Announce = Pick<Payload, "keys" | "ids" | "images" | "dimension"> & {
  readonly entity: string
  readonly operation: string
}

const where = (entity: string | undefined) => ({ engine, entity })

/**
 * The barrier's unit: one step's write. The write claims the step itself once it knows what it will touch
 * (`claim` below), and the kernel's `claimWithOutcome` then records the outcome on that claim.
 */
export interface Unit {
  claimed: Payload | undefined
}

/** The barrier, and the write's claim. */
export interface StepBarrierOf extends Barrier<Unit> {
  /**
   * Claims the step for a write, announcing what it will touch, with one `add` read back. Fails in doubt when the
   * entry was there before (another attempt, or a fence): the kernel then answers from the entry (`read`).
   */
  readonly claimFor: (unit: Unit, step: Step, touched: Announce) => Effect.Effect<void, StoreError>
  /**
   * `resolve` of a marked step (see `isMarked`): `keys` are the ids its operation creates when it creates (in order;
   * every id it writes for a keyed step, `keyed`), `dimension` its vectors' (none for an update).
   */
  readonly resolveMarked: (
    step: Step,
    entity: string,
    operation: string,
    target: { readonly keyed: boolean; readonly keys: ReadonlyArray<string>; readonly dimension: number | undefined }
  ) => Effect.Effect<Option.Option<Outcome>, StoreError>
  /**
   * Registers `entity` as a collection where this store's steps leave markers, before the first such write (once per
   * process): `used` and `prune` search those collections only.
   */
  readonly register: (entity: string) => Effect.Effect<void, StoreError>
  readonly prune: (cutoff: number) => Effect.Effect<number, StoreError>
}

export const make = (env: Env): StepBarrierOf => {
  const { catalog, conn } = env

  /** The companion collection (its handle kept by the catalog; created when missing). */
  const steps = Effect.flatMap(
    catalog.open(env.steps),
    Option.match({ onNone: () => catalog.create(env.steps, 1), onSome: Effect.succeed })
  )

  /** Forgets the companion collection's handle when a call on it fails (it may have been dropped and re-created). */
  const fresh = <A>(effect: Effect.Effect<A, StoreError>): Effect.Effect<A, StoreError> =>
    Effect.tapError(effect, () => Effect.sync(() => catalog.forget(env.steps)))

  /** The entry of a step, if any, with the token of the add Chroma kept. */
  const read = (collection: Collection, context: StepContext) =>
    Effect.gen(function*() {
      const got = yield* conn.call("get (step barrier)", env.steps, () =>
        collection.get({ ids: [StepBarrier.marker(context)], include: ["documents", "metadatas"] }))
      const text = got.documents[0]
      if (typeof text !== "string") {
        return Option.none<{ readonly payload: Payload; readonly token: unknown }>()
      }
      const payload = yield* Schema.decodeUnknown(PayloadJson)(text).pipe(
        Effect.mapError((e) =>
          Store.fail(engine, "Unknown", `unreadable step barrier entry: ${e.message}`)
        )
      )
      return Option.some({ payload, token: got.metadatas[0]?.["token"] })
    })

  /** Writes the entry's payload (claims are made with `add`, later changes with `update`). */
  const write = (collection: Collection, context: StepContext, payload: Payload, token?: string) =>
    conn.post("step barrier", env.steps, collection.id, token === undefined ? "update" : "add", {
      ids: [StepBarrier.marker(context)],
      ...(token === undefined ? {} : { embeddings: [[0]] }),
      documents: [Schema.encodeSync(PayloadJson)(payload)],
      ...(token === undefined ? {} : {
        metadatas: [{ kind: payload.kind, token, saga: context.sagaId, at_ms: Date.now() }]
      })
    })

  /**
   * Adds the entry and reads it back: `None` when this add is the one Chroma kept (its token reads back), else the
   * mark of the entry that was there before.
   */
  const add = (collection: Collection, context: StepContext, payload: Payload) =>
    Effect.gen(function*() {
      const token = crypto.randomUUID()
      yield* write(collection, context, payload, token)
      const found = yield* read(collection, context)
      if (Option.isNone(found)) {
        return yield* Store.fail(
          engine,
          "Unknown",
          `the step barrier entry of ${StepBarrier.key(context)} was not kept`
        )
      }
      if (found.value.token === token) return Option.none()
      return Option.some(yield* StepBarrier.markOf(found.value.payload, where(found.value.payload.entity)))
    })

  const claim: Barrier<Unit>["claim"] = (_, step, kind, fingerprint) =>
    fresh(Effect.flatMap(steps, (collection) => add(collection, step, { kind, fingerprint })))

  const claimFor: StepBarrierOf["claimFor"] = (unit, step, touched) =>
    fresh(Effect.gen(function*() {
      const payload: Payload = {
        kind: "action",
        fingerprint: step.fingerprint,
        undo: step.undoId,
        ...touched
      }
      const earlier = yield* add(yield* steps, step, payload)
      if (Option.isSome(earlier)) {
        return yield* Store.fail(
          engine,
          "Conflict",
          `step ${step.stepId} of saga ${step.sagaId} was claimed before this attempt: it is not applied again`,
          { entity: touched.entity, inDoubt: true }
        )
      }
      unit.claimed = payload
    }))

  /**
   * After the write. A write that claimed its step (announcing what it touched) sends nothing more: its markers stay
   * on the records (until the undo, or `prune`), so the entry without an outcome is answered from them (`settle`)
   * whenever it is asked — a retry finds the claim and fails in doubt, and is resolved. A write that claimed nothing
   * (it matched no record) claims the step here, with its outcome.
   */
  const claimWithOutcome: NonNullable<Barrier<Unit>["claimWithOutcome"]> = (unit, step, outcome) =>
    unit.claimed !== undefined || step.undoId === keyedUndoId(step) ?
      Effect.succeed(Option.none()) :
      fresh(Effect.flatMap(steps, (collection) =>
        add(collection, step, {
          kind: "action",
          fingerprint: step.fingerprint,
          outcome: StepBarrier.encodeOutcome(outcome)
        })))

  /**
   * The step's mark. An earlier write whose claim holds no outcome (nothing is recorded after a write) is answered
   * from its markers when every record it announced shows it applied — a retried step then returns that outcome
   * instead of applying again; a write that applied in part (or not at all) leaves the mark without an outcome, so
   * the step fails in doubt and is resolved. This attempt's own claim answers `None`: the write's own error stands.
   */
  const readMark: NonNullable<Barrier<Unit>["read"]> = (step) =>
    // a keyed step has no entry: its write's own error stands (its reads answered a retry already)
    step.undoId === keyedUndoId(step) ?
      Effect.succeed(Option.none()) :
      catalog.refreshing(fresh(Effect.gen(function*() {
        const found = yield* read(yield* steps, step)
        if (Option.isNone(found)) return Option.none()
        const payload = found.value.payload
        // this attempt's own claim: the write's own error stands (a lost reply stays in doubt)
        if (payload.undo !== undefined && payload.undo === step.undoId) return Option.none()
        const mark = yield* StepBarrier.markOf(payload, where(payload.entity))
        if (payload.kind !== "action" || Option.isSome(mark.outcome)) return Option.some(mark)
        const inspected = yield* inspect(payload)
        const complete = Option.isSome(inspected) && inspected.value.missing.length === 0 &&
          inspected.value.unwritten.length === 0 && inspected.value.applied() > 0
        return Option.some(complete ? { ...mark, outcome: Option.some(inspected.value.outcome()) } : mark)
      })))

  /** The registry's record of a collection (in the companion collection; no entry's id has this prefix). */
  const registryId = (entity: string) => `polysaga:collection:${entity}`
  const registry = { kind: { $eq: "collection" } }
  /** The collections this process registered (see `register`). */
  const registered = new Set<string>()

  const register: StepBarrierOf["register"] = (entity) =>
    registered.has(entity) ?
      Effect.void :
      fresh(Effect.flatMap(steps, (collection) =>
        conn.post("register collection", env.steps, collection.id, "add", {
          ids: [registryId(entity)],
          embeddings: [[0]],
          metadatas: [{ kind: "collection", entity }]
        }))).pipe(Effect.tap(() => Effect.sync(() => registered.add(entity))))

  /** The names of the registered collections (see `register`), from the registry's records. */
  const namesOf = (got: { readonly metadatas: ReadonlyArray<Record<string, unknown> | null> }) =>
    got.metadatas.flatMap((metadata) => {
      const entity = metadata?.["kind"] === "collection" ? metadata["entity"] : undefined
      return typeof entity === "string" ? [entity] : []
    })

  const gone = (error: StoreError) => error.reason === "EntityNotFound"

  /**
   * Runs `use` on a registered collection (`None` when it does not exist): a kept handle Chroma says is gone is
   * forgotten and the collection opened afresh (it may have been created again); gone still, it is skipped.
   */
  const onCollection = <A>(entity: string, use: (collection: Collection) => Effect.Effect<A, StoreError>) => {
    const once = Effect.flatMap(
      catalog.open(entity),
      Option.match({ onNone: () => Effect.succeed(Option.none<A>()), onSome: (c) => Effect.map(use(c), Option.some) })
    )
    return Effect.catchIf(once, gone, () =>
      Effect.suspend(() => {
        catalog.forget(entity)
        return Effect.catchIf(once, gone, () => Effect.succeed(Option.none<A>()))
      }))
  }

  /** The registered collections' names: where steps leave their markers. */
  const userCollections = Effect.gen(function*() {
    const existing = yield* catalog.open(env.steps)
    if (Option.isNone(existing)) return []
    return namesOf(
      yield* conn.call(
        "get (step barrier)",
        env.steps,
        () => existing.value.get({ where: registry, include: ["metadatas"] })
      )
    )
  })

  /**
   * Whether saga `sagaId` left a mark: an entry in the companion collection (a step that claimed one, a fence), or
   * a record carrying its saga key in a registered collection (marked steps claim no entry; their tombstones carry it
   * too). One read of the companion collection answers both its entries and the registry.
   */
  const used: Barrier<Unit>["used"] = (_, sagaId) =>
    catalog.refreshing(Effect.gen(function*() {
      const existing = yield* catalog.open(env.steps)
      if (Option.isNone(existing)) return false
      const got = yield* fresh(conn.call("get (step barrier)", env.steps, () =>
        existing.value.get({
          where: { $or: [{ saga: { $eq: sagaId } }, registry] },
          include: ["metadatas"]
        })))
      if (got.metadatas.some((m) => m?.["saga"] === sagaId)) return true
      const found = yield* Effect.forEach(
        namesOf(got),
        (entity) =>
          onCollection(
            entity,
            (collection) =>
              conn.call("get", entity, () => collection.get({ where: bySaga(sagaId), limit: 1, include: [] }))
          ),
        { concurrency: 4 }
      )
      return found.some((got) => Option.isSome(got) && got.value.ids.length > 0)
    }))

  /**
   * Retention of the markers in the registered collections: every record whose last marking step is older than
   * `cutoff` loses its step bookkeeping (markers, fingerprints, saga keys, the time); a fence tombstone among them is
   * deleted. Returns how many records it cleaned.
   */
  const pruneMarkers = (cutoff: number) =>
    Effect.gen(function*() {
      let cleaned = 0
      for (const entity of yield* userCollections) {
        const pruned = yield* onCollection(entity, (collection) =>
          Effect.gen(function*() {
            let count = 0
            for (;;) {
              const old = yield* conn.read(entity, collection, {
                ids: undefined,
                where: { [atKey]: { $lt: cutoff } }
              }, { limit: 500 })
              if (old.length === 0) return count
              const tombstones = old.filter((s) => s.own[fenceKey] === true).map((s) => s.record.id)
              const marked = old.filter((s) => s.own[fenceKey] !== true)
              if (tombstones.length > 0) yield* conn.remove(entity, collection, tombstones)
              if (marked.length > 0) {
                yield* conn.post("remove step markers", entity, collection.id, "update", {
                  ids: marked.map((s) => s.record.id),
                  metadatas: marked.map((s) =>
                    Object.fromEntries(s.markers.filter((k) => k.startsWith(stepPrefix)).map((k) => [k, null]))
                  )
                })
              }
              count += old.length
            }
          }))
        cleaned += Option.getOrElse(pruned, () => 0)
      }
      return cleaned
    })

  /**
   * What the write of a claim without an outcome applied, read from the records it announced: those carrying the
   * step's marker (their undo action in it), the records of a `delete` that are gone (re-inserted from the entry's
   * images); `missing`: ids it was to add that are not there; `unwritten`: records it was to update or delete that
   * are there without its marker. `None` when the write never announced what it touches (it had not started).
   */
  const inspect = (payload: Payload) =>
    Effect.gen(function*() {
      if (payload.undo === undefined || payload.entity === undefined) return Option.none()
      const entity = payload.entity
      const undo = payload.undo
      const key = stepKey(undo)
      const target = yield* catalog.open(entity)
      const records: Array<Readonly<Record<string, unknown>>> = []
      const actions: Array<Undo.UndoAction> = []
      /** Takes a record the step wrote (it carries the step's marker); false for any other. */
      const take = (stored: Stored) =>
        Option.match(actionOf(stored, key), {
          onNone: () => false,
          onSome: (action) => {
            records.push(toImage(stored.record))
            actions.push(action)
            return true
          }
        })
      const ids = [...new Set([...(payload.keys ?? []), ...(payload.ids ?? [])])]
      const current = new Map(
        Option.isNone(target) || ids.length === 0
          ? []
          : (yield* conn.read(entity, target.value, { ids, where: undefined })).map((s) => [s.record.id, s])
      )
      const taken = new Set(ids.filter((id) => current.has(id) && take(current.get(id)!)))
      const missing = (payload.keys ?? []).filter((id) => !current.has(id))
      const unwritten = (payload.ids ?? []).filter((id) => !taken.has(id) && current.has(id))
      const gone: Array<typeof RecordImage.Type> = []
      if (payload.operation === "delete" && Option.isSome(target)) {
        const images = new Map((payload.images ?? []).map((image) => [image.id, image]))
        for (const id of payload.ids ?? []) {
          const image = images.get(id)
          if (!current.has(id) && image !== undefined) gone.push(image)
        }
      }
      const outcome = (): Outcome => {
        const all = [...records, ...gone.map((image) => toImage(userPart(image)))]
        return {
          records: all,
          affected: all.length,
          undo: Undo.make(engine, entity, [
            ...actions,
            ...gone.map((image): Undo.UndoAction => ({ _tag: "Reinsert", image: toImage(image) }))
          ], undo)
        }
      }
      return Option.some({
        entity,
        key,
        target,
        missing,
        unwritten,
        take,
        taken,
        outcome,
        applied: () => actions.length + gone.length
      })
    })

  /**
   * The answer for a claim without an outcome: the records carrying the step's marker are what it applied (deleted
   * ones from the entry's images), the rest is fenced, and the result (an outcome, or a fence when nothing applied)
   * is recorded.
   */
  const settle = (context: StepContext): Effect.Effect<Option.Option<Outcome>, StoreError> =>
    catalog.refreshing(fresh(Effect.gen(function*() {
      const collection = yield* steps
      const found = yield* read(collection, context)
      if (Option.isNone(found) || found.value.payload.kind === "fence") return Option.none()
      const payload = found.value.payload
      if (payload.outcome !== undefined) {
        return Option.some(yield* StepBarrier.decodeOutcome(payload.outcome, where(payload.entity)))
      }
      const fence = () => Effect.as(write(collection, context, { ...payload, kind: "fence" }), Option.none<Outcome>())
      const inspected = yield* inspect(payload)
      // never announced: the write had not started: nothing applied
      if (Option.isNone(inspected)) return yield* fence()
      yield* fenceRest(context, payload, inspected.value)
      if (inspected.value.applied() === 0) return yield* fence()
      const outcome = inspected.value.outcome()
      yield* write(collection, context, { ...payload, outcome: StepBarrier.encodeOutcome(outcome) })
      return Option.some(outcome)
    })))

  /** Tombstones on `ids` (absent ones: Chroma then drops a late add there), carrying the step's `"fence"` marker. */
  const tombstones = (
    context: StepContext,
    undoId: string,
    entity: string,
    target: Collection,
    ids: ReadonlyArray<string>,
    dimension: number | undefined
  ) =>
    Effect.gen(function*() {
      const length = dimension ?? (yield* catalog.dimensionOf(entity, Option.some(target))) ?? 1
      yield* register(entity)
      yield* conn.post("fence", entity, target.id, "add", {
        ids,
        embeddings: ids.map(() => Array.from({ length }, () => 0)),
        metadatas: ids.map(() => ({ [fenceKey]: true, ...markers({ sagaId: context.sagaId, undoId }, "fence") }))
      })
    })

  /**
   * Fences what an inspected write did not apply: a tombstone takes each id it was to add that is not there (Chroma
   * then drops the late add; an add that arrived meanwhile is kept instead, and taken), a record it was to change
   * and did not gets the marker `"fence"` (a late delete's `where` spares it, a retry is refused).
   */
  const fenceRest = (
    context: StepContext,
    payload: Payload,
    inspected: Option.Option.Value<Effect.Effect.Success<ReturnType<typeof inspect>>>
  ) =>
    Effect.gen(function*() {
      const { entity, missing, take, taken, target, unwritten } = inspected
      if (Option.isNone(target)) return
      if (missing.length > 0) {
        yield* tombstones(context, payload.undo!, entity, target.value, missing, payload.dimension)
        for (const stored of yield* conn.read(entity, target.value, { ids: missing, where: undefined })) {
          if (take(stored)) taken.add(stored.record.id)
        }
      }
      const rest = unwritten.filter((id) => !taken.has(id))
      if (rest.length > 0) {
        yield* register(entity)
        yield* conn.post("fence", entity, target.value.id, "update", {
          ids: rest,
          metadatas: rest.map(() => markers({ sagaId: context.sagaId, undoId: payload.undo! }, "fence"))
        })
      }
    })

  /**
   * `resolve` of a marked step (no entry: its proof is in its records), `Some` with what applied, `None` when nothing
   * did; asked again, it answers the same.
   * - A keyed step: the ids its operation writes, read; those carrying its marker applied, every other id is fenced
   *   (a tombstone on an absent one, the marker `"fence"` on a present one).
   * - Any other: first the ids it would create that are absent get a tombstone (a late add there is dropped); then
   *   the records carrying its marker, found by its saga's key, are what applied. When nothing did, a tombstone at the
   *   step's fence id (`fenceId`, read by every attempt of the step) refuses a retry. A late `update` (a replacement)
   *   cannot be refused: Chroma updates unconditionally.
   */
  const resolveMarked: StepBarrierOf["resolveMarked"] = (step, entity, operation, { dimension, keyed, keys }) =>
    catalog.refreshing(Effect.gen(function*() {
      const payload: Payload = {
        kind: "action",
        fingerprint: step.fingerprint,
        entity,
        operation,
        undo: step.undoId,
        keys,
        ids: keyed ? keys : [],
        ...(dimension === undefined ? {} : { dimension })
      }
      const inspected = yield* inspect(payload)
      if (Option.isNone(inspected)) return Option.none<Outcome>()
      yield* fenceRest(step, payload, inspected.value)
      if (keyed) {
        return inspected.value.applied() === 0 ? Option.none<Outcome>() : Option.some(inspected.value.outcome())
      }
      const opened = inspected.value.target
      // no collection: nothing applied; an upsert's retry would create it, so it holds the fence
      if (Option.isNone(opened) && dimension === undefined) return Option.none<Outcome>()
      const target = Option.isSome(opened) ? opened.value : yield* catalog.create(entity, dimension!)
      const key = stepKey(step.undoId)
      const mine = (yield* conn.read(entity, target, { ids: undefined, where: bySaga(step.sagaId) }))
        .filter((r) => r.own[key] !== undefined)
      const applied = mine.flatMap((r) =>
        Option.match(actionOf(r, key), { onNone: () => [], onSome: (action) => [{ record: r.record, action }] })
      )
      if (applied.length > 0) {
        const records = applied.map((a) => toImage(a.record))
        return Option.some<Outcome>({
          records,
          affected: records.length,
          undo: Undo.make(engine, entity, applied.map((a) => a.action), step.undoId)
        })
      }
      if (!mine.some((r) => r.own[key] === "fence")) {
        yield* tombstones(step, step.undoId, entity, target, [fenceId(step)], dimension)
      }
      return Option.none<Outcome>()
    }))

  /**
   * Retention: entries older than `cutoff`, with the markers and tombstones they left in user collections. Returns
   * how many entries were removed.
   */
  const prune = (cutoff: number): Effect.Effect<number, StoreError> =>
    Effect.gen(function*() {
      const existing = yield* catalog.open(env.steps)
      if (Option.isNone(existing)) return 0
      const collection = existing.value
      const old = yield* conn.call("get (step barrier)", env.steps, () =>
        collection.get({ where: { at_ms: { $lt: cutoff } }, include: ["documents"] }))
      for (const text of old.documents) {
        if (typeof text !== "string") {
          continue
        }
        const decoded = Schema.decodeUnknownOption(PayloadJson)(text)
        if (Option.isNone(decoded) || decoded.value.entity === undefined || decoded.value.undo === undefined) {
          continue
        }
        const { entity, undo } = decoded.value
        const ids = [...new Set([...(decoded.value.keys ?? []), ...(decoded.value.ids ?? [])])]
        const target = yield* catalog.open(entity)
        if (Option.isNone(target) || ids.length === 0) {
          continue
        }
        const key = stepKey(undo)
        const stored = yield* conn.read(entity, target.value, { ids, where: undefined })
        const fences = stored.filter((s) =>
          s.own[fenceKey] === true && key in s.own
        ).map((s) => s.record.id)
        const marked = stored.filter((s) => s.own[fenceKey] !== true && key in s.own).map((s) => s.record.id)
        if (fences.length > 0) yield* conn.remove(entity, target.value, fences)
        if (marked.length > 0) {
          yield* conn.post("remove step markers", entity, target.value.id, "update", {
            ids: marked,
            metadatas: marked.map(() => ({ [key]: null }))
          })
        }
      }
      if (old.ids.length > 0) {
        yield* conn.call("delete (step barrier)", env.steps, () => collection.delete({ ids: old.ids }))
      }
      return old.ids.length + (yield* pruneMarkers(cutoff))
    })

  return {
    claim,
    claimWithOutcome,
    read: readMark,
    used,
    settle: (_, step) => settle(step),
    claimFor,
    resolveMarked,
    register,
    prune
  }
}
