/**
 * The step barrier on Chroma: the kernel's `Barrier` (`Store.make` owns the protocol), kept as markers
 * (`StepBarrier` of `@polysaga/store`).
 *
 * Chroma has no transactions and no conditional writes, but its `add` keeps the first record of an id and silently
 * drops later ones (insert-if-absent), and a `delete` can carry a `where`. On those:
 * - the entry: one record per (saga, step) in the companion collection (`polysaga_steps`, id = the step's marker),
 *   added with a random token and read back (the first add wins, so reading our token back is the claim). A write
 *   claims its step itself, once it has read what it will touch and before its first record write, and the claim
 *   announces in the same `add` the ids it adds (decided before the write), the ids it updates or deletes (images
 *   for deletes) and the undo id its outcome carries. An entry found there before fails the write in doubt, and the
 *   kernel answers from the entry (`read`: a recorded outcome, a fence, another operation, a claim cut off). Nothing
 *   is sent after the write (`claimWithOutcome` records nothing): an entry without an outcome is answered from the
 *   markers (`settle`), which say exactly what applied;
 * - the marker: a metadata key `polysaga:step:<undo id>` written in the same request as the record (`1` on an added
 *   record, the `Revert` JSON on an updated one, `"fence"` on a fenced one), kept until the undo or `prune` (the undo
 *   of an added record deletes it only while it carries its step's marker);
 * - fences: a tombstone (metadata `polysaga:fence: true`, never returned, never matched) occupies the id of an add
 *   that never arrived — Chroma then drops the late add; a fenced record is excluded from a late delete by its
 *   `where`. A late `update` cannot be refused (Chroma updates unconditionally): best effort, see the README.
 */
import {
  type Barrier,
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
import type { Catalog } from "./catalog.js"
import { RecordImage, toImage, userPart } from "./compile.js"
import { type Connection, engine, fenceKey, stepKey, type Stored } from "./connection.js"

export interface Env {
  readonly conn: Connection
  readonly catalog: Catalog
  /** The companion collection of entries. */
  readonly steps: string
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
    unit.claimed !== undefined ?
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

  const used: Barrier<Unit>["used"] = (_, sagaId) =>
    fresh(Effect.flatMap(steps, (collection) =>
      Effect.map(
        conn.call(
          "get (step barrier)",
          env.steps,
          () => collection.get({ where: { saga: sagaId }, limit: 1, include: [] })
        ),
        (got) => got.ids.length > 0
      )))

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
      const { entity, key, missing, take, taken, target, unwritten } = inspected.value
      if (Option.isSome(target)) {
        // adds that never arrived: a tombstone takes their id, and Chroma drops the late add
        if (missing.length > 0) {
          const dimension = payload.dimension ?? (yield* catalog.dimensionOf(entity, target)) ?? 1
          yield* conn.post("fence", entity, target.value.id, "add", {
            ids: missing,
            embeddings: missing.map(() => Array.from({ length: dimension }, () => 0)),
            metadatas: missing.map(() => ({ [fenceKey]: true, [key]: "fence" }))
          })
          // an add that arrived meanwhile was kept instead of the tombstone
          for (const stored of yield* conn.read(entity, target.value, { ids: missing, where: undefined })) {
            if (take(stored)) taken.add(stored.record.id)
          }
        }
        // records to update or delete the step did not write: fenced (a late delete's `where` excludes them)
        if (unwritten.length > 0) {
          yield* conn.post("fence", entity, target.value.id, "update", {
            ids: unwritten,
            metadatas: unwritten.map(() => ({ [key]: "fence" }))
          })
        }
      }
      if (inspected.value.applied() === 0) return yield* fence()
      const outcome = inspected.value.outcome()
      yield* write(collection, context, { ...payload, outcome: StepBarrier.encodeOutcome(outcome) })
      return Option.some(outcome)
    })))

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
      return old.ids.length
    })

  return {
    claim,
    claimWithOutcome,
    read: readMark,
    used,
    settle: (_, step) => settle(step),
    claimFor,
    prune
  }
}
