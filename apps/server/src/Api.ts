/**
 * The HTTP API of the warehouse service, as an `@effect/platform` `HttpApi`: the transactions group (behind the
 * `Authorization` middleware), the health group, and the errors every endpoint answers with. Every error body is
 * `{ "error": { "code", "message", "path"? } }`.
 *
 * @since 0.1.0
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as OpenApi from "@effect/platform/OpenApi"
import { Transaction } from "@polysaga/warehouse"
import * as Schema from "effect/Schema"
import { requestExample, withoutDecodeError, withoutSharedIds } from "./internal/openapi.js"

/** The seed's first example, as the request example of `POST /v1/transactions`. */
const seedExample = {
  operations: [
    {
      operation: "insert",
      from: { type: "database", tag: "orders-postgres", entity: "orders" },
      data: { userId: "user_123", total: 99.99, status: "pending" }
    },
    {
      operation: "insert",
      from: { type: "graph", tag: "activity-neo4j", entity: "OrderEvent" },
      data: { type: "ORDER_PLACED", userId: "user_123", timestamp: "2025-01-15T10:00:00.000Z" }
    }
  ],
  options: { timeout: 30000 }
} as const
const exampleId = "6f1c2b9e-4d3a-4e57-9a0b-2c8d7e5f1a34"

const errorFields = {
  code: Schema.String,
  message: Schema.String,
  path: Schema.optional(Schema.String)
}

/**
 * The body of every error response.
 *
 * @since 0.1.0
 */
export const ErrorBody = Schema.Struct({
  error: Schema.Struct(errorFields)
}).annotations({ identifier: "ErrorBody" })

/**
 * @since 0.1.0
 */
export type ErrorBody = typeof ErrorBody.Type

interface ErrorClass<Self> extends Schema.Schema<Self, any> {
  new(props: { readonly code: string; readonly message: string; readonly path?: string | undefined }): Self
}

/** The wire form of an error class: `{ error: { code, message, path } }` with its HTTP status. */
const wire = <Self extends { readonly code: string; readonly message: string; readonly path?: string | undefined }>(
  self: ErrorClass<Self>,
  status: number,
  identifier: string
): Schema.Schema<Self, ErrorBody> =>
  Schema.transform(ErrorBody, Schema.typeSchema(self), {
    strict: true,
    decode: ({ error }) => new self(error),
    encode: (e) => ({
      error: { code: e.code, message: e.message, ...(e.path === undefined ? {} : { path: e.path }) }
    })
  }).annotations(HttpApiSchema.annotations({ status, identifier })) as any

/**
 * 400: the request is malformed or a transaction was rejected before its first write (`VALIDATION_ERROR`,
 * `SOURCE_NOT_FOUND`, `ENTITY_NOT_FOUND`, `TOO_MANY_OPERATIONS`, …). Nothing was written.
 *
 * @since 0.1.0
 */
export class BadRequest extends Schema.TaggedError<BadRequest>()("BadRequest", errorFields) {}

/**
 * 401: no valid `Authorization: Bearer <key>`. Nothing was done.
 *
 * @since 0.1.0
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", errorFields) {}

/**
 * 404: no transaction with that id in the journal.
 *
 * @since 0.1.0
 */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", errorFields) {}

/**
 * 409: the transaction is not in a state that allows the request (e.g. compensating one that is not `failed`).
 *
 * @since 0.1.0
 */
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", errorFields) {}

/**
 * 413: the request body is larger than `limits.maxBodyBytes`. Nothing was written.
 *
 * @since 0.1.0
 */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", errorFields) {}

/**
 * 503: a store or the journal is unreachable, still opening at start (`NOT_READY`), or the server is shutting down.
 *
 * @since 0.1.0
 */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", errorFields) {}

/**
 * 500: a store failed before the transaction's first write in a way polysaga cannot classify (`UNKNOWN`: e.g. the
 * source's role may not read its step barrier). Nothing the client sent is wrong, and nothing was written; the
 * message is the store's own.
 *
 * @since 0.2.0
 */
export class InternalError extends Schema.TaggedError<InternalError>()("InternalError", errorFields) {}

/**
 * @since 0.1.0
 */
export const BadRequestResponse = wire(BadRequest, 400, "BadRequest")
/**
 * @since 0.1.0
 */
export const UnauthorizedResponse = wire(Unauthorized, 401, "Unauthorized")
/**
 * @since 0.1.0
 */
export const NotFoundResponse = wire(NotFound, 404, "NotFound")
/**
 * @since 0.1.0
 */
