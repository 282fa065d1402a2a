/**
 * The step barrier on Neo4j: one `(:_PolysagaStep {key})` node per (saga, step), unique by a constraint, merged in
 * the step's own transaction together with its writes and its outcome. A step run again finds it and returns the
 * recorded outcome; `resolve` merges a `fence` when the step never applied, which refuses a late arrival.
 */
import { type Outcome, RecordedOutcome, type StepContext, type StoreError } from "@polysaga/store"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { storeError } from "./errors.js"
import type { Tx } from "./transaction.js"

export const stepLabel = "_PolysagaStep"

export const stepConstraint =
  `CREATE CONSTRAINT polysaga_step_barrier IF NOT EXISTS FOR (s:${stepLabel}) REQUIRE s.key IS UNIQUE`

const keyOf = (context: StepContext) => JSON.stringify([context.sagaId, context.stepId])

export interface Claimed {
  /** True when this transaction created the barrier node (the step is new here). */
  readonly mine: boolean
  readonly kind: "action" | "fence"
  readonly outcome: Option.Option<Outcome>
  /** `Operation.fingerprint` of the step that claimed it (null for a fence). */
  readonly fingerprint: string | null
}

/** Merges the step's barrier node, claiming it for `kind` when it did not exist. */
export const claim = (
  tx: Tx,
  context: StepContext,
  kind: "action" | "fence",
  fingerprint: string | null
): Effect.Effect<Claimed, StoreError> =>
  Effect.gen(function*() {
    const token = crypto.randomUUID()
    const [row] = yield* tx.run(
      `MERGE (s:${stepLabel} {key: $key})
       ON CREATE SET s.kind = $kind, s.token = $token, s.at = datetime(), s.fingerprint = $fingerprint
       RETURN s.token = $token AS mine, s.kind AS kind, s.outcome AS outcome, s.fingerprint AS fingerprint`,
      { key: keyOf(context), kind, token, fingerprint }
    )
    const outcome = typeof row?.outcome === "string"
      ? Option.some(
        yield* Schema.decodeUnknown(Schema.parseJson(RecordedOutcome))(row.outcome).pipe(
          Effect.mapError((e) => storeError("Unknown", undefined, `unreadable step barrier: ${e.message}`))
        )
      )
      : Option.none()
    return {
      mine: row?.mine === true,
      kind: row?.kind === "fence" ? "fence" : "action",
      outcome,
      fingerprint: typeof row?.fingerprint === "string" ? row.fingerprint : null
    }
  })

/** Records the outcome on the step's barrier node, in the step's transaction. */
export const record = (tx: Tx, context: StepContext, outcome: Outcome) =>
  tx.run(`MATCH (s:${stepLabel} {key: $key}) SET s.outcome = $outcome`, {
    key: keyOf(context),
    outcome: Schema.encodeSync(Schema.parseJson(RecordedOutcome))(outcome)
  })
