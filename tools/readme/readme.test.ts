/**
 * The READMEs' TypeScript examples against the files that hold them: a ```ts block preceded by
 * `<!-- example: <file> -->` must equal the `// #region readme` … `// #endregion readme` part of that file
 * (`<!-- example: <file>#<name> -->`: the `// #region readme:<name>` … `// #endregion readme:<name>` part, so one file
 * can hold several blocks of a README), and the file must run to its end against the stack and exit by itself (exit
 * code 0) — a `*.test.ts` file runs in its package's suite instead. The files are type-checked with their
 * package (`pnpm check`). Every ```ts block must have its file: write a block that is not TypeScript as another
 * language (```sh, ```sql, ```json, ```text).
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
    // a block in another spelling of TypeScript or JavaScript is code too: it must be ```ts and have its file
    if (!/^```(ts|typescript|tsx|js|javascript|mjs)$/.test(lines[i]!)) continue
    const end = lines.indexOf("```", i + 1)
    const marker = /^<!-- example: (\S+) -->$/.exec(lines[i - 1] ?? "")
    const example = lines[i] === "```ts" ? marker?.[1] : undefined
    found.push({ readme, line: i + 1, code: lines.slice(i + 1, end).join("\n"), example })
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

describe("README examples", () => {
  it("every ```ts block is backed by an example file", () => {
    const unbacked = blocks.filter((block) => block.example === undefined)
      .map((block) => `${block.readme}:${block.line}: ${block.code.split("\n")[0]}`)
    assert.deepStrictEqual(unbacked, [])
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
