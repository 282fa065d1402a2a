import {
  Capabilities,
  Operation,
  type Outcome,
  type StepContext,
  type Store,
  type StoreError,
  type Undo
} from "@polysaga/store"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import neo4j, { type Driver } from "neo4j-driver"
import type { Neo4jStoreConfig } from "../index.js"
import * as Barrier from "./barrier.js"
import { isRelationshipType } from "./cypher.js"
import { engine, fromDriver, storeError } from "./errors.js"
import { execute as executePlan } from "./execute.js"
import { plan } from "./plan.js"
import { transaction } from "./transaction.js"
import { apply, decode, markerConstraint, markerLabel } from "./undo.js"

export const capabilities = (maxRecordsPerOperation: number): Capabilities.Capabilities =>
  Capabilities.full({ sourceTypes: ["graph"], maxRecordsPerOperation, atomicSteps: true })

const unavailable = (what: string) => (error: unknown): StoreError => {
  const e = fromDriver(undefined, what)(error)
  return e.reason === "Unknown" ? storeError("Unavailable", undefined, e.message, { cause: error }) : e
}

/** The Store on an open driver. */
export const makeStore = (driver: Driver, config: Neo4jStoreConfig): Store => {
  const max = config.maxRecordsPerOperation ?? 1000
  const caps = capabilities(max)
  const database = config.database
  const connection = {
    driver,
    database,
    timeout: Duration.toMillis(Duration.decode(config.transactionTimeout ?? "30 seconds"))
  }

  const validate = Effect.fn("Neo4jStore.validate")(function*(operation: Operation.Operation, path?: string) {
    yield* plan(caps, operation, path)
  })

  const execute = Effect.fn("Neo4jStore.execute")(
    function*(operation: Operation.Operation, context?: StepContext): Effect.fn.Return<Outcome, StoreError> {
      const planned = yield* plan(caps, operation)
      return yield* transaction(connection, planned.target.entity, (tx) =>
        Effect.gen(function*() {
          if (context === undefined || operation.kind === "select") {
            return yield* executePlan(tx, planned, operation, max)
          }
          const fingerprint = Operation.fingerprint(operation)
          const earlier = yield* Barrier.claim(tx, context, "action", fingerprint)
          if (!earlier.mine) {
            if (earlier.kind === "fence") {
              return yield* storeError(
                "Conflict",
                operation.entity,
                `step ${context.stepId} of saga ${context.sagaId} was compensated before it arrived; it is refused`
              )
            }
            if (earlier.fingerprint !== null && earlier.fingerprint !== fingerprint) {
              return yield* storeError(
                "Conflict",
                operation.entity,
                `step ${context.stepId} of saga ${context.sagaId} already ran another operation (a saga id used twice?)`
              )
            }
            if (Option.isSome(earlier.outcome)) return earlier.outcome.value
          }
          const outcome = yield* executePlan(tx, planned, operation, max)
          yield* Barrier.record(tx, context, outcome)
          return outcome
        }))
    }
  )

  const resolve = Effect.fn("Neo4jStore.resolve")(function*(context: StepContext) {
    return yield* transaction(connection, Barrier.stepLabel, (tx) =>
      Effect.map(
        Barrier.claim(tx, context, "fence", null),
        (claimed) => claimed.mine || claimed.kind === "fence" ? Option.none<Outcome>() : claimed.outcome
      ))
  })

  const undo = Effect.fn("Neo4jStore.undo")(function*(record: Undo.UndoRecord) {
    if (record.engine !== engine) {
      return yield* storeError("Validation", record.entity, `an undo record of ${record.engine} given to ${engine}`, {
        path: "engine"
      })
    }
    if (record.actions.length === 0) return
    const actions = yield* decode(record, isRelationshipType(record.entity))
    yield* transaction(connection, record.entity, (tx) => apply(tx, record, actions)).pipe(
      Effect.catchTag("AlreadyUndone", () => Effect.void)
    )
  })

  const ping = Effect.tryPromise({
    try: () => driver.verifyConnectivity(database === undefined ? {} : { database }),
    catch: unavailable("Neo4j is not reachable")
  }).pipe(Effect.asVoid, Effect.withSpan("Neo4jStore.ping"))

  const prune = Effect.fn("Neo4jStore.prune")(function*(olderThan: Duration.DurationInput) {
    const ms = Duration.toMillis(Duration.decode(olderThan))
    let removed = 0
    for (const label of [Barrier.stepLabel, markerLabel]) {
      const [row] = yield* transaction(connection, label, (tx) =>
        tx.run(
          `MATCH (m:${label}) WHERE m.at < datetime() - duration({ milliseconds: $ms })
           WITH m LIMIT 10000 DETACH DELETE m RETURN count(*) AS removed`,
          { ms: neo4j.int(ms) }
        ))
      removed += neo4j.integer.toNumber(row?.removed as number ?? 0)
    }
    return removed
  })

  return { engine, capabilities: caps, validate, execute, undo, ping, resolve, prune }
}

/**
 * Opens the driver (scoped, closed within 5 seconds), checks connectivity and creates the undo-marker and
 * step-barrier constraints.
 */
export const make = (config: Neo4jStoreConfig): Effect.Effect<Store, StoreError, Scope.Scope> =>
  Effect.gen(function*() {
    const driver = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          neo4j.driver(
            Redacted.value(config.url),
            config.user === undefined
              ? undefined
              : neo4j.auth.basic(config.user, config.password === undefined ? "" : Redacted.value(config.password)),
            { disableLosslessIntegers: false, maxConnectionPoolSize: config.maxConnectionPoolSize ?? 20 }
          ),
        catch: (cause) =>
          storeError("Validation", undefined, `invalid Neo4j configuration: ${String(cause)}`, { cause })
      }),
      (driver) => Effect.promise(() => driver.close()).pipe(Effect.timeout("5 seconds"), Effect.ignore)
    )
    const store = makeStore(driver, config)
    yield* store.ping
    // Several processes may create the constraint at once: `IF NOT EXISTS` can still race, so retry a little.
    for (const constraint of [markerConstraint, Barrier.stepConstraint]) {
      yield* transaction(
        { driver, database: config.database, timeout: 30_000 },
        "_PolysagaUndo",
        (tx) => tx.run(constraint)
      ).pipe(
        Effect.retry({ times: 3 })
      )
    }
    return store
  }).pipe(Effect.withSpan("Neo4jStore.make"))
