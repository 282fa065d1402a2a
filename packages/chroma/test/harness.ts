import type { Conformance } from "@polysaga/testing/conformance"
import { ChromaClient } from "chromadb"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as ChromaStore from "../src/index.js"
import { fenceKey, stepPrefix } from "../src/internal/connection.js"

export const url = process.env.POLYSAGA_CHROMA_URL ?? "http://127.0.0.1:58000"

/** A client of the tests' own, to reset and read collections without the port. */
export const rawClient = (): ChromaClient => {
  const u = new URL(url)
  return new ChromaClient({ host: u.hostname, port: Number(u.port || 80), ssl: u.protocol === "https:" })
}

export const config = (extra: Partial<ChromaStore.ChromaStoreConfig> = {}): ChromaStore.ChromaStoreConfig => ({
  url: Redacted.make(url),
  dimension: 3,
  maxRecordsPerOperation: 20,
  ...extra
})

export const reset = (client: ChromaClient, entity: string) =>
  Effect.promise(async () => {
    try {
      await client.deleteCollection({ name: entity })
    } catch {
      // absent
    }
  })

/**
 * Every record of a collection, with its vector, document and metadata by id: the adapter's undo markers included,
 * not the step markers (`polysaga:step:…`), which the barrier keeps on the records a step wrote until `prune`, nor
 * fence tombstones (`polysaga:fence`), which a resolution leaves until `prune` and no read returns (see the README's
 * step barrier).
 */
export const snapshot = (client: ChromaClient, entity: string) =>
  Effect.promise(async () => {
    let collection
    try {
      collection = await client.getCollection({ name: entity })
    } catch {
      return []
    }
    const rows = (await collection.get({ include: ["embeddings", "documents", "metadatas"] })).rows()
    return rows
      .filter((r) => r.metadata?.[fenceKey] !== true)
      .map((r) => ({
        id: r.id,
        vector: r.embedding ?? null,
        document: r.document ?? null,
        metadata: Object.fromEntries(Object.entries(r.metadata ?? {}).filter(([key]) => !key.startsWith(stepPrefix)))
      }))
      .sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  })

/** The suite's fixture as a Chroma record: tags (an array, which Chroma metadata cannot hold) as a JSON string. */
export const toRow = (f: Conformance.Fixture) => ({
  id: f.id,
  vector: [1, f.qty, f.price],
  metadata: {
    name: f.name,
    qty: f.qty,
    price: f.price,
    tags: JSON.stringify(f.tags),
    active: f.active,
    ...(f.note === null ? {} : { note: f.note })
  }
})

export const fromRow = (row: unknown): Conformance.Fixture => {
  const r = row as { id: string; metadata: Record<string, unknown> }
  const m = r.metadata
  return {
    id: r.id,
    name: m.name as string,
    qty: m.qty as number,
    price: m.price as number,
    tags: JSON.parse(m.tags as string) as Array<string>,
    active: m.active as boolean,
    note: (m.note ?? null) as string | null
  }
}

/** One field of a record a select returned: `id` at the top, everything else in its metadata (`tags` as JSON). */
export const fieldOf = (row: unknown, field: string): unknown => {
  const r = row as { id: string; metadata?: Record<string, unknown> }
  if (field === "id") return r.id
  const value = r.metadata?.[field]
  return field === "tags" && typeof value === "string" ? JSON.parse(value) : value
}
