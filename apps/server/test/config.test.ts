import { assert, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Config from "../src/Config.js"
import { appDir, serviceArgs } from "./faults/harness.js"
import { tmpDir } from "./support.js"

const base = {
  journal: { url: "${JOURNAL_URL}" },
  apiKeys: ["${API_KEY}"],
  sources: [{ tag: "orders", type: "database", engine: "postgres", url: "${PG_URL:-postgres://localhost/x}" }]
}

const env = ConfigProvider.fromMap(new Map([["JOURNAL_URL", "postgres://secret@db/j"], ["API_KEY", "k".repeat(20)]]))

it.effect("${VAR} references come from the ConfigProvider, with defaults; secrets are Redacted", () =>
  Effect.gen(function*() {
    const config = yield* Config.decode(base).pipe(Effect.withConfigProvider(env))
    assert.strictEqual(config.port, 8080)
    assert.strictEqual(config.limits.maxBodyBytes, 1024 * 1024)
    assert.strictEqual(config.sources[0]!.url, "postgres://localhost/x")
    assert.isTrue("url" in config.journal && Redacted.isRedacted(config.journal.url))
    assert.notInclude(String(config.apiKeys), "kkkk")
    assert.notInclude(JSON.stringify(config), "secret")
  }))

it.effect("an invalid configuration names the field", () =>
  Effect.gen(function*() {
    const cases: ReadonlyArray<[unknown, string]> = [
      [{ ...base, port: 70000 }, "port"],
      [{ ...base, sources: [{ ...base.sources[0], engine: "mysql" }] }, "sources[0].engine"],
      [{ ...base, apiKeys: ["short"] }, "apiKeys[0]"],
      [{ ...base, limits: { maxOperations: 0 } }, "limits.maxOperations"],
      [{ ...base, portt: 1 }, "portt"],
      [{ ...base, journal: { url: "${NOPE}" } }, "journal.url"]
    ]
    for (const [input, where] of cases) {
      const error = yield* Effect.flip(Config.decode(input).pipe(Effect.withConfigProvider(env)))
      assert.strictEqual(error.path, where, error.message)
      assert.include(error.message, where)
    }
    const short = yield* Effect.flip(
      Config.decode({ ...base, apiKeys: ["short-secret"] }).pipe(Effect.withConfigProvider(env))
    )
    assert.notInclude(short.message, "short-secret")
  }))

it("the command exits 1 with one line naming the bad field", () => {
  const dir = tmpDir("badconfig")
  const file = path.join(dir, "bad.json")
  fs.writeFileSync(
    file,
    JSON.stringify({ journal: { embedded: "j" }, sources: [{ ...base.sources[0], type: "table" }] })
  )
  const result = spawnSync(process.execPath, serviceArgs(file), {
    cwd: appDir,
    encoding: "utf8",
    timeout: 30_000
  })
  assert.strictEqual(result.status, 1, result.stdout + result.stderr)
  assert.include(result.stdout + result.stderr, "sources[0].type")
})

it.effect("the README's configuration example decodes (every field it shows is one the service takes)", () =>
  Effect.gen(function*() {
    const readme = fs.readFileSync(new URL("../README.md", import.meta.url), "utf8")
    const section = readme.slice(readme.indexOf("## Configuration"))
    const json = /\n```json\n([\s\S]*?)\n```\n/.exec(section)
    assert.isNotNull(json, "the README's configuration example")
    const vars = [
      "POLYSAGA_API_KEY",
      "POLYSAGA_JOURNAL_URL",
      "PG_URL",
      "MONGO_URL",
      "NEO4J_URL",
      "NEO4J_PASSWORD",
      "CHROMA_URL"
    ]
    const provider = ConfigProvider.fromMap(
      new Map(vars.map((name) => [name, `${name.toLowerCase()}-value-0123456789`]))
    )
    const config = yield* Config.decode(JSON.parse(json![1]!)).pipe(Effect.withConfigProvider(provider))
    assert.strictEqual(config.sources.length, 4)
    assert.deepStrictEqual(config.sources.map((source) => source.engine), ["postgres", "mongodb", "neo4j", "chroma"])
  }))
