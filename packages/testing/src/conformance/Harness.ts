/**
 * What an adapter package gives the conformance suite: its Store on a real server, and a way to reset and
 * read an entity without going through the port.
 *
 * @since 0.1.0
 */
import type { Operation, Store } from "@polysaga/store"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * The suite's record. Every adapter stores it in its own shape (`toRow`) and reads it back (`fromRow`).
 * `qty` and `price` are never null; `note` may be; `tags` is an array of strings.
 *
 * @since 0.1.0
 */
export type Fixture = {
  readonly id: string
  readonly name: string
  readonly qty: number
  readonly price: number
  readonly tags: ReadonlyArray<string>
  readonly active: boolean
  readonly note: string | null
}

/**
 * @since 0.1.0
 */
export interface HarnessService {
  /** The store under test. Its `maxRecordsPerOperation` must be at most 100 so the bound can be tested. */
  readonly store: Store
  /** Makes `entity` exist and be empty, able to hold fixtures (a table with the fixture's columns, …). */
  readonly reset: (entity: string) => Effect.Effect<void, unknown>
  /**
   * Every record of `entity`, read with the store's own client (not the port), in a stable JSON form that
   * includes everything an undo must restore (keys, generated ids, all fields).
   */
  readonly snapshot: (entity: string) => Effect.Effect<ReadonlyArray<unknown>, unknown>
  /** A fixture as the record this store takes in `data` (defaults to the fixture itself). */
  readonly toRow?: (fixture: Fixture) => Operation.Row
  /** A record returned by the store (or one snapshot entry) back to the fixture it holds. */
  readonly fromRow: (row: unknown) => Fixture
  /**
   * One field of a record the store returned, possibly reduced by a select's `fields` (`undefined` when it is
   * not there); defaults to `row[field]`.
   */
  readonly fieldOf?: (row: unknown, field: string) => unknown
}

/**
 * @since 0.1.0
 */
export interface Harness {
  /** The adapter's name, used in test titles. */
  readonly name: string
  /** The source type operations use (`database`, `graph`, `vector`). */
  readonly sourceType: Operation.SourceType
  /** Builds the service on the real store; scoped so clients are released. */
  readonly make: Effect.Effect<HarnessService, unknown, Scope.Scope>
  /** Does the store reject unknown entities and fields (`EntityNotFound` / `FieldNotFound`)? */
  readonly schemaful: boolean
  /**
   * Can an undo's relative inverse race other writers on the same record without losing an update? True
   * for stores with atomic per-record updates; adapters where it is false must say so in their README.
   */
  readonly atomicRelativeUndo: boolean
  /** Property runs per store-backed property (default 25). */
  readonly numRuns?: number
}
