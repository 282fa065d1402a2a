/**
 * The conformance harness of the MongoDB store: the store on the FerretDB of `pnpm stack:up` (or any MongoDB,
 * `POLYSAGA_MONGO_URL`), database `polysaga_test`, and a raw client of its own for `reset` / `snapshot`.
 */
import type { Conformance } from "@polysaga/testing/conformance"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { BSON, MongoClient } from "mongodb"
import * as MongoStore from "../src/index.js"

export const database = "polysaga_test"

export const url = (): string => {
  const url = process.env["POLYSAGA_MONGO_URL"]
  if (url === undefined) throw new Error("POLYSAGA_MONGO_URL is not set: run `pnpm stack:up` first")
  return url
}

/** A raw client for tests, closed with the scope. */
export const rawClient = Effect.acquireRelease(
  Effect.promise(() => new MongoClient(url(), { serverSelectionTimeoutMS: 10_000 }).connect()),
  (client) => Effect.promise(() => client.close())
)

export const storeOf = (maxRecordsPerOperation: number) =>
  MongoStore.make({ url: Redacted.make(url()), database, maxRecordsPerOperation })

/** Every document, in relaxed Extended JSON (so `_id` is `{ "$oid": hex }`), sorted. */
export const snapshotOf = (client: MongoClient, entity: string) =>
  Effect.promise(async () => {
    const docs = await client.db(database).collection(entity).find({}).toArray()
    return docs.map((d) => BSON.EJSON.serialize(d, { relaxed: true })).sort((a, b) =>
      JSON.stringify(a) < JSON.stringify(b) ? -1 : 1
    )
  })

export const harness: Conformance.Harness = {
  name: "mongodb (FerretDB)",
  sourceType: "database",
  schemaful: false,
  atomicRelativeUndo: true,
  numRuns: Number(process.env["POLYSAGA_NUM_RUNS"] ?? 25),
  make: Effect.gen(function*() {
    const store = yield* storeOf(20)
    const client = yield* rawClient
    return {
      store,
      reset: (entity) => Effect.promise(() => client.db(database).collection(entity).deleteMany({})),
      snapshot: (entity) => snapshotOf(client, entity),
      fromRow: (row) => {
        const r = row as Record<string, any>
        return {
          id: r.id,
          name: r.name,
          qty: r.qty,
          price: r.price,
          tags: r.tags,
          active: r.active,
          note: r.note
        }
      }
    }
  })
}
