/**
 * Helpers for stores whose step barrier is a **marker** written in the same single-record write as the data
 * (MongoDB, Chroma), rather than a row in a local transaction (PostgreSQL, Neo4j). The protocol itself is the
 * kernel's (`Store.make`: claim, admit, record, resolve, settle); a marker store keeps:
 *
 * - one **entry** per step in its own bookkeeping (keyed by {@link key}), claimed before the step writes (`action`,
 *   with the operation's fingerprint) or by `resolve` (`fence`), then given the keys its inserts will use (decided
 *   before the write), the keys of the records it changes, and — once the write is done — its outcome;
 * - on every record the step writes, the step's **marker** in that same write, so whether a record was written by
 *   the step can be read back (`Barrier.settle`), and a write that finds the marker already there is not applied
 *   again.
 *
 * A keyed write (`Barrier.keyed`: the ids it writes known from its operation) keeps no entry: the markers on its
 * records are its whole proof, read by its own write and by `resolve`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Hash from "node:crypto"
import { type Mark, type Outcome, RecordedOutcome, type StepContext } from "./Store.js"
import { StoreError } from "./StoreError.js"

/**
 * The key of a step's barrier entry: `[sagaId, stepId]` as JSON.
 *
 * @since 0.1.0
 * @category keys
 */
export const key = (context: StepContext): string => JSON.stringify([context.sagaId, context.stepId])

/**
 * A short name of a step: 24 hex digits of the SHA-256 of its key, free of characters stores reserve (`.`, `$`,
 * `:`).
 *
 * @since 0.1.0
 * @category keys
 */
export const marker = (context: StepContext): string =>
  Hash.createHash("sha256").update(key(context)).digest("hex").slice(0, 24)

/**
 * A marker name from an undo id (its hex digits): a store names a step's markers after the undo id its outcome will
 * carry, so applying that undo removes them in the same write.
 *
 * @since 0.1.0
 * @category keys
 */
export const undoMarker = (undoId: string): string => undoId.replace(/[^0-9a-fA-F]/g, "")

const OutcomeJson = Schema.parseJson(RecordedOutcome)

/**
 * An outcome as the JSON text a barrier entry keeps.
 *
 * @since 0.1.0
 * @category codecs
 */
export const encodeOutcome = (outcome: Outcome): string => Schema.encodeSync(OutcomeJson)(outcome)

/**
 * A barrier entry's outcome text back as an outcome (`Unknown` when it is unreadable).
 *
 * @since 0.1.0
 * @category codecs
 */
export const decodeOutcome = (
  text: string,
  where: { readonly engine: string; readonly entity?: string | undefined }
): Effect.Effect<Outcome, StoreError> =>
  Schema.decodeUnknown(OutcomeJson)(text).pipe(
    Effect.mapError((e) =>
      new StoreError({ reason: "Unknown", message: `unreadable step barrier entry: ${e.message}`, ...where })
    )
  )

/**
 * An entry as a store without transactions keeps it (the outcome as JSON text), read back as the kernel's mark.
 *
 * @since 0.1.0
 * @category codecs
 */
export const markOf = (
  stored: {
    readonly kind: "action" | "fence"
    readonly fingerprint?: string | null | undefined
    readonly outcome?: string | null | undefined
  },
  where: { readonly engine: string; readonly entity?: string | undefined }
): Effect.Effect<Mark, StoreError> =>
  Effect.map(
    stored.outcome === undefined || stored.outcome === null
      ? Effect.succeed(Option.none<Outcome>())
      : Effect.map(decodeOutcome(stored.outcome, where), Option.some),
    (outcome) => ({ kind: stored.kind, fingerprint: stored.fingerprint ?? null, outcome })
  )

/**
 * The error of a write that finds its claim settled meanwhile (`resolve` answered for it while it was cut off): the
 * resolution is what counts, so the attempt is in doubt.
 *
 * @since 0.1.0
 * @category errors
 */
export const settledMeanwhile = (
  context: StepContext,
  where: { readonly engine: string; readonly entity?: string | undefined }
): StoreError =>
  new StoreError({
    reason: "Conflict",
    ...where,
    inDoubt: true,
    message: `${where.engine}: step ${context.stepId} of saga ${context.sagaId} was resolved while it ran`
  })
