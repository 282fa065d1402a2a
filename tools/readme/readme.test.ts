/**
 * The READMEs' TypeScript examples against the files that hold them: a ```ts block preceded by
 * `<!-- example: <file> -->` must equal the `// #region readme` … `// #endregion readme` part of that file
 * (`<!-- example: <file>#<name> -->`: the `// #region readme:<name>` … `// #endregion readme:<name>` part, so one file
 * can hold several blocks of a README), and the file must run to its end against the stack and exit by itself (exit
 * code 0) — a `*.test.ts` file runs in its package's suite instead. The files are type-checked with their
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

/** The example's file (`<file>#<name>` names one of its regions). */
const fileOf = (example: string): string => example.split("#")[0]!

const region = (example: string): string => {
  const [file, name] = example.split("#")
  const text = fs.readFileSync(path.join(root, file!), "utf8")
  const label = name === undefined ? "readme" : `readme:${name}`
  const start = `\n// #region ${label}\n`
  const end = `\n// #endregion ${label}\n`
  const from = text.indexOf(start)
  const to = from === -1 ? -1 : text.indexOf(end, from + start.length)
  if (to === -1) throw new Error(`${file}: no "// #region ${label}" … "// #endregion ${label}"`)
  return text.slice(from + start.length, to)
}

/**
 * The blocks no file backs yet: README and the first line of the block. Why each is left: the journal's three and the
 * warehouse's last two (graph, `Warehouse.layer`) are code still to be moved into example files; the saga's journal
 * port and `TransactionResult` are type sketches (`leases?: { owner, duration, claim(limit) … }`, comments as field
 * notes), the declarations are in `SagaJournal.ts` and `Transaction.ts`; the saga's in-doubt snippet and the
 * testing `Conformance.run` call elide their context (`stock`, `…`) — the real calls are in `packages/*\/test`; the
 * warehouse's first block is the seed's examples as the seed writes them (`ductape.warehouse…`), run on the real
 * stores by `packages/warehouse/test/seed.test.ts`.
 */
const unchecked = [
  "packages/journal/README.md: import { PostgresJournal, Recovery, SqliteJournal } from \"@polysaga/journal\"",
  "packages/journal/README.md: import { PostgresJournal, Recovery } from \"@polysaga/journal\"",
  "packages/journal/README.md: const failed = yield* Journal.failed() // [{ id, name, error, startedAt, endedAt, pending: [{ stepId, name, error? }], inDoubt }]",
  "packages/saga/README.md: class SagaJournal extends Context.Tag(\"@polysaga/saga/SagaJournal\")<SagaJournal, {",
  "packages/saga/README.md: const reserve = Step.define({",
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

  const programs = [...new Set(examples.map((block) => fileOf(block.example)))].filter((file) =>
    !file.endsWith(".test.ts")
  )
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