export const ConflictResponse = wire(Conflict, 409, "Conflict")
/**
 * @since 0.1.0
 */
export const PayloadTooLargeResponse = wire(PayloadTooLarge, 413, "PayloadTooLarge")
/**
 * @since 0.1.0
 */
export const UnavailableResponse = wire(Unavailable, 503, "Unavailable")
/**
 * @since 0.2.0
 */
export const InternalErrorResponse = wire(InternalError, 500, "InternalError")

/**
 * Checks `Authorization: Bearer <key>` against the configured API keys (constant time).
 *
 * @since 0.1.0
 */
export class Authorization extends HttpApiMiddleware.Tag<Authorization>()("Authorization", {
  failure: UnauthorizedResponse,
  security: {
    bearer: HttpApiSecurity.bearer.pipe(
      HttpApiSecurity.annotate(
        OpenApi.Description,
        "`Authorization: Bearer <key>` with one of the configured `apiKeys`"
      )
    )
  }
}) {}

/**
 * The body of `POST /v1/transactions`: the seed's `transaction(operations, options)` as JSON.
 *
 * @since 0.1.0
 */
export const TransactionRequest = Schema.Struct({
  operations: Schema.Array(Transaction.OperationJson).annotations({
    description: "The operations: steps named by `id` (default step_0, step_1, …), run in order — or, with " +
      "options.concurrency above 1, as soon as their `dependsOn` and `$ref` steps are done. A failure undoes the " +
      "completed steps walking the graph backwards."
  }),
  options: Schema.optional(Transaction.TransactionOptions)
}).annotations({
  identifier: "TransactionRequest",
  examples: [
    { operations: seedExample.operations },
    {
      operations: [
        {
          id: "createOrder",
          operation: "insert",
          from: { type: "database", tag: "orders-db", entity: "orders" },
          data: { userId: "user_123", total: 99.99, status: "processing" }
        },
        {
          id: "stock",
          operation: "update",
          from: { type: "database", tag: "inventory-db", entity: "inventory" },
          data: { quantity: { $decrement: 1 } },
          where: { productId: { $eq: "p1" }, quantity: { $gte: 1 } }
        },
        {
          id: "payment",
          operation: "insert",
          from: { type: "database", tag: "payments-db", entity: "payments" },
          data: { orderId: { $ref: "createOrder.data.0.id" }, amount: 99.99, status: "pending" },
          dependsOn: ["stock"],
          options: { timeout: 5000, maxRetries: 2 }
        },
        {
          id: "event",
          operation: "insert",
          from: { type: "graph", tag: "events-neo4j", entity: "OrderEvent" },
          data: { orderId: { $ref: "createOrder.data.0.id" }, type: "ORDER_CREATED" }
        }
      ],
      options: {
        concurrency: "unbounded",
        timeout: 30000,
        retryOnFailure: false,
        maxRetries: 3,
        compensateOnTimeout: true
      }
    }
  ]
})

/**
 * @since 0.1.0
 */
export const SagaStatus = Schema.Literal("running", "completed", "compensated", "failed")

/**
 * @since 0.1.0
 */
export type SagaStatus = typeof SagaStatus.Type

/**
 * What happened to one step, read from the journal.
 *
 * @since 0.1.0
 */
export const StepRecord = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  status: Schema.Literal("running", "completed", "failed", "compensating", "compensated", "compensationFailed"),
  attempts: Schema.Number,
  startedAt: Schema.String,
  endedAt: Schema.optional(Schema.String),
  /** Milliseconds from the first attempt to the outcome. */
  duration: Schema.optional(Schema.Number),
  tag: Schema.optional(Schema.String),
  /** The store engine of the step's source (`postgres`, `mongodb`, `neo4j`, `chroma`). */
  engine: Schema.optional(Schema.String),
  /** The table, collection, label or vector collection the step wrote to. */
  entity: Schema.optional(Schema.String),
  /** `insert`, `update`, `delete` or `upsert`. */
  operation: Schema.optional(Schema.String),
  data: Schema.optional(Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Unknown }))),
  affectedRows: Schema.optional(Schema.Number),
  error: Schema.optional(Schema.String),
  /** Set when recovery settled a step whose outcome the journal did not know. */
  resolved: Schema.optional(Schema.Boolean),
  /** What the step's undo record will do, one line per action, in the order they are applied. */
  undo: Schema.optional(Schema.Array(Schema.String)),
  compensation: Schema.optional(Schema.Struct({
    status: Schema.Literal("running", "succeeded", "failed"),
    startedAt: Schema.String,
    endedAt: Schema.optional(Schema.String),
    duration: Schema.optional(Schema.Number),
    error: Schema.optional(Schema.String)
  }))
}).annotations({ identifier: "StepRecord" })

