/**
 * Collections: the entity name rules, their handles (opened or created once per store, forgotten when Chroma says
 * the collection is gone), and the dimension their vectors must have.
 */
import { Identifier, Store, type StoreError } from "@polysaga/store"
import type { Collection } from "chromadb"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type Connection, engine } from "./connection.js"

/** Chroma's distance functions. */
export type Distance = "l2" | "cosine" | "ip"

/** Collection metadata key where this adapter records the dimension of a collection it created. */
const dimensionKey = "polysaga_dimension"

/** Chroma's own rule for collection names, on top of the identifier pattern. */
const collectionName = /^[A-Za-z0-9](?:[A-Za-z0-9_]*[A-Za-z0-9])?$/

export const checkEntity = (entity: string, path: string): Effect.Effect<string, StoreError> =>
  Identifier.check(entity, "entity name", path).pipe(
    Effect.filterOrFail(
      (name) => name.length >= 3 && collectionName.test(name),
      () =>
        Store.fail(
          engine,
          "InvalidIdentifier",
          `invalid entity name ${JSON.stringify(entity)}: a Chroma collection name has at least 3 characters and ` +
            "starts and ends with a letter or digit",
          { entity, path }
        )
    )
  )

/** Passed to the client so it never resolves a collection's embedding function: this adapter sends vectors. */
const noEmbedding = {
  name: "polysaga-vectors-only",
  generate: () => Promise.reject(new Error("@polysaga/chroma writes vectors; it embeds nothing"))
}

/** Vectors an operation writes, with the paths errors name. */
export type Vectors = ReadonlyArray<{ readonly vector: ReadonlyArray<number>; readonly path: string }>

/** Fails when the vectors do not all have the known dimension (or, unknown, the first one's); returns it. */
export const checkDimensions = (
  entity: string,
  known: number | undefined,
  vectors: Vectors
): Effect.Effect<number | undefined, StoreError> => {
  const dimension = known ?? vectors[0]?.vector.length
  const wrong = vectors.find((v) => v.vector.length !== dimension)
  return wrong === undefined
    ? Effect.succeed(dimension)
    : Effect.fail(
      Store.fail(engine, "Validation", `expected a ${dimension}-dimensional vector, got ${wrong.vector.length}`, {
        entity,
        path: wrong.path
      })
    )
}

export interface Catalog {
  /** The collection's handle (kept once opened), or `None` when there is no such collection. */
  readonly open: (entity: string) => Effect.Effect<Option.Option<Collection>, StoreError>
  /** Creates the collection (or opens it, when someone else created it meanwhile). */
  readonly create: (entity: string, dimension: number) => Effect.Effect<Collection, StoreError>
  /** The dimension a collection's vectors must have, when it is known. */
  readonly dimensionOf: (
    entity: string,
    collection: Option.Option<Collection>
  ) => Effect.Effect<number | undefined, StoreError>
  /** Opens the collection (creating it for a write that adds records) and checks the vectors' dimension. */
  readonly target: (
    entity: string,
    vectors: Vectors,
    createIfMissing: boolean
  ) => Effect.Effect<Option.Option<Collection>, StoreError>
  /** Forgets the kept handle of a collection (all of them without `entity`). */
  readonly forget: (entity?: string) => void
  /**
   * Runs `effect`; when it fails with `EntityNotFound` while handles are kept (a collection was dropped, perhaps
   * created again) and `again()` allows, forgets them and runs `effect` once more.
   */
  readonly refreshing: <A>(
    effect: Effect.Effect<A, StoreError>,
    again?: () => boolean
  ) => Effect.Effect<A, StoreError>
}

export const make = (
  conn: Connection,
  options: {
    readonly distance: Distance
    readonly dimension: number | undefined
    readonly dimensions: Readonly<Record<string, number>>
  }
): Catalog => {
  const handles = new Map<string, Collection>()
  const keep = (entity: string) => (collection: Collection) => Effect.sync(() => void handles.set(entity, collection))

  const open = (entity: string): Effect.Effect<Option.Option<Collection>, StoreError> =>
    Effect.suspend(() => {
      const kept = handles.get(entity)
      return kept !== undefined ? Effect.succeed(Option.some(kept)) : conn.call(
        `open collection ${entity}`,
        entity,
        () => conn.client.getCollection({ name: entity, embeddingFunction: noEmbedding })
      ).pipe(
        Effect.tap(keep(entity)),
        Effect.map(Option.some),
        Effect.catchIf((e) => e.reason === "EntityNotFound", () => Effect.succeed(Option.none()))
      )
    })

  const create = (entity: string, dimension: number): Effect.Effect<Collection, StoreError> =>
    conn.call(`create collection ${entity}`, entity, () =>
      conn.client.createCollection({
        name: entity,
        embeddingFunction: null,
        configuration: { hnsw: { space: options.distance } },
        metadata: { [dimensionKey]: dimension }
      })).pipe(
        Effect.tap(keep(entity)),
        // created by someone else in the meantime
        Effect.catchIf(
          (e) => e.reason === "Constraint",
          () =>
            Effect.flatMap(
              open(entity),
              Option.match({ onNone: () => create(entity, dimension), onSome: Effect.succeed })
            )
        )
      )

  const dimensionOf = (entity: string, collection: Option.Option<Collection>) =>
    Effect.gen(function*() {
      const configured = options.dimensions[entity] ?? options.dimension
      if (Option.isNone(collection)) return configured
      const stored = collection.value.metadata?.[dimensionKey]
      if (typeof stored === "number") {
        if (configured !== undefined && configured !== stored) {
          return yield* Store.fail(
            engine,
            "Validation",
            `collection ${entity} holds ${stored}-dimensional vectors but the store is configured for ${configured}`,
            { entity }
          )
        }
        return stored
      }
      if (configured !== undefined) return configured
      const one = yield* conn.call("get", entity, () => collection.value.get({ limit: 1, include: ["embeddings"] }))
      return one.embeddings[0]?.length
    })

  const target = (entity: string, vectors: Vectors, createIfMissing: boolean) =>
    Effect.gen(function*() {
      const collection = yield* open(entity)
      const dimension = yield* checkDimensions(entity, yield* dimensionOf(entity, collection), vectors)
      if (Option.isSome(collection) || !createIfMissing || dimension === undefined) return collection
      return Option.some(yield* create(entity, dimension))
    })

  const forget: Catalog["forget"] = (entity) => entity === undefined ? handles.clear() : void handles.delete(entity)

  const refreshing: Catalog["refreshing"] = (effect, again = () => true) =>
    Effect.catchIf(
      effect,
      (e) => e.reason === "EntityNotFound" && handles.size > 0 && again(),
      () => Effect.suspend(() => (forget(), effect))
    )

  return { open, create, dimensionOf, target, forget, refreshing }
}
