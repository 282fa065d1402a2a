/**
 * The port every adapter implements. Methods have no requirements (`R = never`): an adapter resolves its
 * client in its Layer.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Capabilities } from "./Capabilities.js"
import type { Operation } from "./Operation.js"
import type { StoreError } from "./StoreError.js"
import { UndoRecord } from "./Undo.js"

/**
 * Where a store call comes from: the saga and step it belongs to (adapters with a barrier use them).
 *
 * @since 0.1.0
 */
export interface StepContext {
  readonly sagaId: string
  readonly stepId: string
}

/**
 * What a write produced: the records (inserted / upserted as stored, updated as after the update, deleted as
 * before the delete, selected), the number affected, and the undo record that reverts it.
 *
 * @since 0.1.0
 */
export interface Outcome {
  readonly records: ReadonlyArray<Readonly<Record<string, unknown>>>
  readonly affected: number
  readonly undo: UndoRecord
}

/**
 * @since 0.1.0
 */
export interface Store {
  /** The engine's name, e.g. `postgres`; undo records carry it. */
  readonly engine: string
  readonly capabilities: Capabilities
  /**
   * Checks an operation against the capabilities and the store's catalog (entity and fields exist, types
   * fit) without writing anything. `path` prefixes error paths.
   */
  readonly validate: (operation: Operation, path?: string) => Effect.Effect<void, StoreError>
  /**
   * Runs one operation, atomically with the read of its before-images where the store allows it.
   * `update` / `delete` matching nothing fail with `NoMatch` unless `options.allowNoMatch`.
   */
  readonly execute: (operation: Operation, context?: StepContext) => Effect.Effect<Outcome, StoreError>
  /**
   * Applies an undo record. Idempotent. Fails with `Conflict` when a record no longer holds this step's
   * after-image (another writer changed it): nothing is overwritten.
   */
  readonly undo: (undo: UndoRecord) => Effect.Effect<void, StoreError>
  /** Checks the store is reachable. */
  readonly ping: Effect.Effect<void, StoreError>
  /**
   * The step barrier, for stores that can write a marker atomically with a step (PostgreSQL, Neo4j). When a
   * store has one, `execute` with a `context`:
   * - records `(sagaId, stepId)` and the outcome in the same local transaction as the write;
   * - called again for a step that already applied, returns the recorded outcome without applying it twice
   *   (and fails with `Conflict` when the step comes back with another operation: `Operation.fingerprint`);
   * - called for a step that was fenced (see below), fails with `Conflict` and writes nothing.
   *
   * `resolve(context)` answers, after a crash, whether a step whose outcome the journal does not know applied:
   * `Some(outcome)` when it did (its undo record is then applied as usual); `None` when it did not — and then
   * it fences the step in the same transaction, so a late `execute` of it is refused. Absent on stores without a
   * barrier (their undo is idempotent instead; see each adapter's guarantees).
   */
  readonly resolve?: ((context: StepContext) => Effect.Effect<Option.Option<Outcome>, StoreError>) | undefined
  /**
   * Retention of the store's own bookkeeping: deletes barrier records and applied-undo markers older than
   * `olderThan`, and says how many. Keep it at least as long as the journal keeps finished sagas: a step retried
   * after its barrier record is gone would apply again. Absent on stores without such records.
   */
  readonly prune?: ((olderThan: Duration.DurationInput) => Effect.Effect<number, StoreError>) | undefined
}

/**
 * An `Outcome` as a step barrier records it (records as JSON): `Schema.encode` it with the step, `decode` it
 * when the step runs again or is resolved.
 *
 * @since 0.1.0
 */
export const RecordedOutcome = Schema.Struct({
  records: Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  affected: Schema.Number,
  undo: UndoRecord
})
