/**
 * Corrections and additions to the OpenAPI document `@effect/platform` generates, as its `OpenApi.Transform`
 * annotations.
 */

type Json = Record<string, any>

const decodeError = "#/components/schemas/HttpApiDecodeError"

/**
 * The platform declares a 400 `HttpApiDecodeError` on every endpoint; this server never sends it (bad input is
 * answered with the API's own `BadRequest` body). Drop it: an endpoint that declares `BadRequest` keeps that alone,
 * the others (no input to reject) lose the 400. The schemas only it used go too.
 */
export const withoutDecodeError = (spec: Json): Json => {
  for (const operations of Object.values<Json>(spec.paths ?? {})) {
    for (const operation of Object.values<Json>(operations)) {
      const response = operation.responses?.["400"]
      const media = response?.content?.["application/json"]
      if (media === undefined) continue
      const schemas: Array<Json> = media.schema?.anyOf ?? [media.schema]
      const kept = schemas.filter((schema) => schema?.$ref !== decodeError)
      if (kept.length === 0) {
        delete operation.responses["400"]
      } else {
        media.schema = kept.length === 1 ? kept[0] : { anyOf: kept }
        response.description = "The request is invalid; nothing was done"
      }
    }
  }
  const schemas: Json = spec.components?.schemas ?? {}
  delete schemas["HttpApiDecodeError"]
  for (const name of ["Issue", "PropertyKey"]) {
    if (!JSON.stringify(spec).includes(`"#/components/schemas/${name}"`)) delete schemas[name]
  }
  return spec
}

/**
 * A request example for an operation: a `curl` line (`x-codeSamples`, which Redoc and Swagger UI show), and the
 * JSON body and parameter values it uses as `examples` of the request body and `example` of each parameter.
 */
export const requestExample = (example: {
  readonly method: string
  readonly path: string
  readonly body?: unknown
  readonly parameters?: Readonly<Record<string, unknown>>
}) =>
(operation: Json): Json => {
  const url = `http://127.0.0.1:8080${example.path}`
  const body = example.body === undefined
    ? ""
    : ` -H 'content-type: application/json' -d '${JSON.stringify(example.body)}'`
  operation["x-codeSamples"] = [{
    lang: "Shell",
    label: "curl",
    source: `curl -sS -X ${example.method} '${url}'${body}`
  }]
  const media = operation.requestBody?.content?.["application/json"]
  if (media !== undefined && example.body !== undefined) media.examples = { example: { value: example.body } }
  for (const parameter of operation.parameters ?? []) {
    if (example.parameters?.[parameter.name] !== undefined) parameter.example = example.parameters[parameter.name]
  }
  return operation
}

/**
 * Effect's JSON Schema gives every `Schema.Unknown` the same `$id` (`/schemas/unknown`); JSON Schema validators (and
 * so `redocly lint`'s example validation) reject a document where one `$id` names several schemas. The `$id` adds
 * nothing there: drop it.
 */
export const withoutSharedIds = (spec: Json): Json => {
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(visit)
    else if (typeof value === "object" && value !== null) {
      const record = value as Json
      if (typeof record["$id"] === "string" && record["$id"].startsWith("/schemas/")) delete record["$id"]
      Object.values(record).forEach(visit)
    }
  }
  visit(spec)
  return spec
}
