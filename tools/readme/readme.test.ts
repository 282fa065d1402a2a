/**
 * The READMEs' TypeScript examples against the files that hold them: a ```ts block preceded by
 * `<!-- example: <file> -->` must equal the `// #region readme` … `// #endregion readme` part of that file, and the
 * file must run to its end against the stack and exit by itself (exit code 0) — a `*.test.ts` file runs in its
 * package's suite instead. The files are type-checked with their
 * package (`pnpm check`). Blocks not yet backed by a file are listed in `unchecked` below, which must match exactly.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "vitest"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const readmes = [
  "README.md",
  ...fs.readdirSync(path.join(root, "packages")).map((name) => `packages/${name}/README.md`),
  "apps/server/README.md"
].filter((file) => fs.existsSync(path.join(root, file)))

interface Block {
  readonly readme: string
  readonly line: number
  readonly code: string
  readonly example: string | undefined
}

const blocks: ReadonlyArray<Block> = readmes.flatMap((readme) => {
  const lines = fs.readFileSync(path.join(root, readme), "utf8").split("\n")
  const found: Array<Block> = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== "```ts") continue
    const end = lines.indexOf("```", i + 1)
    const marker = /^<!-- example: (\S+) -->$/.exec(lines[i - 1] ?? "")
    found.push({ readme, line: i + 1, code: lines.slice(i + 1, end).join("\n"), example: marker?.[1] })
    i = end
  }
  return found
})

const region = (file: string): string => {
  const text = fs.readFileSync(path.join(root, file), "utf8")
  const match = /\n\/\/ #region readme\n([\s\S]*?)\n\/\/ #endregion readme\n/.exec(text)
  if (match === null) throw new Error(`${file}: no "// #region readme" … "// #endregion readme"`)
  return match[1]!
}

/** The blocks no file backs yet: README and the first line of the block. */
const unchecked = [
  "packages/chroma/README.md: import * as ChromaStore from \"@polysaga/chroma\"",
  "packages/chroma/README.md: ChromaStore.layerConfig({",
  "packages/chroma/README.md: import { Saga, Step } from \"@polysaga/saga\"",
  "packages/journal/README.md: import { PostgresJournal, Recovery, SqliteJournal } from \"@polysaga/journal\"",
  "packages/journal/README.md: import { PostgresJournal, Recovery } from \"@polysaga/journal\"",
  "packages/journal/README.md: const failed = yield* Journal.failed() // [{ id, name, error, startedAt, endedAt, pending: [{ stepId, name, error? }], inDoubt }]",
  "packages/mongodb/README.md: import * as MongoStore from \"@polysaga/mongodb\"",
  "packages/mongodb/README.md: MongoStore.layerConfig({",
  "packages/mongodb/README.md: import { Saga, Step } from \"@polysaga/saga\"",
  "packages/neo4j/README.md: import * as Neo4j from \"@polysaga/neo4j\"",
  "packages/neo4j/README.md: import { Saga, Step } from \"@polysaga/saga\"",
  "packages/neo4j/README.md: { operation: \"insert\", from: { type: \"graph\", tag: \"g\", entity: \"PLACED\" },",
  "packages/postgres/README.md: import * as Postgres from \"@polysaga/postgres\"",
  "packages/postgres/README.md: import { Saga, Step } from \"@polysaga/saga\"",
  "packages/saga/README.md: import { Saga, SagaJournal, Step } from \"@polysaga/saga\"",
  "packages/saga/README.md: class SagaJournal extends Context.Tag(\"@polysaga/saga/SagaJournal\")<SagaJournal, {",
  "packages/saga/README.md: const reserve = Step.define({",
  "packages/store/README.md: import { Capabilities, Store } from \"@polysaga/store\"",
  "packages/testing/README.md: import { Conformance } from \"@polysaga/testing\"",
  "packages/warehouse/README.md: // Multi-database write: a user across PostgreSQL, MongoDB, Neo4j and Chroma",
  "packages/warehouse/README.md: interface TransactionResult {          // the seed's ISagaResult, plus `id`",
  "packages/warehouse/README.md: const result = await ductape.warehouse.transaction([",
  "packages/warehouse/README.md: import { Warehouse } from \"@polysaga/warehouse\""
]

describe("README examples", () => {
  it("every ```ts block is backed by an example file, or listed as not yet", () => {
    const unbacked = blocks.filter((block) => block.example === undefined)
      .map((block) => `${block.readme}: ${block.code.split("\n")[0]}`)
    assert.deepStrictEqual(unbacked, unchecked)
  })

  const examples = blocks.filter((block): block is Block & { example: string } => block.example !== undefined)
  it("has examples", () => assert.isAbove(examples.length, 0))

  for (const block of examples) {
    it(`${block.readme}:${block.line} is ${block.example}`, () => {
      assert.strictEqual(block.code, region(block.example))
    })
  }

  const programs = [...new Set(examples.map((block) => block.example))].filter((file) => !file.endsWith(".test.ts"))
  for (const example of programs) {
    it(`${example} runs against the stack and exits by itself`, async () => {
      const child = spawn(process.execPath, ["--conditions=@polysaga/source", "--import", "tsx", example], {
        cwd: root,
        env: process.env,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      child.stdout.on("data", (chunk) => (output += chunk))
      child.stderr.on("data", (chunk) => (output += chunk))
      const code = await new Promise<number | string>((resolve) => {
        const timer = setTimeout(() => {
          child.kill("SIGKILL")
          resolve("still running after 90 s")
        }, 90_000)
        child.on("exit", (exitCode) => {
          clearTimeout(timer)
          resolve(exitCode ?? "killed")
        })
      })
      assert.strictEqual(code, 0, output)
    }, 120_000)
  }
})
