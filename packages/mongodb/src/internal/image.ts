/**
 * The adapter's JSON form of documents and values in undo records: relaxed Extended JSON (`BSON.EJSON` of the
 * driver), so ObjectIds are `{ "$oid": hex }`, dates `{ "$date": iso }`, numbers plain numbers. It survives
 * `Schema.encode` / `JSON.stringify` / `JSON.parse` / `Schema.decode` and turns back into the same BSON
 * values in another process.
 */
import type { Undo } from "@polysaga/store"
import { BSON } from "mongodb"

type Document = Record<string, unknown>

/**
 * Stands for "the field is missing" in a `Restore` (the port's restore holds JSON only; `null` is a value in
 * MongoDB, distinct from a missing field). A value written through the port can never look like this (nested
 * keys may not start with `$`).
 */
export const absent: Undo.Json = { $polysaga: "absent" }

/** Fields this adapter keeps in documents for itself (undo and step markers); never a user's field. */
export const reservedPrefix = "_polysaga"

/** A document without the adapter's markers: how records and images leave the adapter. */
export const strip = (doc: Document): Document => {
  const own = Object.keys(doc).filter((key) => key.startsWith(reservedPrefix))
  if (own.length === 0) return doc
  const rest = { ...doc }
  for (const key of own) delete rest[key]
  return rest
}

/** A document as an image. */
export const encode = (doc: Document): Undo.Image => BSON.EJSON.serialize(strip(doc), { relaxed: true }) as Undo.Image

/**
 * A whole document as an image, the adapter's markers included: what a delete keeps to re-insert, so that its undo
 * restores the document exactly as it was.
 */
export const encodeWhole = (doc: Document): Undo.Image => BSON.EJSON.serialize(doc, { relaxed: true }) as Undo.Image

/** An image as a document. */
export const decode = (image: Undo.Image): Document => BSON.EJSON.deserialize(image, { relaxed: true }) as Document

/** A field of a document in the JSON form (`absent` when missing). */
export const encodeField = (doc: Document, field: string): Undo.Json =>
  field in doc && doc[field] !== undefined ? (encode({ v: doc[field] })["v"] ?? null) : absent

/** A field of an image (`absent` when missing). */
export const fieldOf = (image: Undo.Image, field: string): Undo.Json => field in image ? image[field]! : absent

/** A JSON-form value as a BSON value. */
export const decodeValue = (json: Undo.Json): unknown => decode({ v: json })["v"]

/** A JSON form with sorted keys (a journal may not keep key order, e.g. PostgreSQL `jsonb`). */
export const canonical = (u: unknown): string =>
  JSON.stringify(u, (_, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
      : v)

/** Same value in the JSON form, whatever the key order of embedded documents. */
export const same = (a: Undo.Json, b: Undo.Json): boolean => canonical(a) === canonical(b)

export const isAbsent = (json: Undo.Json): boolean => same(json, absent)

const isOperatorLike = (v: unknown): boolean =>
  typeof v === "object" && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype &&
  Object.keys(v).some((k) => k.startsWith("$"))

/**
 * The query of one document by `_id`, with more conditions in `$and`. The `_id` is matched by plain equality at the
 * top level (`{ _id: v }`), which FerretDB pushes down to its index (`{ _id: { $eq: v } }` or an `_id` inside
 * `$and` scans the collection); only a value that reads as an operator document is matched with `$eq`.
 */
export const byId = (id: unknown, ...more: ReadonlyArray<Record<string, unknown>>): Record<string, unknown> => {
  const rest = more.filter((q) => Object.keys(q).length > 0)
  return {
    _id: isOperatorLike(id) ? { $eq: id } : id,
    ...(rest.length === 0 ? {} : { $and: rest })
  }
}
