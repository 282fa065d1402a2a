/**
 * `polysaga sagas list | show | retry | resolve`: the operator console's views and actions from a terminal, as an
 * `@effect/cli` command on the service's HTTP API (an `HttpApiClient` of the same `Api`). Human-readable tables,
 * or the API's JSON with `--json`. The service is `--url` (or `POLYSAGA_URL`, default `http://127.0.0.1:8080`), the
 * key `--api-key` (or `POLYSAGA_API_KEY`).
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { Api, type TransactionRecord, type TransactionSummary } from "./Api.js"

/**
 * A command that did not do what was asked: the service refused (its error code and message), could not be
 * reached, or a compensation retried and failed again. The process exits 1 with this message.
 *
 * @since 0.1.0
 */
export class CliError extends Data.TaggedError("CliError")<{ readonly message: string }> {}

const url = Options.text("url").pipe(
  Options.withDescription("the service's base URL (default: POLYSAGA_URL, else http://127.0.0.1:8080)"),
  Options.optional
)
const apiKey = Options.redacted("api-key").pipe(
  Options.withDescription("one of the service's apiKeys (default: POLYSAGA_API_KEY)"),
  Options.optional
)
const json = Options.boolean("json").pipe(Options.withDescription("print the API's JSON instead of a table"))
const common = { url, apiKey, json }

const client = (options: {
  readonly url: Option.Option<string>
  readonly apiKey: Option.Option<Redacted.Redacted<string>>
}) =>
  Effect.gen(function*() {
    const baseUrl = Option.isSome(options.url)
      ? options.url.value
      : yield* Config.string("POLYSAGA_URL").pipe(Config.withDefault("http://127.0.0.1:8080"))
    const key = Option.isSome(options.apiKey)
      ? options.apiKey
      : yield* Config.option(Config.redacted("POLYSAGA_API_KEY"))
    return yield* HttpApiClient.make(Api, {
      baseUrl,
      transformClient: Option.match(key, {
        onNone: () => (c: HttpClient.HttpClient) => c,
        onSome: (k) => HttpClient.mapRequest(HttpClientRequest.bearerToken(Redacted.value(k)))
      })
    })
  }).pipe(Effect.mapError((error) => new CliError({ message: `configuration: ${error.message}` })))

/** Every failure as one line: the API's `CODE: message`, or why the service could not be reached. */
const explain = (error: unknown): CliError => {
  if (error instanceof CliError) return error
  const e = error as { readonly _tag?: string; readonly code?: string; readonly message?: string }
  if (typeof e.code === "string" && typeof e.message === "string") {
    return new CliError({ message: `${e.code}: ${e.message}` })
  }
  if (e._tag === "RequestError" || e._tag === "ResponseError") {
    return new CliError({ message: `the service did not answer: ${e.message ?? String(error)}` })
  }
  return new CliError({ message: e.message ?? String(error) })
}

const print = (value: unknown) => Console.log(JSON.stringify(value, null, 2))

/** Columns padded to their widest cell. */
const table = (head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) => i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)).join("  ").trimEnd()
  return [line(head), ...rows.map(line)].join("\n")
}

const ms = (n: number | undefined) => n === undefined ? "" : n < 1000 ? `${n} ms` : `${(n / 1000).toFixed(2)} s`
const status = (saga: Pick<TransactionSummary, "status" | "resolution">) =>
  saga.resolution === undefined ? saga.status : `${saga.status} (resolved)`

const list = Command.make("list", {
  ...common,
  status: Options.choice("status", ["running", "completed", "compensated", "failed"]).pipe(Options.optional),
  needsPerson: Options.boolean("needs-person").pipe(
    Options.withDescription("only failed sagas not resolved by hand")
  ),
  id: Options.text("id").pipe(Options.withDescription("the id contains this"), Options.optional),
  from: Options.text("from").pipe(Options.withDescription("started at or after (ISO 8601)"), Options.optional),
  to: Options.text("to").pipe(Options.withDescription("started before (ISO 8601)"), Options.optional),
  limit: Options.integer("limit").pipe(Options.withDefault(50)),
  cursor: Options.text("cursor").pipe(Options.withDescription("the next page, as printed"), Options.optional)
}, (options) =>
  Effect.gen(function*() {
    const api = yield* client(options)
    const date = (value: Option.Option<string>, name: string) =>
      Option.match(value, {
        onNone: () => Effect.succeed(undefined),
        onSome: (text) => {
          const parsed = new Date(text)
          return Number.isNaN(parsed.getTime())
            ? Effect.fail(new CliError({ message: `--${name}: "${text}" is not an ISO 8601 date` }))
            : Effect.succeed(parsed)
        }
      })
    const from = yield* date(options.from, "from")
    const to = yield* date(options.to, "to")
    const page = yield* api.transactions.list({
      urlParams: {
        status: options.needsPerson ? "failed" : Option.getOrUndefined(options.status),
        resolved: options.needsPerson ? false : undefined,
        id: Option.getOrUndefined(options.id),
        from,
        to,
        limit: options.limit,
        cursor: Option.getOrUndefined(options.cursor)
      }
    })
    if (options.json) return yield* print(page)
    if (page.transactions.length === 0) return yield* Console.log("no saga matches")
    yield* Console.log(table(
      ["ID", "NAME", "STATUS", "STARTED", "DURATION", "ERROR"],
      page.transactions.map((saga) => [
        saga.id,
        saga.name,
        status(saga),
        saga.startedAt,
        saga.endedAt === undefined ? "" : ms(Date.parse(saga.endedAt) - Date.parse(saga.startedAt)),
        saga.resolution?.reason ?? saga.error ?? ""
      ])
    ))
    if (page.next !== undefined) yield* Console.log(`\nmore: --cursor ${page.next}`)
  }).pipe(Effect.mapError(explain))).pipe(
    Command.withDescription("sagas, newest first (`--status failed`, `--needs-person`, `--id`, `--from`, `--to`)")
  )

