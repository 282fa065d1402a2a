/**
 * What the endpoints do: run a transaction through the warehouse (journaled, in the intake), read a saga back
 * from the journal, list sagas, retry a failed saga's compensation, check readiness. Every failure is one of the
 * API's errors.
 *
 * @since 0.1.0
 */
import { Saga, type SagaError, SagaJournal } from "@polysaga/saga"
import { Source, Warehouse, type WarehouseError } from "@polysaga/warehouse"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import {
  BadRequest,
  type CompensationResult,
  Conflict,
  InternalError,
  type ListQuery,
  NotFound,
  type TransactionRecord,
  Unavailable
} from "./Api.js"
import { Intake } from "./Intake.js"
import { JournalAdmin } from "./internal/journal.js"
import { format as formatPath } from "./internal/path.js"
import * as record from "./internal/record.js"

/** The envelope of `POST /v1/transactions`; the warehouse checks the operations and options themselves. */
const Envelope = Schema.Struct({
  operations: Schema.Array(Schema.Unknown),
  options: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
})

const decodeEnvelope = Schema.decodeUnknown(Envelope, { onExcessProperty: "error" })

const badEnvelope = (error: ParseResult.ParseError) => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  const path = issue === undefined ? "" : formatPath(issue.path)
  const message = issue === undefined ? error.message : issue.message
  return new BadRequest({
    code: "VALIDATION_ERROR",
    message: `${path === "" ? "body" : path}: ${message} (expected { "operations": [...], "options": {...} })`,
    ...(path === "" ? {} : { path })
  })
}

const unavailableCodes = new Set(["SOURCE_UNAVAILABLE", "JOURNAL_UNAVAILABLE"])

/** A store's unclassified fault is the server's problem (500), an unreachable one 503, the rest the request's (400). */
const fromWarehouse = (error: WarehouseError): BadRequest | Unavailable | InternalError => {
  const fields = { code: error.code, message: error.message, ...(error.path === undefined ? {} : { path: error.path }) }
  return unavailableCodes.has(error.code)
    ? new Unavailable(fields)
    : error.code === "UNKNOWN"
    ? new InternalError(fields)
    : new BadRequest(fields)
}

const journalDown = (error: SagaError.JournalError) =>
  new Unavailable({ code: "JOURNAL_UNAVAILABLE", message: error.message })

const interrupted = (id: string | undefined) =>
  new Unavailable({
    code: "SHUTTING_DOWN",
    message: `the transaction${
      id === undefined ? "" : ` ${id}`
    } was interrupted by a shutdown: its completed steps were compensated (see GET /v1/transactions/:id)`
  })

/**
 * @since 0.1.0
 */
