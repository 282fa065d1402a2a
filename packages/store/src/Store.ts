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
import * as internal from "./internal/kernel.js"
import type { Operation } from "./Operation.js"
import type { StoreError, StoreErrorReason } from "./StoreError.js"
import { type UndoAction, UndoRecord } from "./Undo.js"

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
   * The step barrier, present exactly when the engine gives `Store.make` a {@link Barrier}. When a store has
   * one, `execute` with a `context`:
   * - records `(sagaId, stepId)` (and the outcome, where the store can hold it) in the same atomic unit as the
   *   write: the step's local transaction (PostgreSQL, Neo4j) or each record's single write (a marker);
   * - called again for a step that already applied, returns the recorded outcome without applying it twice
   *   (and fails with `Conflict` when the step comes back with another operation: `Operation.fingerprint`);
   * - called for a step that was fenced (see below), fails with `Conflict` and writes nothing;
   * - called for a step an earlier attempt claimed without recording an outcome (a marker store's write cut off),
   *   fails with `Conflict` and `inDoubt: true`: it is resolved, never applied a second time;
   * - failing with a lost connection or a timeout after the request was sent, fails `inDoubt: true`.
   *
   * `resolve(context, operation)` answers, after a crash, whether a step whose outcome the journal does not know
   * applied: `Some(outcome)` when it did (its undo record is then applied as usual); `None` when it did not — and
   * then it fences the step in the same transaction, so a late `execute` of it is refused. On a marker store a step
   * cut off mid-write is answered from its markers (what applied), the rest fenced ({@link Barrier.settle}).
   * `operation` is the step's operation as it was executed (the warehouse passes the journaled one): a store whose
   * keyed writes carry their whole proof in the records they write ({@link Barrier.keyed}: Chroma) reads those
   * records to answer such a step, and fails without the operation (it cannot tell: never "not applied" by guess).
   * Stores that keep a barrier row per step ignore it. Absent on stores without a barrier (their undo is idempotent
   * instead; see each adapter's guarantees).
   */
  readonly resolve?:
    | ((context: StepContext, operation?: Operation) => Effect.Effect<Option.Option<Outcome>, StoreError>)
    | undefined
  /**
   * Whether the step barrier holds a record of any step of saga `sagaId` (a step that ran, or a fence): the saga
   * id was used before, even when the journal no longer knows it. A client-chosen id found here is refused before
   * anything runs, instead of being answered from the old record. Present when the engine's barrier can tell.
   */
  readonly used?: ((sagaId: string) => Effect.Effect<boolean, StoreError>) | undefined
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

/**
 * What an engine's write produced: the records (see {@link Outcome}), how many were affected (default: the number
 * of records) and the undo actions that revert it. `Store.make` wraps the actions in the undo record.
 *
 * @since 0.1.0
 * @category kernel
 */
export interface Written {
  readonly records: ReadonlyArray<Readonly<Record<string, unknown>>>
  readonly affected?: number | undefined
  readonly actions: ReadonlyArray<UndoAction>
}

/**
 * Where an error happened, for {@link Kernel.fail}: the kernel fills in the engine (and the entity of the call).
 *
 * @since 0.1.0
 * @category kernel
 */
export interface ErrorOptions {
  readonly entity?: string | undefined
  readonly path?: string | undefined
  readonly cause?: unknown
  /** Whether the write may have applied (see `StoreError.inDoubt`). */
  readonly inDoubt?: boolean | undefined
}

/**
 * What the kernel hands an engine's `write`: the step (with the fingerprint of its operation) when the call has
 * one and the store has a barrier, the one bound rule, and the error constructor.
 *
 * @since 0.1.0
 * @category kernel
 */
export interface WriteContext {
  /** The step this write belongs to; a store whose barrier is a marker in each record writes it with the record. */
  readonly step: Step | undefined
  /**
   * How many matching records to read at most: the bound plus one for `update`, `delete` and a `select` without
   * `limit` (so {@link matched} can tell "too many"), the `limit` of a `select` that has one.
   */
  readonly readLimit: number
  /**
   * Call with the number of records a filter matched, before writing: fails with `TooManyRecords` past the
   * bound, with `NoMatch` when nothing matched an `update` / `delete` without `allowNoMatch`.
   */
  readonly matched: (count: number) => Effect.Effect<void, StoreError>
  /** The kernel's error constructor, with the engine and the operation's entity filled in. */
  readonly fail: (reason: StoreErrorReason, message: string, options?: ErrorOptions) => StoreError
  /**
   * The error a write fails with when its own reads find the step's proof already there (a keyed write's markers,
   * {@link Barrier.keyed}): nothing is written, and the kernel answers from `mark` as from a claim that found it (a
   * recorded outcome, a fence refused, another operation refused, a mark without outcome in doubt).
   */
  readonly recorded: (mark: Mark) => StoreError
}

/**
 * A step as the kernel hands it to an engine: its context and `Operation.fingerprint` of its operation.
 *
 * @since 0.1.0
 * @category kernel
 */
export interface Step extends StepContext {
  readonly fingerprint: string
  /**
   * The id of the undo record this attempt's outcome will carry, decided before the claim: a marker store names
   * its markers after it (so applying the undo removes them in the same write) and keeps it with the claim.
   */
  readonly undoId: string
}

/**
 * What a barrier holds for a step: claimed by the step's write (`action`, with the operation's fingerprint) or
 * by `resolve` when it found nothing (`fence`), and the outcome when the store recorded one.
 *
 * @since 0.1.0
 * @category kernel
 */
export interface Mark {
  readonly kind: "action" | "fence"
  readonly fingerprint: string | null
  readonly outcome: Option.Option<Outcome>
}

/**
 * How an engine stores barrier records. It says how, never what they mean: the kernel decides (a fenced step is
 * refused, a step id with another operation is refused, an applied step answers with its recorded outcome).
 *
 * @since 0.1.0
 * @category kernel
 */
export interface Barrier<Unit> {
  /**
   * In `unit`, makes the step's mark `kind` when it has none (atomically: two claims never both find nothing)
   * and returns what it held before. A store whose marker lives in each record's write claims `action` by
   * reading the markers (the write then carries them, see {@link WriteContext.step}) and `fence` by writing a
   * fence record that writes carrying a marker respect.
   */
  readonly claim: (
    unit: Unit,
    step: StepContext,
    kind: "action" | "fence",
    fingerprint: string | null
  ) => Effect.Effect<Option.Option<Mark>, StoreError>
  /**
   * In `unit`, after the write: keeps the outcome with the step's mark. Absent where the store cannot keep it, and
   * where the store claims with {@link claimWithOutcome}.
   */
  readonly record?: ((unit: Unit, step: StepContext, outcome: Outcome) => Effect.Effect<void, StoreError>) | undefined
  /**
   * A transactional store's one barrier request per step: in `unit`, **after** the write, claims the step for
   * `action` together with its outcome when it has no mark, and returns the mark it held before. When it held one,
   * the kernel fails the unit (so the write rolls back) and answers from that mark as a claim before the write would
   * have (a recorded outcome, or a refusal). With it the kernel sends no claim before the write and no `record`
   * after; a write that fails asks {@link read} whether an earlier attempt applied the step. The claim is still in
   * the write's atomic unit: a late arrival after `resolve` fenced the step finds the fence and rolls back. A marker
   * store (MongoDB, Chroma) may give it too: its write then claims the step itself, with what it will touch, before
   * its first record write, and `claimWithOutcome` records the outcome on that claim (or claims with the outcome when
   * the write had nothing to claim for) — a step costs its reads, one claim, its writes and at most this request.
   */
  readonly claimWithOutcome?:
    | ((unit: Unit, step: Step, outcome: Outcome) => Effect.Effect<Option.Option<Mark>, StoreError>)
    | undefined
  /**
   * The step's mark, read on its own (required with {@link claimWithOutcome}). Given the attempt's {@link Step}: a
   * store whose write claims the step itself answers `None` for this attempt's own unfinished claim, so the write's
   * own error stands.
   */
  readonly read?: ((step: Step) => Effect.Effect<Option.Option<Mark>, StoreError>) | undefined
  /** In `unit`: whether any step of saga `sagaId` has a mark (see {@link Store.used}). */
  readonly used?: ((unit: Unit, sagaId: string) => Effect.Effect<boolean, StoreError>) | undefined
  /**
   * A marker store whose writes carry the step's whole proof in the records they write, with no entry claimed
   * before (an insert, an upsert by id — their ids known from the operation —, and on Chroma every write but a
   * delete, its records found by their markers): such a step costs its reads and its writes, nothing more.
   * - `undoId(context, operation)`: for such an operation, the undo id of the step, derived from the step (and the
   *   ids it generates, the same way), so that `resolve` can name the step's markers and the ids it writes from the
   *   step and its operation alone; `undefined` for other operations (the kernel draws an id per attempt). The
   *   write reads its records first and fails with {@link WriteContext.recorded} when they hold the step's proof.
   * - `resolve(unit, step, operation)`: `Store.resolve` of such a step: reads the records the operation writes (or
   *   carry the step's marker); those carrying it applied (`Some`, the outcome read from them), what is left is
   *   fenced (an add's id occupied, a record to change marked, a fence the step's next attempt reads) so a late write
   *   or a retry applies nothing there; `None` when nothing applied.
   */
  readonly keyed?: {
    readonly undoId: (context: StepContext, operation: Operation) => string | undefined
    readonly resolve: (
      unit: Unit,
      step: Step,
      operation: Operation
    ) => Effect.Effect<Option.Option<Outcome>, StoreError>
  } | undefined
  /**
   * A marker store's answer for a step whose claim holds no outcome (its write was cut off: a lost reply, a killed
   * process). Reads the step's markers: what applied is the outcome (`Some`, recorded with the claim so later calls
   * answer it); what did not is fenced (an insert's pre-decided key occupied, a record to change marked so the late
   * write no longer matches); `None` when nothing applied (the claim becomes a fence). Never "not applied" by guess.
   * Absent on transactional stores, where a claim without an outcome cannot be seen.
   */
  readonly settle?: ((unit: Unit, step: StepContext) => Effect.Effect<Option.Option<Outcome>, StoreError>) | undefined
}

/**
 * An engine's primitives, from which {@link Store.make} builds the `Store`. `Prepared` is what the engine's
 * catalog check yields for a write (a table, a compiled plan); `Unit` is its local atomic unit (a transaction).
 *
 * @since 0.1.0
 * @category kernel
 */
export interface Engine<Prepared, Unit> {
  /** The engine's name (`postgres`); undo records carry it. */
  readonly name: string
  readonly capabilities: Capabilities
  /**
   * Checks what the model cannot (the entity and its fields exist, the shape the engine needs) after the kernel's
   * own checks, and prepares the write. `path` prefixes error paths.
   */
  readonly prepare: (operation: Operation, path: string) => Effect.Effect<Prepared, StoreError>
  /**
   * Checks `Store.validate` makes beyond `prepare` that need the server (a vector collection's dimension, say),
   * where the write makes them itself as it goes, so `execute` does not pay for them twice.
   */
  readonly validate?:
    | ((prepared: Prepared, operation: Operation, path: string) => Effect.Effect<void, StoreError>)
    | undefined
  /** Runs `use` as one local atomic unit (a transaction; as is on a store without one). */
  readonly transaction: <A>(
    entity: string | undefined,
    use: (unit: Unit) => Effect.Effect<A, StoreError>
  ) => Effect.Effect<A, StoreError>
  /** Runs the operation in `unit`, reading the before-images it needs there. */
  readonly write: (
    unit: Unit,
    prepared: Prepared,
    operation: Operation,
    context: WriteContext
  ) => Effect.Effect<Written, StoreError>
  /** Applies a non-empty undo record of this engine, idempotently (see {@link Store.undo}). */
  readonly undo: (
    undo: UndoRecord,
    fail: (reason: StoreErrorReason, message: string, options?: ErrorOptions) => StoreError
  ) => Effect.Effect<void, StoreError>
  readonly ping: Effect.Effect<void, StoreError>
  /** The step barrier, where the engine can keep one. */
  readonly barrier?: Barrier<Unit> | undefined
  /** Retention of the engine's bookkeeping (see {@link Store.prune}). */
  readonly prune?: ((olderThan: Duration.DurationInput) => Effect.Effect<number, StoreError>) | undefined
}

/**
 * The store kernel, as `@effect/sql`'s `Client.make`: an adapter hands it its engine's primitives and it owns,
 * once, what every store shares.
 *
 * @since 0.1.0
 * @category kernel
 */
export interface Kernel {
  /**
   * Builds a `Store` from an engine's primitives. The kernel owns: the capability, identifier and bound checks
   * (`Capabilities.check`); one error constructor ({@link Kernel.fail}); the undo record's engine check and the
   * empty-undo shortcut; the spans `Store.execute`, `Store.undo`, `Store.resolve` with the attributes
   * `store.engine`, `store.entity`, `store.operation`, `store.affected`, `saga.id`, `step.id`; the select bound;
   * and the barrier protocol (the engine only stores barrier marks).
   */
  readonly make: <Prepared, Unit>(engine: Engine<Prepared, Unit>) => Store
  /**
   * The one error constructor: `path` (when given and not empty) prefixes the message, otherwise the engine and entity do.
   */
  readonly fail: (
    engine: string,
    reason: StoreErrorReason,
    message: string,
    options?: ErrorOptions
  ) => StoreError
  /**
   * Whether `error` (or one of its causes) is the connection to the store failing at the socket: a Node or undici
   * network error (`ECONNRESET`, `EPIPE`, `ECONNREFUSED`, `ETIMEDOUT`, "This socket has been ended by the other
   * party", `UND_ERR_SOCKET`, …). A driver that lets such an error through unwrapped still reports `Unavailable`.
   */
  readonly connectionLost: (error: unknown) => boolean
}

/**
 * The store kernel: `Store.make(engine)` (see {@link Kernel}).
 *
 * @since 0.1.0
 * @category kernel
 */
export const Store: Kernel = { make: internal.make, fail: internal.fail, connectionLost: internal.connectionLost }
