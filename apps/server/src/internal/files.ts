import * as fs from "node:fs"

/**
 * The service's package directory (`apps/server`, or where `@polysaga/server` is installed): the nearest directory
 * above this module with `console/index.html`. This module is in `src/internal` (tsx), `dist/internal` (tsc) or
 * inside the bundle `dist/main.js`, so a fixed `../..` would be right for only some of them.
 */
const root = (): URL => {
  for (let dir = new URL(".", import.meta.url);; dir = new URL("..", dir)) {
    if (fs.existsSync(new URL("console/index.html", dir))) return dir
    if (dir.pathname === "/") throw new Error(`no console/index.html above ${import.meta.url}`)
  }
}

let found: URL | undefined

/** A file of the package: `file("config/demo.sql")`. */
export const file = (relative: string): URL => new URL(relative, found ??= root())