/**
 * @since 0.1.0
 */
export type StepRecord = typeof StepRecord.Type

/**
 * One entry of a saga's journal, as recorded.
 *
 * @since 0.1.0
 */
export const JournalEvent = Schema.Struct({
  at: Schema.String,
  type: Schema.String,
  stepId: Schema.optional(Schema.String),
  attempt: Schema.optional(Schema.Number),
  status: Schema.optional(Schema.String),
  error: Schema.optional(Schema.String),
  /** Why a person resolved the saga by hand (`SagaResolved`). */
  reason: Schema.optional(Schema.String)
}).annotations({ identifier: "JournalEvent" })

/**
 * A `failed` saga a person marked resolved by hand: when, and why.
 *
 * @since 0.1.0
 */
export const Resolution = Schema.Struct({
  at: Schema.String,
  reason: Schema.String
}).annotations({ identifier: "Resolution" })

/**
 * A transaction as its journal tells it: steps, timings, errors and the compensation record.
 *
 * @since 0.1.0
 */
export const TransactionRecord = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  status: SagaStatus,
  startedAt: Schema.String,
  endedAt: Schema.optional(Schema.String),
  /** Milliseconds from start to end (compensation and recovery included). */
  executionTime: Schema.optional(Schema.Number),
  error: Schema.optional(Schema.String),
  /** Set when a person marked the `failed` saga resolved by hand: it no longer waits for one. */
  resolution: Schema.optional(Resolution),
  steps: Schema.Array(StepRecord),
  /** Step ids undone, in the order they were undone. */
  compensatedSteps: Schema.Array(Schema.String),
  /** Step ids left to undo, in the order they should be undone (`failed`, or `running` after a crash). */
  pendingCompensations: Schema.Array(Schema.String),
  /**
   * Steps whose last attempt has an intent and no outcome; in a running saga, also the steps journaled by its plan
   * whose outcome the journal does not hold yet (recovery asks their stores' barriers).
   */
  inDoubt: Schema.Array(Schema.String),
  events: Schema.Array(JournalEvent)
}).annotations({ identifier: "TransactionRecord" })

/**
 * @since 0.1.0
 */
export type TransactionRecord = typeof TransactionRecord.Type

/**
 * One line of `GET /v1/transactions`.
 *
 * @since 0.1.0
 */
export const TransactionSummary = TransactionRecord.pipe(
  Schema.pick("id", "name", "status", "startedAt", "endedAt", "error", "resolution")
).annotations({ identifier: "TransactionSummary" })

/**
 * @since 0.1.0
 */
export type TransactionSummary = typeof TransactionSummary.Type

/**
 * The outcome of `POST /v1/transactions/:id/compensate`.
 *
 * @since 0.1.0
 */
export const CompensationResult = Schema.Struct({
  id: Schema.String,
  status: Schema.Literal("compensated", "failed"),
  compensatedSteps: Schema.Array(Schema.String),
  pendingCompensations: Schema.Array(Schema.String),
  inDoubt: Schema.Array(Schema.String),
  error: Schema.optional(Schema.String)
}).annotations({ identifier: "CompensationResult" })

/**
 * @since 0.1.0
 */
export type CompensationResult = typeof CompensationResult.Type

/**
 * The query of `GET /v1/transactions`.
 *
 * @since 0.1.0
 */
export const ListQuery = Schema.Struct({
  status: Schema.optional(SagaStatus),
  /** Only sagas resolved by hand (`true`) or not (`false`). */
  resolved: Schema.optional(Schema.BooleanFromString),
  /** Started at or after this instant (ISO 8601). */
  from: Schema.optional(Schema.Date),
  /** Started before this instant (ISO 8601). */
  to: Schema.optional(Schema.Date),
  /** The id contains this text. */
  id: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))),
  limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1000))),
  /** The `next` of the previous page. */
  cursor: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(600)))
})

/**
 * A page of `GET /v1/transactions`; `next` is absent on the last page.
 *
 * @since 0.1.0
 */
export const TransactionPage = Schema.Struct({
  transactions: Schema.Array(TransactionSummary),
  next: Schema.optional(Schema.String)
}).annotations({ identifier: "TransactionPage" })

/**
 * `GET /v1/overview`: the journal at a glance.
 *
 * @since 0.1.0
 */
