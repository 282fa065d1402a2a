/**
 * The step barrier on Chroma: the kernel's `Barrier` (`Store.make` owns the protocol), kept as markers
 * (`StepBarrier` of `@polysaga/store`).
 *
 * Chroma has no transactions and no conditional writes, but its `add` keeps the first record of an id and silently
 * drops later ones (insert-if-absent), and a `delete` can carry a `where`. On those:
 * - the entry: one record per (saga, step) in the companion collection (`polysaga_steps`, id = the step's marker),
 *   added with a random token and read back (the first add wins, so reading our token back is the claim); before
 *   the step's first record write, the write announces on it the ids it adds (decided before the write), the ids
 *   it updates or deletes (read first; images for deletes) and the undo id its outcome carries; after the write, the
 *   kernel records the outcome;
 * - the marker: a metadata key `polysaga:step:<undo id>` written in the same request as the record (`1` on an added
 *   record, the `Revert` JSON on an updated one, `"fence"` on a fenced one);
 * - fences: a tombstone (metadata `polysaga:fence: true`, never returned, never matched) occupies the id of an add
 *   that never arrived — Chroma then drops the late add; a fenced record is excluded from a late delete by its
 *   `where`. A late `update` cannot be refused (Chroma updates unconditionally): best effort, see the README.
 */
