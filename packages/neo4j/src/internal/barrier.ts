/**
 * The step barrier on Neo4j: one `(:_PolysagaStep {key})` node per (saga, step), unique by a constraint, merged in
 * the step's own transaction together with its writes and its outcome. A step run again finds it and returns the
 * recorded outcome; `resolve` merges a `fence` when the step never applied, which refuses a late arrival.
 */
import { type Barrier, type Mark, RecordedOutcome, type StepContext, type StoreError } from "@polysaga/store"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import neo4j from "neo4j-driver"
import { fail, type Tx } from "./connection.js"
import { markerLabel } from "./undo.js"

export const stepLabel = "_PolysagaStep"

export const stepConstraint =
  `CREATE CONSTRAINT polysaga_step_barrier IF NOT EXISTS FOR (s:${stepLabel}) REQUIRE s.key IS UNIQUE`

const keyOf = (context: StepContext) => JSON.stringify([context.sagaId, context.stepId])

/** What a barrier node holds, from a row of `kind`, `outcome`, `fingerprint`. */
const markOf = (row: Record<string, unknown>) =>
  Effect.gen(function*() {
    const outcome = typeof row.outcome === "string"
      ? Option.some(
        yield* Schema.decodeUnknown(Schema.parseJson(RecordedOutcome))(row.outcome).pipe(
          Effect.mapError((e) => fail("Unknown", `unreadable step barrier: ${e.message}`))
        )
      )
      : Option.none()
    return {
      kind: row.kind === "fence" ? "fence" : "action",
      outcome,
      fingerprint: typeof row.fingerprint === "string" ? row.fingerprint : null
    } satisfies Mark
  })

/** Merges the step's node, made `kind` (with `outcome`) when it did not exist; else what it held. */
const merge = (tx: Tx, step: StepContext, kind: Mark["kind"], fingerprint: string | null, outcome: string | null) =>
  Effect.gen(function*() {
    const token = crypto.randomUUID()
    const [row] = yield* tx.run(
      `MERGE (s:${stepLabel} {key: $key})
       ON CREATE SET s.kind = $kind, s.token = $token, s.at = datetime(), s.fingerprint = $fingerprint,
         s.outcome = $outcome
       RETURN s.token = $token AS mine, s.kind AS kind, s.outcome AS outcome, s.fingerprint AS fingerprint`,
      { key: keyOf(step), kind, token, fingerprint, outcome }
    )
    return row === undefined || row.mine === true ? Option.none<Mark>() : Option.some(yield* markOf(row))
  })

/**
 * The barrier primitives: `claim` merges the step's node for `resolve`'s fence; a step's write is followed, in its
 * transaction, by one query that merges the node with its outcome (`claimWithOutcome`); `read` looks a node up.
 */
export const make = (
  transaction: <A>(
    entity: string | undefined,
    use: (tx: Tx) => Effect.Effect<A, StoreError>
  ) => Effect.Effect<A, StoreError>
): Barrier<Tx> => ({
  claim: (tx, step, kind, fingerprint) => merge(tx, step, kind, fingerprint, null),
  claimWithOutcome: (tx, step, outcome) =>
    merge(tx, step, "action", step.fingerprint, Schema.encodeSync(Schema.parseJson(RecordedOutcome))(outcome)),
  read: (step) =>
    transaction(stepLabel, (tx) =>
      Effect.flatMap(
        tx.run(
          `MATCH (s:${stepLabel} {key: $key})
           RETURN s.kind AS kind, s.outcome AS outcome, s.fingerprint AS fingerprint`,
          { key: keyOf(step) }
        ),
        ([row]) => row === undefined ? Effect.succeed(Option.none<Mark>()) : Effect.map(markOf(row), Option.some)
      )),
  // the keys of a saga's steps start with the saga id's part of the key (`["<sagaId>",`)
  used: (tx, sagaId) =>
    Effect.map(
      tx.run(`MATCH (s:${stepLabel}) WHERE s.key STARTS WITH $prefix RETURN s.key AS key LIMIT 1`, {
        prefix: `${JSON.stringify([sagaId]).slice(0, -1)},`
      }),
      (rows) => rows.length > 0
    )
})

/** Deletes barrier nodes and undo markers older than `olderThan` (at most 10,000 of each per call). */
export const prune = (
  transaction: <A>(entity: string, use: (tx: Tx) => Effect.Effect<A, StoreError>) => Effect.Effect<A, StoreError>
) =>
  Effect.fn("Neo4jStore.prune")(function*(olderThan: Duration.DurationInput) {
    const ms = Duration.toMillis(Duration.decode(olderThan))
    let removed = 0
    for (const label of [stepLabel, markerLabel]) {
      const [row] = yield* transaction(label, (tx) =>
        tx.run(
          `MATCH (m:${label}) WHERE m.at < datetime() - duration({ milliseconds: $ms })
           WITH m LIMIT 10000 DETACH DELETE m RETURN count(*) AS removed`,
          { ms: neo4j.int(ms) }
        ))
      removed += neo4j.integer.toNumber(row?.removed as number ?? 0)
    }
    return removed
  })