const describe = (saga: TransactionRecord): string => {
  const facts: Array<[string, string | undefined]> = [
    ["name", saga.name],
    ["status", status(saga)],
    ["started", saga.startedAt],
    ["ended", saga.endedAt],
    ["time", ms(saga.executionTime)],
    ["error", saga.error],
    ["resolved", saga.resolution === undefined ? undefined : `${saga.resolution.at}: ${saga.resolution.reason}`],
    ["undone", saga.compensatedSteps.join(", ")],
    ["left to undo", saga.pendingCompensations.join(", ")],
    ["in doubt", saga.inDoubt.join(", ")]
  ]
  const steps = saga.steps.flatMap((step) => [
    [
      step.id,
      step.tag ?? "",
      step.engine ?? "",
      step.entity ?? "",
      step.operation ?? "",
      step.status,
      String(step.attempts),
      step.affectedRows === undefined ? "" : String(step.affectedRows),
      ms(step.duration),
      step.error ?? ""
    ],
    ...(step.undo ?? []).map((line) => ["", `  undo: ${line}`]),
    ...(step.compensation === undefined ? [] : [[
      "",
      `  compensation ${step.compensation.status}${
        step.compensation.error === undefined ? "" : `: ${step.compensation.error}`
      }`
    ]])
  ])
  return [
    `saga ${saga.id}`,
    table(
      ["", ""],
      facts.filter((fact): fact is [string, string] => fact[1] !== undefined && fact[1] !== "")
    ).split("\n").slice(1).join("\n"),
    "",
    table(
      ["STEP", "SOURCE", "ENGINE", "ENTITY", "OPERATION", "STATUS", "ATTEMPTS", "RECORDS", "TIME", "ERROR"],
      steps.map((row) => row.length === 2 ? [row[0]!, row.slice(1).join("")] : row)
    ),
    "",
    "journal:",
    ...saga.events.map((event) =>
      [
        event.at,
        event.type,
        event.stepId,
        event.attempt === undefined ? undefined : `attempt ${event.attempt}`,
        event.status,
        event.error ?? event.reason
      ].filter((part) => part !== undefined).join("  ")
    )
  ].join("\n")
}

const id = Args.text({ name: "id" }).pipe(Args.withDescription("the saga id"))

const show = Command.make("show", { ...common, id }, (options) =>
  Effect.gen(function*() {
    const api = yield* client(options)
    const saga = yield* api.transactions.get({ path: { id: options.id } })
    yield* options.json ? print(saga) : Console.log(describe(saga))
  }).pipe(Effect.mapError(explain))).pipe(
    Command.withDescription("a saga: its steps (source, engine, entity, operation, records, undo) and journal")
  )

const retry = Command.make("retry", { ...common, id }, (options) =>
  Effect.gen(function*() {
    const api = yield* client(options)
    const result = yield* api.transactions.compensate({ path: { id: options.id } })
    if (options.json) yield* print(result)
    else if (result.status === "compensated") {
      yield* Console.log(`saga ${result.id}: compensated (undone: ${result.compensatedSteps.join(", ") || "nothing"})`)
    }
    if (result.status !== "compensated") {
      return yield* new CliError({
        message: `saga ${result.id} is still failed: ${result.error ?? "its compensation failed"} ` +
          `(left to undo: ${result.pendingCompensations.join(", ")})`
      })
    }
  }).pipe(Effect.mapError(explain))).pipe(
    Command.withDescription("retry the compensation of a failed saga now; exits 1 if it fails again")
  )

const resolve = Command.make("resolve", {
  ...common,
  id,
  reason: Options.text("reason").pipe(Options.withDescription("what was done by hand (kept in the journal)"))
}, (options) =>
  Effect.gen(function*() {
    const api = yield* client(options)
    const saga = yield* api.transactions.resolve({ path: { id: options.id }, payload: { reason: options.reason } })
    yield* options.json
      ? print(saga)
      : Console.log(`saga ${saga.id}: resolved by hand at ${saga.resolution?.at}: ${saga.resolution?.reason}`)
  }).pipe(Effect.mapError(explain))).pipe(
    Command.withDescription("mark a failed saga resolved by hand, with the reason; it no longer needs a person")
  )

/**
 * The `polysaga` command.
 *
 * @since 0.1.0
 */
export const command = Command.make("polysaga").pipe(
  Command.withSubcommands([
    Command.make("sagas").pipe(
      Command.withDescription("see sagas and act on the failed ones"),
      Command.withSubcommands([list, show, retry, resolve])
    )
  ])
)

/**
 * Run the command on `argv` (as `process.argv`). Needs the platform's services (`NodeContext`) and an
 * `HttpClient` (`FetchHttpClient.layer`).
 *
 * @since 0.1.0
 */
export const run = Command.run(command, { name: "polysaga", version: "0.1.0" })
