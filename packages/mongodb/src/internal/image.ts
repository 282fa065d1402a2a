/**
 * The adapter's JSON form of documents and values in undo records: relaxed Extended JSON (`BSON.EJSON` of the
 * driver), so ObjectIds are `{ "$oid": hex }`, dates `{ "$date": iso }`, numbers plain numbers. It survives
 * `Schema.encode` / `JSON.stringify` / `JSON.parse` / `Schema.decode` and turns back into the same BSON
 * values in another process.
 */
import type { Undo } from "@polysaga/store"
import { BSON } from "mongodb"
import { markerField } from "./check.js"

type Document = Record<string, unknown>

/**
 * Stands for "the field is missing" in a `Restore` (the port's restore holds JSON only; `null` is a value in
 * MongoDB, distinct from a missing field). A value written through the port can never look like this (nested
 * keys may not start with `$`).
 */
export const absent: Undo.Json = { $polysaga: "absent" }

/** A document without the undo marker: how records and images leave the adapter. */
export const strip = (doc: Document): Document => {
  if (!(markerField in doc)) return doc
  const { [markerField]: _, ...rest } = doc
  return rest
}

/** A document as an image. */
export const encode = (doc: Document): Undo.Image => BSON.EJSON.serialize(strip(doc), { relaxed: true }) as Undo.Image

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
