/**
 * The OpenAPI document: `redocly lint` (its recommended rules, see redocly.yaml) finds no error and no warning, and the document
 * declares what the server sends (no 400 the server cannot answer, the Prometheus text at `/metrics`).
 */
import * as OpenApi from "@effect/platform/OpenApi"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, it } from "vitest"
import { Api } from "../src/Api.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")
const spec = OpenApi.fromApi(Api) as any

it("redocly lint: no error, no warning", () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "polysaga-openapi-")), "openapi.json")
  fs.writeFileSync(file, JSON.stringify(spec, null, 2))
  const result = spawnSync(path.join(root, "node_modules", ".bin", "redocly"), [
    "lint",
    "--format=summary",
    `--config=${path.join(root, "apps", "server", "redocly.yaml")}`,
    file
  ], {
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" }
  })
  const output = `${result.stdout}\n${result.stderr}`
  assert.strictEqual(result.status, 0, output)
  assert.match(output, /Your API description is valid/, output)
  assert.notMatch(output, /You have \d+ warnings?/, output)
})

it("declares what the server sends", () => {
  assert.notInclude(JSON.stringify(spec), "HttpApiDecodeError")
  assert.isUndefined(spec.paths["/health"].get.responses["400"])
  assert.deepStrictEqual(
    spec.paths["/v1/transactions"].post.responses["400"].content["application/json"].schema,
    { $ref: "#/components/schemas/BadRequest" }
  )
  assert.hasAllKeys(spec.paths["/metrics"].get.responses["200"].content, ["text/plain; version=0.0.4; charset=utf-8"])
  assert.strictEqual(spec.info.license.name, "MIT")
  assert.isAbove(spec.servers.length, 0)
  for (const tag of spec.tags) assert.isString(tag.description, tag.name)
  for (const [route, operations] of Object.entries<any>(spec.paths)) {
    for (const [method, operation] of Object.entries<any>(operations)) {
      // (redocly.yaml turns operation-4xx-response off for the health group, which takes no input)
      if (route.startsWith("/v1/")) {
        assert.isTrue(Object.keys(operation.responses).some((status) => status.startsWith("4")), `${method} ${route}`)
      }
      assert.match(operation["x-codeSamples"]?.[0]?.source ?? "", /^curl /, `${method} ${route}`)
    }
  }
})

it("describes selects: fields, orderBy, limit, offset, the new operators and a vector search", () => {
  const schemas = spec.components.schemas
  const select = schemas.Operation.anyOf.find((o: any) => o.properties.operation.enum[0] === "select")
  assert.includeMembers(Object.keys(select.properties), ["where", "fields", "orderBy", "limit", "offset"])
  assert.deepStrictEqual(select.properties.orderBy.items.properties.order.enum, ["ASC", "DESC"])
  assert.includeMembers(Object.keys(schemas.Comparison.properties), ["$containsAll", "$containsAny", "$regex"])
  assert.strictEqual(schemas.Comparison.properties.$regex.maxLength, 256)
  assert.sameMembers(schemas.VectorSearch.anyOf.map((o: any) => Object.keys(o.properties)[0]), ["$similar", "$near"])
  assert.include(JSON.stringify(schemas.SelectWhere), "#/components/schemas/VectorSearch")
})
