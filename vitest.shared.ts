import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { defineConfig, mergeConfig } from "vitest/config"

const root = path.dirname(fileURLToPath(import.meta.url))

/**
 * The URLs of the real stores started by `pnpm stack:up`, read from `.stack/env`
 * (`POLYSAGA_PG_URL=…` lines). Variables already set in the environment win.
 */
const stackEnv = (): Record<string, string> => {
  const file = path.join(root, ".stack", "env")
  if (!fs.existsSync(file)) return {}
  const env: Record<string, string> = {}
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim())
    if (match && process.env[match[1]!] === undefined) env[match[1]!] = match[2]!
  }
  return env
}

/**
 * Workspace packages resolve to their TypeScript sources through the `@polysaga/source` export condition (the same
 * one `tsconfig.base.json` and `tsx --conditions` use); without it they resolve to `dist`, as for a user.
 */
const conditions = ["@polysaga/source", "module", "node", "development|production"]

const config = defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: stackEnv()
  }
})

/**
 * The projects that touch no store (the engine, the model, the test kit): their files run in the `threads` pool. Vitest
 * runs each pool's queue at the same time, one file at a time in each (`maxWorkers: 1` in the root config), so these
 * run beside the store-backed suites (the `forks` pool) instead of after them, and never two store-backed files at once.
 */
export const storeFree = mergeConfig(config, { test: { pool: "threads" } })

export default config
