import { Source } from "@polysaga/warehouse"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import type { ServerConfig } from "../Config.js"
import { format as formatPath } from "./path.js"

/** The public `ConfigError` (re-exported by `Config.ts`, documented there). */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  path: Schema.String,
  message: Schema.String
}) {}

type Decoder = typeof ServerConfig

/** `${NAME}` or `${NAME:-default}`. */
const reference = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

const secretFields = new Set(["url", "password", "token"])

/** Fields whose values are secrets: their values never appear in messages. */
const isSecret = (segments: ReadonlyArray<PropertyKey>): boolean =>
  segments[0] === "apiKeys" || segments[0] === "journal" || segments[0] === "otlp" ||
  segments.some((segment) => typeof segment === "string" && secretFields.has(segment))

const expandString = (value: string, at: string): Effect.Effect<string, ConfigError> => {
  const names = Array.from(value.matchAll(reference))
  if (names.length === 0) return Effect.succeed(value)
  return Effect.forEach(names, (match) => {
    const [, name, fallback] = match
    const variable = Config.string(name!)
    return Effect.mapError(
      fallback === undefined ? variable : Config.withDefault(variable, fallback),
      () =>
        new ConfigError({
          path: at,
          message: `${at || "config"}: the environment variable ${name} is not set`
        })
    )
  }).pipe(Effect.map((values) => {
    let i = 0
    return value.replace(reference, () => values[i++]!)
  }))
}

/** Replaces `${VAR}` references in every string of a JSON value (keys are left alone). */
const expand = (value: unknown, segments: ReadonlyArray<PropertyKey>): Effect.Effect<unknown, ConfigError> => {
  if (typeof value === "string") return expandString(value, formatPath(segments))
  if (Array.isArray(value)) return Effect.forEach(value, (item, i) => expand(item, [...segments, i]))
  if (typeof value === "object" && value !== null) {
    return Effect.map(
      Effect.forEach(
        Object.entries(value),
        ([key, item]) => Effect.map(expand(item, [...segments, key]), (v) => [key, v])
      ),
      (entries) => Object.fromEntries(entries)
    )
  }
  return Effect.succeed(value)
}

export const decode = (schema: Decoder) => (input: unknown, origin: string): Effect.Effect<ServerConfig, ConfigError> =>
  expand(input, []).pipe(
    Effect.flatMap((expanded) =>
      Effect.mapError(
        Schema.decodeUnknown(schema, { onExcessProperty: "error", errors: "all" })(expanded),
        (error) => {
          const all = ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => ({
            path: issue.path,
            message: isSecret(issue.path)
              ? issue.message.replace(/, actual [\s\S]*$/, " (value not shown)")
              : issue.message
          }))
          // `optional` fields also report "Expected undefined": noise next to the real issue
          const relevant = all.filter((issue) => !issue.message.startsWith("Expected undefined"))
          const issues = relevant.length > 0 ? relevant : all
          const first = issues[0]
          const where = first === undefined ? "" : formatPath(first.path)
          const lines = issues.slice(0, 5).map((issue) => `${formatPath(issue.path) || "(root)"}: ${issue.message}`)
          return new ConfigError({
            path: where,
            message: `${origin}: invalid configuration: ${lines.join("; ")}${issues.length > 5 ? "; …" : ""}`
          })
        }
      )
    ),
    // each source's settings are its engine's: decoded by the adapter's descriptor (which loads its package)
    Effect.tap((config) =>
      Effect.mapError(Source.check(config.sources), (error) =>
        new ConfigError({
          path: error.path ?? "sources",
          message: `${origin}: invalid configuration: ${error.message}`
        }))
    )
  )

export const parse = (schema: Decoder) => (text: string, origin = "config"): Effect.Effect<ServerConfig, ConfigError> =>
  Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (cause) => new ConfigError({ path: "", message: `${origin}: not valid JSON (${(cause as Error).message})` })
  }).pipe(Effect.flatMap((json) => decode(schema)(json, origin)))

/** Relative paths in a file (the embedded journal folder) are relative to the file's folder. */
const resolvePaths = (config: ServerConfig, base: string): ServerConfig =>
  "embedded" in config.journal
    ? { ...config, journal: { ...config.journal, embedded: path.resolve(base, config.journal.embedded) } }
    : config

export const load = (schema: Decoder) => (file: string): Effect.Effect<ServerConfig, ConfigError> =>
  Effect.tryPromise({
    try: () => fs.readFile(file, "utf8"),
    catch: (cause) =>
      new ConfigError({ path: "", message: `cannot read the configuration file ${file}: ${(cause as Error).message}` })
  }).pipe(
    Effect.flatMap((text) => parse(schema)(text, file)),
    Effect.map((config) => resolvePaths(config, path.dirname(path.resolve(file))))
  )

export const fromArgs = (
  argv: ReadonlyArray<string>
): Effect.Effect<{ readonly file: string; readonly initDemo: boolean }, ConfigError> =>
  Effect.gen(function*() {
    let file: string | undefined
    let initDemo = false
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i]!
      if (arg === "--config") {
        file = argv[++i]
        if (file === undefined) {
          return yield* new ConfigError({ path: "--config", message: "--config needs a file" })
        }
      } else if (arg.startsWith("--config=")) {
        file = arg.slice("--config=".length)
      } else if (arg === "--init-demo") {
        initDemo = true
      } else if (arg === "--") {
        continue
      } else {
        return yield* new ConfigError({
          path: arg,
          message: `unknown argument ${arg} (usage: server --config <file> [--init-demo])`
        })
      }
    }
    if (file === undefined) {
      const fromEnv = yield* Effect.orDie(Config.option(Config.string("POLYSAGA_CONFIG")))
      file = Option.getOrUndefined(fromEnv)
    }
    if (file === undefined || file === "") {
      return yield* new ConfigError({
        path: "--config",
        message: "no configuration: pass --config <file> or set POLYSAGA_CONFIG"
      })
    }
    return { file, initDemo }
  })