export const Overview = Schema.Struct({
  counts: Schema.Struct({
    running: Schema.Number,
    completed: Schema.Number,
    compensated: Schema.Number,
    failed: Schema.Number
  }),
  /** `failed` sagas not resolved by hand. */
  needsPerson: Schema.Number,
  lastHour: Schema.Struct({
    /** Sagas started in each of the last 60 minutes, oldest first (the last is the current minute). */
    startedPerMinute: Schema.Array(Schema.Number),
    /** Sagas that ended in the last hour. */
    ended: Schema.Number,
    /** Start-to-end milliseconds of the sagas that ended in the last hour (absent when none did). */
    latency: Schema.optional(Schema.Struct({
      p50: Schema.Number,
      p95: Schema.Number,
      p99: Schema.Number,
      max: Schema.Number
    }))
  })
}).annotations({ identifier: "Overview" })

/**
 * @since 0.1.0
 */
export type Overview = typeof Overview.Type

/**
 * The body of `POST /v1/transactions/:id/resolve`.
 *
 * @since 0.1.0
 */
export const ResolveRequest = Schema.Struct({
  reason: Schema.Trim.pipe(Schema.minLength(1), Schema.maxLength(2000)).annotations({
    description: "What the person did about it (kept in the journal)"
  })
}).annotations({ identifier: "ResolveRequest" })

const id = HttpApiSchema.param("id", Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)))

/**
 * @since 0.1.0
 */
export class TransactionsGroup extends HttpApiGroup.make("transactions")
  .add(
    HttpApiEndpoint.post("run", "/v1/transactions")
      .setPayload(TransactionRequest)
      .addSuccess(Transaction.TransactionResult.annotations({ identifier: "TransactionResult" }))
      .addError(BadRequestResponse)
      .addError(PayloadTooLargeResponse)
      .addError(UnavailableResponse)
      .addError(InternalErrorResponse)
      .annotate(OpenApi.Summary, "Run a transaction")
      .annotate(OpenApi.Transform, requestExample({ method: "POST", path: "/v1/transactions", body: seedExample }))
      .annotate(
        OpenApi.Description,
        "Runs the operations as one saga across the configured sources. 200 with the result for every outcome " +
          "(`completed`, `compensated`, `failed`); 400 when the transaction is rejected before its first write; 503 " +
          "when a store or the journal is unreachable (`NOT_READY` while they are still opening at start), 500 (`UNKNOWN`) when a store fails before the first write in " +
          "a way that is not the request's fault. Nothing is written in those cases."
      )
  )
  .add(
    HttpApiEndpoint.get("list", "/v1/transactions")
      .setUrlParams(ListQuery)
      .addSuccess(TransactionPage)
      .addError(BadRequestResponse)
      .addError(UnavailableResponse)
      .annotate(OpenApi.Summary, "List transactions, newest first, filtered, one page at a time")
      .annotate(
        OpenApi.Transform,
        requestExample({
          method: "GET",
          path: "/v1/transactions?status=failed&limit=20",
          parameters: { status: "failed", limit: "20" }
        })
      )
  )
  .add(
    HttpApiEndpoint.get("overview", "/v1/overview")
      .addSuccess(Overview)
      .addError(UnavailableResponse)
      .annotate(OpenApi.Summary, "Counts by status, the failed ones waiting for a person, the last hour")
      .annotate(OpenApi.Transform, requestExample({ method: "GET", path: "/v1/overview" }))
  )
  .add(
    HttpApiEndpoint.get("get")`/v1/transactions/${id}`
      .addSuccess(TransactionRecord)
      .addError(NotFoundResponse)
      .addError(UnavailableResponse)
      .annotate(OpenApi.Summary, "A transaction's steps, timings, errors and compensation record")
      .annotate(
        OpenApi.Transform,
        requestExample({ method: "GET", path: `/v1/transactions/${exampleId}`, parameters: { id: exampleId } })
      )
  )
  .add(
    HttpApiEndpoint.post("compensate")`/v1/transactions/${id}/compensate`
      .addSuccess(CompensationResult)
      .addError(NotFoundResponse)
      .addError(ConflictResponse)
      .addError(UnavailableResponse)
      .annotate(OpenApi.Summary, "Retry the compensation of a failed transaction")
      .annotate(
        OpenApi.Transform,
        requestExample({
          method: "POST",
          path: `/v1/transactions/${exampleId}/compensate`,
          parameters: { id: exampleId }
        })
      )
  )
  .add(
    HttpApiEndpoint.post("resolve")`/v1/transactions/${id}/resolve`
      .setPayload(ResolveRequest)
      .addSuccess(TransactionRecord)
      .addError(NotFoundResponse)
      .addError(ConflictResponse)
      .addError(UnavailableResponse)
      .annotate(OpenApi.Summary, "Mark a failed transaction resolved by hand, with the reason")
      .annotate(
        OpenApi.Transform,
        requestExample({
          method: "POST",
          path: `/v1/transactions/${exampleId}/resolve`,
          parameters: { id: exampleId },
          body: { reason: "the orphaned row was deleted by hand (ticket OPS-142)" }
        })
      )
  )
  .addError(BadRequestResponse)
  .addError(UnauthorizedResponse)
  .middleware(Authorization)
  .annotate(OpenApi.Title, "Transactions")
  .annotate(
    OpenApi.Description,
    "Run a transaction (one saga across the configured sources), read transactions and an overview from the " +
      "journal, retry the compensation of a failed one or mark it resolved by hand. Behind `apiKeys` when configured."
  )
{}