export class Transactions extends Effect.Service<Transactions>()("@polysaga/server/Transactions", {
  effect: Effect.gen(function*() {
    const warehouse = yield* Warehouse.Warehouse
    const sources = yield* Source.Sources
    const journal = yield* SagaJournal.SagaJournal
    const admin = yield* JournalAdmin
    const intake = yield* Intake

    const entries = (id: string) => Effect.mapError(journal.entries(id), journalDown)

    const engines = new Map(sources.all.map((source) => [source.tag, source.store.engine]))
    const read = (id: string) =>
      Effect.flatMap(entries(id), (all) => {
        const found = record.fromEntries(id, all, (tag) => engines.get(tag))
        return found === undefined
          ? Effect.fail(new NotFound({ code: "TRANSACTION_NOT_FOUND", message: `no transaction ${id} in the journal` }))
          : Effect.succeed(found)
      })

    const run = Effect.fn("Transactions.run")(function*(body: unknown) {
      const request = yield* Effect.mapError(decodeEnvelope(body), badEnvelope)
      const id = typeof request.options?.id === "string" ? request.options.id : undefined
      const exit = yield* intake.run(warehouse.transactionUnknown(request.operations, request.options))
      if (Exit.isSuccess(exit)) return exit.value
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure)) return yield* fromWarehouse(failure.value)
      if (Cause.isInterruptedOnly(exit.cause)) return yield* interrupted(id)
      return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
    })

    const get = Effect.fn("Transactions.get")(function*(id: string) {
      return yield* read(id)
    })

    const list = Effect.fn("Transactions.list")(function*(query: typeof ListQuery.Type) {
      return yield* admin.page(query).pipe(
        Effect.catchTag(
          "InvalidCursor",
          (error) => Effect.fail(new BadRequest({ code: "VALIDATION_ERROR", message: error.message, path: "cursor" }))
        ),
        Effect.catchTag("JournalError", (error) => Effect.fail(journalDown(error)))
      )
    })

    const overview = Effect.fn("Transactions.overview")(function*() {
      return yield* Effect.mapError(admin.overview, journalDown)
    })

    const resolve = Effect.fn("Transactions.resolve")(function*(id: string, reason: string) {
      const current = yield* read(id)
      if (current.status !== "failed") {
        return yield* new Conflict({
          code: "NOT_FAILED",
          message: `transaction ${id} is ${current.status}: only a failed transaction waits for a person`
        })
      }
      if (current.resolution !== undefined || !(yield* Effect.mapError(admin.resolve(id, reason), journalDown))) {
        return yield* new Conflict({
          code: "ALREADY_RESOLVED",
          message: `transaction ${id} was already resolved by hand or is no longer failed`
        })
      }
      yield* Effect.logInfo("transaction resolved by hand").pipe(Effect.annotateLogs({ "saga.id": id, reason }))
      return yield* read(id)
    })

    const compensate = Effect.fn("Transactions.compensate")(function*(id: string) {
      const current: TransactionRecord = yield* read(id)
      if (current.status !== "failed") {
        return yield* new Conflict({
          code: "NOT_FAILED",
          message: `transaction ${id} is ${current.status}: only a failed transaction has a compensation to retry`
        })
      }
      if (current.resolution !== undefined) {
        return yield* new Conflict({
          code: "ALREADY_RESOLVED",
          message: `transaction ${id} was resolved by hand (${current.resolution.reason}): its compensation is ` +
            `not retried`
        })
      }
      const exit = yield* intake.run(
        Saga.retryCompensation(id, Warehouse.registry).pipe(
          Effect.provideService(Source.Sources, sources),
          Effect.provideService(SagaJournal.SagaJournal, journal)
        )
      )
      if (Exit.isSuccess(exit)) {
        const result = exit.value
        return {
          id: result.id,
          status: result.status === "compensated" ? "compensated" : "failed",
          compensatedSteps: result.compensatedSteps,
          pendingCompensations: result.pendingCompensations,
          inDoubt: result.inDoubt,
          ...(result.error === undefined ? {} : { error: result.error })
        } satisfies CompensationResult
      }
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure)) {
        const error = failure.value
        return yield* error._tag === "RecoveryError"
          ? new Conflict({ code: "NOT_FAILED", message: error.message })
          : journalDown(error)
      }
      if (Cause.isInterruptedOnly(exit.cause)) return yield* interrupted(id)
      return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
    })

    const probe = <E>(check: Effect.Effect<unknown, E>) =>
      check.pipe(
        Effect.timeoutFail({ duration: "3 seconds", onTimeout: () => "no answer within 3 seconds" }),
        Effect.match({
          onFailure: (error) =>
            `unavailable: ${typeof error === "string" ? error : (error as { message?: string }).message ?? "error"}`,
          onSuccess: () => "ok"
        })
      )

    /** `ok` or `unavailable: …` for the journal and each source, checked concurrently. */
    const readiness = Effect.fn("Transactions.readiness")(function*() {
      const checks = yield* Effect.all(
        [
          Effect.map(probe(journal.entries("polysaga-readiness-probe")), (r) => ["journal", r] as const),
          ...sources.all.map((source) =>
            Effect.map(probe(source.store.ping), (r) => [`source:${source.tag}`, r] as const)
          )
        ],
        { concurrency: "unbounded" }
      )
      return Object.fromEntries(checks) as Record<string, string>
    })

    return { run, get, list, overview, resolve, compensate, readiness, isDraining: intake.isDraining } as const
  })
}) {}
