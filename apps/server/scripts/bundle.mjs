/**
 * `pnpm build` (after `tsc`): the service as one ES module, `dist/main.js` (the `polysaga-server` bin), with what it
 * imports bundled by esbuild — Effect, the platform, OpenTelemetry, the drivers and the workspace packages (their
 * `dist`). Node then starts it from a few files instead of resolving, reading and compiling some 1,900 modules one
 * by one, which was most of the service's start-up time. The first-party adapters are chunks of their own
 * (`dist/chunks/`), loaded only when a configuration names their engine (`src/internal/adapters.ts`).
 *
 * Left outside, resolved from `node_modules` at run time: `better-sqlite3` (a native addon) and PGlite (it loads its
 * WebAssembly and data files next to its own modules); neither imports Effect.
 */
import * as esbuild from "esbuild"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"

const dir = fileURLToPath(new URL("..", import.meta.url))
fs.rmSync(`${dir}/dist/chunks`, { recursive: true, force: true })
const result = await esbuild.build({
  absWorkingDir: dir,
  entryPoints: { main: "src/main.ts" },
  outdir: "dist",
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  external: ["better-sqlite3", "@electric-sql/pglite", "@electric-sql/pglite-socket"],
  // CommonJS dependencies (the drivers, OpenTelemetry) call `require`, which an ES module does not have
  banner: {
    js: "import { createRequire as __polysagaCreateRequire } from \"node:module\";\n" +
      "const require = __polysagaCreateRequire(import.meta.url);"
  },
  sourcemap: "linked",
  logLevel: "warning",
  metafile: true
})
const outputs = Object.entries(result.metafile.outputs).filter(([file]) => file.endsWith(".js"))
const size = outputs.reduce((total, [, output]) => total + output.bytes, 0)
console.log(
  `bundle: dist/main.js and ${outputs.length - 1} chunks, ${(size / 1e6).toFixed(1)} MB, ` +
    `${Object.keys(result.metafile.inputs).length} modules`
)
