/**
 * Per-document write serialization inside one store instance.
 *
 * FerretDB v1 runs an update as "query, apply the operators in the proxy, write the document back by `_id`":
 * two concurrent writes to one document can lose one of them (`$inc` included, and a filter-guarded write
 * is no compare-and-set). MongoDB applies each single-document write atomically. When the server is FerretDB
 * (or `serializeWrites: true`), the adapter runs its own writes to one document one at a time, so writes made
 * through one store instance are never lost; writes from other processes are not covered.
 */
import { KeyedLock } from "@polysaga/store"
import * as Effect from "effect/Effect"
import { canonical, encodeField } from "./image.js"

/** Runs `effect` holding the lock of the document `id` of `entity`. */
export type Lock = <A, E>(entity: string, id: unknown, effect: Effect.Effect<A, E>) => Effect.Effect<A, E>

/** No serialization: the server makes each single-document write atomic. */
export const none: Lock = (_entity, _id, effect) => effect

/** A lock per document, dropped when nobody holds or waits for it. */
export const perDocument = (): Lock => {
  const lock = KeyedLock.make()
  return (entity, id, effect) => Effect.suspend(() => lock(`${entity}/${canonical(encodeField({ id }, "id"))}`, effect))
}