import {
  type Barrier,
  type Outcome,
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

/** What a write announces on its entry before writing records. */
export type Announce = Pick<Payload, "keys" | "ids" | "images" | "dimension"> & {
  readonly entity: string
  readonly operation: string
}

const where = (entity: string | undefined) => ({ engine, entity })

/** The barrier, and `announce` for the writes. */
export interface StepBarrierOf extends Barrier<undefined> {
  readonly announce: (
    step: { readonly sagaId: string; readonly stepId: string; readonly undoId: string },
    touched: Announce
  ) => Effect.Effect<void, StoreError>
  readonly prune: (cutoff: number) => Effect.Effect<number, StoreError>
}

export const make = (env: Env): StepBarrierOf => {
  const { catalog, conn } = env
  const cache: { current: Collection | undefined } = { current: undefined }

  /** The companion collection, opened (or created) once per store and opened again after a failure. */
  const steps = Effect.suspend(() =>
    cache.current !== undefined ? Effect.succeed(cache.current) : Effect.tap(
      Effect.flatMap(
        catalog.open(env.steps),
        Option.match({ onNone: () => catalog.create(env.steps, 1), onSome: Effect.succeed })
      ),
      (collection) => Effect.sync(() => void (cache.current = collection))
    )
  )

  /** Forgets the cached companion collection when a call on it fails (it may have been dropped and re-created). */
  const fresh = <A>(effect: Effect.Effect<A, StoreError>): Effect.Effect<A, StoreError> =>
    Effect.tapError(effect, () => Effect.sync(() => void (cache.current = undefined)))

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

  /** Adds the entry; true when this add is the one Chroma kept (its token reads back). */
  const add = (collection: Collection, context: StepContext, payload: Payload) =>
    Effect.gen(function*() {
      const token = crypto.randomUUID()
      yield* write(collection, context, payload, token)
      const found = yield* read(collection, context)
      return Option.isSome(found) && found.value.token === token
    })

  /** The entry while it is an unfinished claim (`action` without an outcome); else the write was settled meanwhile. */
  const open = (collection: Collection, context: StepContext, entity: string | undefined) =>
    Effect.flatMap(
      read(collection, context),
      (found) =>
        Option.isSome(found) && found.value.payload.kind === "action" && found.value.payload.outcome === undefined
          ? Effect.succeed(found.value.payload)
          : Effect.fail(StepBarrier.settledMeanwhile(context, where(entity)))
    )

  const claim: Barrier<undefined>["claim"] = (_, step, kind, fingerprint) =>
    fresh(Effect.gen(function*() {
      const collection = yield* steps
      if (yield* add(collection, step, { kind, fingerprint })) return Option.none()
      const found = yield* read(collection, step)
      if (Option.isNone(found)) {
        return yield* Store.fail(engine, "Unknown", `the step barrier entry of ${StepBarrier.key(step)} was not kept`)
      }
      return Option.some(yield* StepBarrier.markOf(found.value.payload, where(found.value.payload.entity)))
    }))

  const announce: StepBarrierOf["announce"] = (step, touched) =>
    fresh(Effect.gen(function*() {
      const collection = yield* steps
      const payload = yield* open(collection, step, touched.entity)
      const merge = <A>(a: ReadonlyArray<A> | undefined, b: ReadonlyArray<A> | undefined) =>
        a === undefined && b === undefined ? {} : [...(a ?? []), ...(b ?? [])]
      const keys = merge(payload.keys, touched.keys), ids = merge(payload.ids, touched.ids)
      const images = merge(payload.images, touched.images)
      yield* write(collection, step, {
        ...payload,
        undo: step.undoId,
        entity: touched.entity,
        operation: touched.operation,
        ...(touched.dimension === undefined ? {} : { dimension: touched.dimension }),
        ...(Array.isArray(keys) ? { keys } : {}),
        ...(Array.isArray(ids) ? { ids } : {}),
        ...(Array.isArray(images) ? { images } : {})
      })
    }))

  /** Removes the step's marker from records, once the entry answers for it (a failure leaves them for `prune`). */
  const unmark = (entity: string, key: string, ids: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const target = yield* catalog.open(entity)
      if (Option.isNone(target) || ids.length === 0) return
      const marked = (yield* conn.read(entity, target.value, { ids, where: undefined })).filter((s) => key in s.own)
        .map((s) => s.record.id)
      if (marked.length === 0) return
      yield* conn.post("remove step markers", entity, target.value.id, "update", {
        ids: marked,
        metadatas: marked.map(() => ({ [key]: null }))
      })
    })

  const record: Barrier<undefined>["record"] = (_, step, outcome) =>
    fresh(Effect.gen(function*() {
      const entity = outcome.undo.entity
      const collection = yield* steps
      const payload = yield* open(collection, step, entity)
      yield* write(collection, step, { ...payload, outcome: StepBarrier.encodeOutcome(outcome) })
      if (payload.operation !== "delete") {
        yield* Effect.ignore(
          unmark(
            entity,
            stepKey(outcome.undo.id),
            outcome.records.map((r) => r["id"]).filter((id) => typeof id === "string")
          )
        )
      }
    }))

  const used: Barrier<undefined>["used"] = (_, sagaId) =>
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
   * The answer for a claim without an outcome: the records carrying the step's marker are what it applied (deleted
   * ones from the entry's images), the rest is fenced, and the result (an outcome, or a fence when nothing applied)
   * is recorded.
   */
  const settle = (context: StepContext): Effect.Effect<Option.Option<Outcome>, StoreError> =>
    fresh(Effect.gen(function*() {
      const collection = yield* steps
      const found = yield* read(collection, context)
      if (Option.isNone(found) || found.value.payload.kind === "fence") return Option.none()
      const payload = found.value.payload
      if (payload.outcome !== undefined) {
        return Option.some(yield* StepBarrier.decodeOutcome(payload.outcome, where(payload.entity)))
      }
      const fence = () => Effect.as(write(collection, context, { ...payload, kind: "fence" }), Option.none<Outcome>())
      // never announced: the write had not started: nothing applied
      if (payload.undo === undefined || payload.entity === undefined) return yield* fence()
      const entity = payload.entity
      const key = stepKey(payload.undo)
      const target = yield* catalog.open(entity)
      const records: Array<Readonly<Record<string, unknown>>> = []
      const actions: Array<Undo.UndoAction> = []
      if (Option.isSome(target)) {
        const ids = [...new Set([...(payload.keys ?? []), ...(payload.ids ?? [])])]
        const current = new Map(
          (ids.length === 0 ? [] : yield* conn.read(entity, target.value, { ids, where: undefined })).map((s) => [
            s.record.id,
            s
          ])
        )
        const take = (stored: Stored) =>
          Option.match(actionOf(stored, key), {
            onNone: () => false,
            onSome: (action) => {
              records.push(toImage(stored.record))
              actions.push(action)
              return true
            }
          })
        const taken = new Set(ids.filter((id) => current.has(id) && take(current.get(id)!)))
        // adds that never arrived: a tombstone takes their id, and Chroma drops the late add
        const missing = (payload.keys ?? []).filter((id) => !current.has(id))
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
        const unwritten = (payload.ids ?? []).filter((id) => !taken.has(id) && current.has(id))
        if (unwritten.length > 0) {
          yield* conn.post("fence", entity, target.value.id, "update", {
            ids: unwritten,
            metadatas: unwritten.map(() => ({ [key]: "fence" }))
          })
        }
        if (payload.operation === "delete") {
          const images = new Map((payload.images ?? []).map((image) => [image.id, image]))
          for (const id of payload.ids ?? []) {
            const image = images.get(id)
            if (!current.has(id) && image !== undefined) {
              records.push(toImage(userPart(image)))
              actions.push({ _tag: "Reinsert", image: toImage(image) })
            }
          }
        }
      }
      if (actions.length === 0) return yield* fence()
      const outcome: Outcome = {
        records,
        affected: records.length,
        undo: Undo.make(engine, entity, actions, payload.undo)
      }
      yield* write(collection, context, { ...payload, outcome: StepBarrier.encodeOutcome(outcome) })
      return Option.some(outcome)
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
      return old.ids.length
    })

  return { claim, record, used, settle: (_, step) => settle(step), announce, prune }
}
