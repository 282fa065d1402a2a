import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as Files from "./files.js"

/**
 * The operator console's files (`apps/server/console`), served from the same origin as the API: `/` is the page,
 * `/console/*` its script and style sheet. They hold no data: everything the page shows comes from `/v1/*` with
 * the API key the person enters.
 */
const files = [
  { route: "/", file: "index.html", type: "text/html; charset=utf-8" },
  { route: "/console/console.js", file: "console.js", type: "text/javascript; charset=utf-8" },
  { route: "/console/console.css", file: "console.css", type: "text/css; charset=utf-8" }
] as const

/**
 * Only this origin's script and style sheet run (no inline script or style, no other origin), and only this
 * origin's API is reached; the page cannot be framed.
 */
export const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join("; ")

const headers = {
  "content-security-policy": contentSecurityPolicy,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache"
}

/** The console's routes on the API's router; the files are read once, when the server starts. */
export const layer = HttpApiBuilder.Router.use((router) =>
  Effect.forEach(files, ({ file, route, type }) => {
    const body = fs.readFileSync(Files.file(`console/${file}`))
    return router.get(route, Effect.succeed(HttpServerResponse.uint8Array(body, { contentType: type, headers })))
  }, { discard: true })
)