/**
 * Readiness: the journal and every source answered.
 *
 * @since 0.1.0
 */
export const Readiness = Schema.Struct({
  status: Schema.Literal("ready", "unavailable"),
  checks: Schema.Record({ key: Schema.String, value: Schema.String })
}).annotations({ identifier: "Readiness" })

/**
 * 503 from `/ready`: what is not reachable, or still opening at start (`opening`, `failed: …`).
 *
 * @since 0.1.0
 */
export class NotReady extends Schema.TaggedError<NotReady>()("NotReady", {
  status: Schema.Literal("unavailable"),
  checks: Schema.Record({ key: Schema.String, value: Schema.String })
}, HttpApiSchema.annotations({ status: 503 })) {}

/**
 * @since 0.1.0
 */
export class HealthGroup extends HttpApiGroup.make("health")
  .add(
    HttpApiEndpoint.get("health", "/health")
      .addSuccess(Schema.Struct({ status: Schema.Literal("ok") }))
      .annotate(OpenApi.Summary, "Liveness: the process answers (at once, before the journal and the sources open)")
      .annotate(OpenApi.Transform, requestExample({ method: "GET", path: "/health" }))
  )
  .add(
    HttpApiEndpoint.get("metrics", "/metrics")
      .addSuccess(HttpApiSchema.Text({ contentType: "text/plain; version=0.0.4; charset=utf-8" }))
      .annotate(OpenApi.Summary, "Prometheus metrics")
      .annotate(OpenApi.Transform, requestExample({ method: "GET", path: "/metrics" }))
      .annotate(
        OpenApi.Description,
        "The Prometheus text format: `polysaga_sagas_total{status}`, `polysaga_sagas_in_flight`, " +
          "`polysaga_step_duration_seconds{engine,outcome}` (histogram), `polysaga_recoveries_total{status}`. " +
          "Not behind `apiKeys`, like the health checks."
      )
  )
  .add(
    HttpApiEndpoint.get("ready", "/ready")
      .addSuccess(Readiness)
      .addError(NotReady)
      .annotate(OpenApi.Summary, "Readiness: the journal and every source are open and reachable")
      .annotate(
        OpenApi.Description,
        "503 while the journal or a source is still opening at start (its check says `opening`, or `failed: …`), " +
          "when one does not answer now, or while shutting down; each check names its part (`journal`, " +
          "`source:<tag>`)."
      )
      .annotate(OpenApi.Transform, requestExample({ method: "GET", path: "/ready" }))
  )
  .annotate(OpenApi.Title, "Health")
  .annotate(
    OpenApi.Description,
    "Liveness, readiness and metrics for orchestrators and monitoring. Never behind `apiKeys`."
  )
{}

/**
 * @since 0.1.0
 */
export class Api extends HttpApi.make("polysaga")
  .add(TransactionsGroup)
  .add(HealthGroup)
  .annotate(OpenApi.Title, "polysaga warehouse")
  .annotate(OpenApi.License, { name: "MIT", url: "https://opensource.org/licenses/MIT" })
  .annotate(OpenApi.Servers, [
    { url: "/", description: "The server that serves this document" },
    { url: "http://127.0.0.1:8080", description: "The local service of `scripts/serve.sh`" }
  ])
  .annotate(OpenApi.Transform, (spec) => withoutSharedIds(withoutDecodeError(spec)))
  .annotate(
    OpenApi.Description,
    "One logical write across PostgreSQL, MongoDB, Neo4j and Chroma, undone when a later step fails."
  )
{}
