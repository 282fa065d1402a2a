/**
 * The server's configuration: a JSON file whose strings may hold `${VAR}` references to the environment, decoded
 * with Schema. Secrets (API keys, the journal URL, OTLP headers) are `Redacted` once decoded.
 *
 * @since 0.1.0
 */
import { Source } from "@polysaga/warehouse"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as internal from "./internal/config.js"

/**
 * `{ "url": "postgres://…" }` (a shared PostgreSQL journal) or `{ "embedded": "<folder>" }` (in this process, one
 * process at a time: SQLite by default, `"engine": "pglite"` for PGlite). `leaseSeconds`: how long an instance keeps
 * a saga it runs without renewing (another instance takes it over after that).
 *
 * @since 0.1.0
 */
export const JournalConfig = Schema.Union(
  Schema.Struct({
    url: Schema.Redacted(Schema.NonEmptyTrimmedString),
    leaseSeconds: Schema.optional(Schema.Int.pipe(Schema.between(1, 3600)))
  }),
  Schema.Struct({
    embedded: Schema.NonEmptyTrimmedString,
    engine: Schema.optional(Schema.Literal("sqlite", "pglite")),
    leaseSeconds: Schema.optional(Schema.Int.pipe(Schema.between(1, 3600)))
  })
)

/**
 * @since 0.1.0
 */
export type JournalConfig = typeof JournalConfig.Type

/**
 * Request limits: the largest request body (bytes, default 1 MiB) and the most operations in one transaction
 * (default 100).
 *
 * @since 0.1.0
 */
export const LimitsConfig = Schema.Struct({
  maxBodyBytes: Schema.optionalWith(Schema.Int.pipe(Schema.between(256, 64 * 1024 * 1024)), {
    default: () => 1024 * 1024
  }),
  maxOperations: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 10_000)), { default: () => 100 })
})

/**
 * Traces over OTLP/HTTP (JSON): `endpoint` is the collector's traces URL, e.g. `http://127.0.0.1:4318/v1/traces`.
 *
 * @since 0.1.0
 */
export const OtlpConfig = Schema.Struct({
  endpoint: Schema.NonEmptyTrimmedString.pipe(Schema.pattern(/^https?:\/\//, {
    message: () => "must be an http:// or https:// URL"
  })),
  serviceName: Schema.optionalWith(Schema.NonEmptyTrimmedString, { default: () => "polysaga-server" }),
  headers: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Redacted(Schema.String) }))
})

/**
 * @since 0.1.0
 */
export type OtlpConfig = typeof OtlpConfig.Type

/**
 * The whole configuration. Unknown fields are errors (a typo never passes silently).
 *
 * @since 0.1.0
 */
export const ServerConfig = Schema.Struct({
  /** The interface to listen on (default `127.0.0.1`; `0.0.0.0` for every interface). */
  host: Schema.optionalWith(Schema.NonEmptyTrimmedString, { default: () => "127.0.0.1" }),
  /** The port (default 8080; 0 picks a free one). */
  port: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 65535)), { default: () => 8080 }),
  /**
   * Accepted `Authorization: Bearer <key>` keys. Absent: every request is accepted (a warning is logged at
   * start). Present, it must hold at least one key.
   */
  apiKeys: Schema.optional(
    Schema.NonEmptyArray(Schema.Redacted(Schema.String.pipe(Schema.minLength(16, {
      message: () => "an API key needs at least 16 characters"
    }))))
  ),
  journal: JournalConfig,
  sources: Schema.Array(Source.SourceConfig).pipe(Schema.minItems(1, { message: () => "at least one source" })),
  limits: Schema.optionalWith(LimitsConfig, { default: () => LimitsConfig.make({}) }),
  /** How long SIGTERM waits for in-flight transactions before it interrupts (and so compensates) them. */
  shutdownTimeoutMs: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 600_000)), { default: () => 25_000 }),
  /** How often the recovery runner looks for unfinished sagas whose owner is gone. */
  recoveryIntervalMs: Schema.optionalWith(Schema.Int.pipe(Schema.between(100, 3_600_000)), {
    default: () => 10_000
  }),
  otlp: Schema.optional(OtlpConfig),
  /** Print every finished span to stdout (OpenTelemetry's console exporter), e.g. while developing. */
  consoleSpans: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  logLevel: Schema.optionalWith(Schema.Literal("debug", "info", "warning", "error"), { default: () => "info" }),
  /** `pretty` (default): human-readable lines; `json`: one JSON object per line, for a log collector. */
  logFormat: Schema.optionalWith(Schema.Literal("pretty", "json"), { default: () => "pretty" })
})

/**
 * @since 0.1.0
 */
export type ServerConfig = typeof ServerConfig.Type

/**
 * The configuration could not be read or is invalid: `path` names the offending field (`sources[2].engine`),
 * `message` says what is wrong with it (never its value when it is a secret).
 *
 * @since 0.1.0
 */
export const ConfigError: typeof internal.ConfigError = internal.ConfigError

/**
 * @since 0.1.0
 */
export type ConfigError = internal.ConfigError

/**
 * Decode a configuration from its JSON text: `${VAR}` references in strings are replaced by the variables of the
 * current `ConfigProvider` (the environment by default; a missing variable is an error naming it and the field).
 *
 * @since 0.1.0
 */
export const parse: (text: string, origin?: string) => Effect.Effect<ServerConfig, ConfigError> = internal.parse(
  ServerConfig
)

/**
 * Read and decode a configuration file.
 *
 * @since 0.1.0
 */
export const load: (file: string) => Effect.Effect<ServerConfig, ConfigError> = internal.load(ServerConfig)

/**
 * Decode a configuration given as a value (tests, embedding), with the same `${VAR}` expansion.
 *
 * @since 0.1.0
 */
export const decode = (input: unknown): Effect.Effect<ServerConfig, ConfigError> =>
  internal.decode(ServerConfig)(input, "config")

/**
 * The command line: `--config <file>` (else `POLYSAGA_CONFIG`), `--init-demo` (create the demo tables before
 * starting).
 *
 * @since 0.1.0
 */
export const fromArgs: (argv: ReadonlyArray<string>) => Effect.Effect<{
  readonly file: string
  readonly initDemo: boolean
}, ConfigError> = internal.fromArgs
