/**
 * The step barrier on Neo4j: one `(:_PolysagaStep {key})` node per (saga, step), unique by a constraint, merged in
 * the step's own transaction together with its writes and its outcome. A step run again finds it and returns the
 * recorded outcome; `resolve` merges a `fence` when the step never applied, which refuses a late arrival.
 *
 * A node insert merges it in its own statement (`inWrite`): the outcome is then recorded as the adapter predicts it
 * before the write, with the created nodes' element ids (known only to the statement) kept beside it in `ids` and
 * filled in when the mark is read. `claimWithOutcome` checks the kernel's outcome against that record and sends
 * nothing when they agree (else it records the kernel's).
 */
import {
  type Barrier,
  type Mark,
  type Outcome,
  RecordedOutcome,
  type Step,
  type StepContext,
  type StoreError,
  Undo
} from "@polysaga/store"
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

const encode = Schema.encodeSync(Schema.parseJson(RecordedOutcome))

type Json = Undo.Json
type Recorded = {
  readonly records: ReadonlyArray<Record<string, Json>>
  readonly undo: { readonly actions: ReadonlyArray<{ readonly key: Record<string, Json> }> }
}

/**
 * An insert's recorded outcome with the element ids of the nodes it created: the `i`-th record's `_elementId` and
 * the `i`-th undo action's key (a `DeleteCreated` of the `i`-th node) name `ids[i]`.
 */
const fill = (recorded: Recorded, ids: ReadonlyArray<string>) => {
  if (recorded.records.length !== ids.length || recorded.undo.actions.length !== ids.length) {
    throw new Error(`${ids.length} element ids for ${recorded.records.length} records`)
  }
  return {
    ...recorded,
    records: recorded.records.map((r, i) => ({ ...r, _elementId: ids[i]! })),
    undo: {
      ...recorded.undo,
      actions: recorded.undo.actions.map((a, i) => ({ ...a, key: { ...a.key, elementId: ids[i]! } }))
    }
  }
}

/** The JSON of a barrier node's `outcome`, with its `ids` filled in when it has them. */
const recordedJson = (row: Record<string, unknown>): unknown => {
  const parsed = JSON.parse(row.outcome as string) as Recorded
  return Array.isArray(row.ids) ? fill(parsed, row.ids as ReadonlyArray<string>) : parsed
}

/** What a barrier node holds, from a row of `kind`, `outcome`, `fingerprint` (and `ids`). */
const markOf = (row: Record<string, unknown>) =>
  Effect.gen(function*() {
    const unreadable = (e: unknown) =>
      fail("Unknown", `unreadable step barrier: ${e instanceof Error ? e.message : String(e)}`)
    const outcome = typeof row.outcome === "string"
      ? Option.some(
        yield* Effect.try({ try: () => recordedJson(row), catch: unreadable }).pipe(
          Effect.flatMap(Schema.decodeUnknown(RecordedOutcome)),
          Effect.mapError(unreadable)
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
       RETURN s.token = $token AS mine, s.kind AS kind, s.outcome AS outcome, s.fingerprint AS fingerprint,
         s.ids AS ids`,
      { key: keyOf(step), kind, token, fingerprint, outcome }
    )
    return row === undefined || row.mine === true ? Option.none<Mark>() : Option.some(yield* markOf(row))
  })

/** What a write that merged the step's node itself found, for `claimWithOutcome` in the same transaction. */
interface Claimed {
  readonly key: string
  /** The mark the node held before, when it was not this write's. */
  readonly earlier: Option.Option<Mark>
  /** The outcome this write recorded (`Undo.canonical` of its JSON), when the node is this write's. */
  readonly recorded: string | undefined
}

const claimed = new WeakMap<Tx, Claimed>()

/**
 * The barrier in a node insert's own statement: `text` follows the write, which must bind `created` (the list of
 * the nodes it created) and carry `created` on; it merges the step's node with `predicted` (the step's outcome as
 * the adapter will return it, every element id left to be filled in) and the created nodes' element ids, and
 * binds `s` and `mine`; `returns` are the columns `remember` reads. Call `remember` with the statement's row before
 * the kernel's `claimWithOutcome`.
 */
export const inWrite = (step: Step, predicted: Outcome) => ({
  text: `MERGE (s:${stepLabel} {key: $stepKey})
    ON CREATE SET s.kind = 'action', s.token = $stepToken, s.at = datetime(), s.fingerprint = $stepFingerprint,
      s.outcome = $stepOutcome, s.ids = [x IN created | elementId(x)]
    WITH created, s, s.token = $stepToken AS mine`,
  returns: "mine, s.kind AS kind, s.outcome AS outcome, s.fingerprint AS fingerprint, s.ids AS ids",
  params: {
    stepKey: keyOf(step),
    stepToken: crypto.randomUUID(),
    stepFingerprint: step.fingerprint,
    stepOutcome: encode(predicted)
  },
  remember: (tx: Tx, row: Record<string, unknown>): Effect.Effect<void, StoreError> =>
    Effect.gen(function*() {
      const mine = row.mine === true
      claimed.set(tx, {
        key: keyOf(step),
        earlier: mine ? Option.none() : Option.some(yield* markOf(row)),
        recorded: mine
          ? yield* Effect.try({
            try: () => Undo.canonical(recordedJson(row)),
            catch: (e) => fail("Unknown", `unreadable step barrier: ${String(e)}`)
          })
          : undefined
      })
    })
})

/**
 * The barrier primitives: `claim` merges the step's node for `resolve`'s fence; a step's write is followed, in its
 * transaction, by one query that merges the node with its outcome (`claimWithOutcome`) — none when the write merged
 * it itself with the same outcome (`inWrite`); `read` looks a node up.
 */
export const make = (
  transaction: <A>(
    entity: string | undefined,
    use: (tx: Tx) => Effect.Effect<A, StoreError>
  ) => Effect.Effect<A, StoreError>
): Barrier<Tx> => ({
  claim: (tx, step, kind, fingerprint) => merge(tx, step, kind, fingerprint, null),
  claimWithOutcome: (tx, step, outcome) => {
    const key = keyOf(step)
    const done = claimed.get(tx)
    if (done === undefined || done.key !== key) return merge(tx, step, "action", step.fingerprint, encode(outcome))
    claimed.delete(tx)
    if (Option.isSome(done.earlier)) return Effect.succeed(done.earlier)
    const json = encode(outcome)
    if (Undo.canonical(JSON.parse(json)) === done.recorded) return Effect.succeed(Option.none())
    // the write's prediction differs from the kernel's outcome: record the kernel's
    return Effect.as(
      tx.run(`MATCH (s:${stepLabel} {key: $key}) SET s.outcome = $outcome REMOVE s.ids`, { key, outcome: json }),
      Option.none()
    )
  },
  read: (step) =>
    transaction(stepLabel, (tx) =>
      Effect.flatMap(
        tx.run(
          `MATCH (s:${stepLabel} {key: $key})
           RETURN s.kind AS kind, s.outcome AS outcome, s.fingerprint AS fingerprint, s.ids AS ids`,
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
