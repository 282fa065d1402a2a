/**
 * The requests of the fuzz suite, generated with fast-check: valid 4-store transactions (some doomed to fail at a
 * fifth step, so they compensate) mixed with hostile ones — broken fields, unknown operators, injection strings,
 * prototype keys, NUL and lone surrogates, invalid UTF-8, wrong content types, oversized and deeply nested bodies.
 *
 * What a request may write is read from its body (`expectedWrites`): the records its inserts put into the four
 * tracked entities, counted when the service answers `completed`.
 */
import * as FC from "effect/FastCheck"

/** The four entities whose counts the suite checks, one per store. */
export interface Targets {
  readonly postgres: { readonly tag: string; readonly entity: string }
  readonly mongo: { readonly tag: string; readonly entity: string }
  readonly neo4j: { readonly tag: string; readonly entity: string }
  readonly chroma: { readonly tag: string; readonly entity: string }
}

export type Store = keyof Targets

/** One request: its body as bytes and its content type. */
export interface FuzzRequest {
  readonly kind: string
  readonly body: Uint8Array
  readonly contentType: string
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const request = (kind: string, body: string | Uint8Array, contentType = "application/json"): FuzzRequest => ({
  kind,
  body: typeof body === "string" ? encoder.encode(body) : body,
  contentType
})

const injections = [
  "'; DROP TABLE users; --",
  "\" OR 1=1 --",
  "$where",
  "{\"$gt\": \"\"}",
  "}) MATCH (n) DETACH DELETE n //",
  "`) RETURN 1 //",
  "../../etc/passwd",
  "%00",
  "\\u0000",
  "${process.env}",
  "<script>alert(1)</script>",
  "🙂 ünïcödé 中文",
  "a".repeat(300)
]

const prototypeKeys = ["__proto__", "constructor", "prototype"]

/**
 * The id of a generated transaction and its records: a placeholder that `numbered` replaces with the request's
 * number (generated integers repeat, and a repeated id would be a duplicate, not the hostile input meant).
 */
const placeholder = "~n~"
const ids = (run: string) => FC.constant(`${run}-${placeholder}`)

/** The request with its id placeholders replaced by its number in the run. */
export const numbered = (request: FuzzRequest, n: number): FuzzRequest => {
  const text = decoder.decode(request.body)
  return text.includes(placeholder) && encoder.encode(text).length === request.body.length
    ? { ...request, body: encoder.encode(text.replaceAll(placeholder, String(n))) }
    : request
}

const vector = FC.array(FC.double({ min: -1, max: 1, noNaN: true }), { minLength: 4, maxLength: 4 })

/** The four inserts of a valid transaction, one per store, all keyed by `id`. */
const fourInserts = (targets: Targets, id: string, text: string, v: ReadonlyArray<number>) => [
  {
    operation: "insert",
    from: { type: "database", ...targets.postgres },
    data: { id, email: `${id}@fuzz.example`, name: text }
  },
  { operation: "insert", from: { type: "database", ...targets.mongo }, data: { key: id, note: text, n: 1 } },
  { operation: "insert", from: { type: "graph", ...targets.neo4j }, data: { key: id, note: text } },
  {
    operation: "insert",
    from: { type: "vector", ...targets.chroma },
    data: { id, vector: v, metadata: { note: text } }
  }
]

/** A fifth step that fails when it runs (no record matches): the four before it are compensated. */
const doom = (targets: Targets) => ({
  operation: "update",
  from: { type: "database", ...targets.postgres },
  data: { name: "never" },
  where: { id: "no-such-user" }
})

const valid = (targets: Targets, run: string) =>
  FC.record({
    id: ids(run),
    text: FC.oneof(FC.string({ maxLength: 40 }), FC.constantFrom(...injections)),
    vector,
    doomed: FC.boolean(),
    named: FC.boolean()
  }).map(({ doomed, id, named, text, vector: v }) => {
    const operations = [...fourInserts(targets, id, text, v), ...(doomed ? [doom(targets)] : [])]
    const options = named ? { id: `tx-${id}` } : undefined
    return request(
      doomed ? "doomed" : "valid",
      JSON.stringify({ operations, ...(options === undefined ? {} : { options }) })
    )
  })

/** A valid transaction with one part replaced by something wrong. */
const broken = (targets: Targets, run: string) =>
  FC.record({
    id: ids(run),
    at: FC.integer({ min: 0, max: 3 }),
    damage: FC.oneof(
      FC.constant({ operation: "explode" }),
      FC.constant({ from: null }),
      FC.constant({ from: { type: "database", tag: "nowhere", entity: "x" } }),
      FC.constant({ from: { type: "graph", tag: targets.postgres.tag, entity: targets.postgres.entity } }),
      FC.constantFrom(...injections).map((entity) => ({
        from: { type: "database", tag: targets.postgres.tag, entity }
      })),
      FC.constant({ data: 42 }),
      FC.constant({ data: [] }),
      FC.constant({ data: { "bad field": 1 } }),
      FC.constant({ where: { id: "x" } }),
      FC.constant({ options: { limit: -1 } }),
      FC.constant({ extra: true }),
      FC.jsonValue({ maxDepth: 3 }).map((data) => ({ data })),
      FC.constantFrom(...injections).map((key) => ({ data: { [key]: 1 } }))
    )
  }).map(({ at, damage, id }) => {
    const operations: Array<Record<string, unknown>> = fourInserts(targets, id, "x", [0.1, 0.2, 0.3, 0.4])
    operations[at] = { ...operations[at], ...damage }
    return request("broken", JSON.stringify({ operations }))
  })

const unknownOperators = (targets: Targets) =>
  FC.record({
    op: FC.constantFrom("$regex", "$where", "$expr", "$function", "$foo", "$", "$$", "$eq$", "$jsonSchema"),
    store: FC.constantFrom<Store>("postgres", "mongo", "neo4j", "chroma"),
    inUpdate: FC.boolean()
  }).map(({ inUpdate, op, store }) => {
    const type = store === "neo4j" ? "graph" : store === "chroma" ? "vector" : "database"
    const from = { type, ...targets[store] }
    const operation = inUpdate
      ? { operation: "update", from, data: { note: { [op]: 1 } }, where: { key: "none" } }
      : { operation: "select", from, where: { note: { [op]: "x" } } }
    return request("unknown-operator", JSON.stringify({ operations: [operation] }))
  })

const injectedSelects = (targets: Targets) =>
  FC.record({
    store: FC.constantFrom<Store>("postgres", "mongo", "neo4j", "chroma"),
    value: FC.constantFrom(...injections),
    op: FC.constantFrom("$eq", "$ne", "$like", "$startsWith", "$in", "$gt")
  }).map(({ op, store, value }) => {
    const type = store === "neo4j" ? "graph" : store === "chroma" ? "vector" : "database"
    const field = store === "postgres" ? "name" : "note"
    const operand = op === "$in" ? [value] : value
    return request(
      "injected-select",
      JSON.stringify({
        operations: [{ operation: "select", from: { type, ...targets[store] }, where: { [field]: { [op]: operand } } }]
      })
    )
  })

/** Prototype keys, NUL and lone surrogates in a valid transaction: written as raw JSON so nothing drops them. */
const badText = (targets: Targets, run: string) =>
  FC.record({
    id: ids(run),
    at: FC.integer({ min: 0, max: 3 }),
    how: FC.oneof(
      FC.constantFrom(...prototypeKeys).map((key) => ({ key: `"${key}"`, value: "\"x\"" })),
      FC.constantFrom("\\u0000", "a\\u0000b", "\\ud800", "x\\udfff", "\\udc00\\ud800").map((s) => ({
        key: "\"text\"",
        value: `"${s}"`
      })),
      FC.constantFrom("\\u0000", "\\ud834").map((s) => ({ key: `"k${s}"`, value: "1" })),
      FC.constantFrom(...prototypeKeys).map((key) => ({ key: "\"doc\"", value: `{"${key}":{"a":1}}` }))
    )
  }).map(({ at, how, id }) => {
    const operations = fourInserts(targets, id, "x", [0.1, 0.2, 0.3, 0.4]).map((op) => JSON.stringify(op))
    // the bad member goes first in the record of operation `at`
    operations[at] = operations[at]!.replace(/"data":\{/, `"data":{${how.key}:${how.value},`)
    return request("bad-text", `{"operations":[${operations.join(",")}],"options":{"id":"tx-${id}"}}`)
  })

const deep = (targets: Targets) =>
  FC.record({
    levels: FC.oneof(FC.integer({ min: 20, max: 200 }), FC.constantFrom(1_000, 3_000, 10_000)),
    key: FC.constantFrom("$not", "$and", "$or", "data"),
    store: FC.constantFrom<Store>("postgres", "mongo", "neo4j", "chroma")
  }).map(({ key, levels, store }) => {
    const type = store === "neo4j" ? "graph" : store === "chroma" ? "vector" : "database"
    const from = JSON.stringify({ type, ...targets[store] })
    if (key === "data") {
      const value = `${"{\"a\":".repeat(levels)}1${"}".repeat(levels)}`
      return request("deep", `{"operations":[{"operation":"insert","from":${from},"data":{"doc":${value}}}]}`)
    }
    const open = key === "$not" ? "{\"$not\":" : `{"${key}":[`
    const close = key === "$not" ? "}" : "]}"
    const where = `${open.repeat(levels)}{"note":"x"}${close.repeat(levels)}`
    return request("deep", `{"operations":[{"operation":"select","from":${from},"where":${where}}]}`)
  })

const invalidUtf8 = (targets: Targets) =>
  FC.record({
    bytes: FC.uint8Array({ minLength: 1, maxLength: 8 }).map((b) => b.map((x) => x | 0x80)),
    id: FC.integer({ min: 0, max: 1000 })
  }).map(({ bytes }) => {
    const [before, after] = [
      `{"operations":[{"operation":"select","from":${
        JSON.stringify({ type: "database", ...targets.postgres })
      },"where":{"name":"`,
      "\"}}]}"
    ]
    return request("invalid-utf8", new Uint8Array([...encoder.encode(before), ...bytes, ...encoder.encode(after)]))
  })

const wrongContentType = (targets: Targets, run: string) =>
  FC.record({
    contentType: FC.constantFrom(
      "text/plain",
      "application/xml",
      "multipart/form-data; boundary=x",
      "",
      "application/x-www-form-urlencoded"
    ),
    body: FC.oneof(
      FC.constant("<operations><insert/></operations>"),
      FC.constant("operations=1&options=2"),
      FC.string({ maxLength: 50 }),
      ids(run).map((id) => JSON.stringify({ operations: [fourInserts(targets, id, "ct", [0.1, 0.2, 0.3, 0.4])[0]] }))
    )
  }).map(({ body, contentType }) => request("content-type", body, contentType))

const oversized = FC.integer({ min: 1, max: 64 }).map((kb) =>
  request("oversized", `{"operations":[{"pad":"${"x".repeat(1024 * 1024 + kb * 1024)}"}]}`)
)

const garbage = FC.oneof(
  FC.string({ maxLength: 200 }),
  FC.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  FC.constantFrom("", "null", "[]", "{}", "{\"operations\":null}", "{\"operations\":[null]}", "{\"operations\":[1,2]}")
).map((body) => request("garbage", body))

/** The mix: about an eighth valid transactions (half of them doomed), the rest hostile. */
export const arbitrary = (targets: Targets, run: string): FC.Arbitrary<FuzzRequest> =>
  FC.oneof(
    { arbitrary: valid(targets, run), weight: 12 },
    { arbitrary: broken(targets, run), weight: 14 },
    { arbitrary: unknownOperators(targets), weight: 10 },
    { arbitrary: injectedSelects(targets), weight: 10 },
    { arbitrary: badText(targets, run), weight: 12 },
    { arbitrary: deep(targets), weight: 10 },
    { arbitrary: invalidUtf8(targets), weight: 6 },
    { arbitrary: wrongContentType(targets, run), weight: 8 },
    { arbitrary: oversized, weight: 2 },
    { arbitrary: garbage, weight: 10 }
  )

/**
 * The records a request writes into each tracked entity if it completes: the records of its inserts there (read
 * from the body as the service reads it). The generator makes no other write into them that could complete.
 */
export const expectedWrites = (targets: Targets, body: Uint8Array): Record<Store, number> => {
  const writes: Record<Store, number> = { postgres: 0, mongo: 0, neo4j: 0, chroma: 0 }
  let parsed: unknown
  try {
    parsed = JSON.parse(decoder.decode(body))
  } catch {
    return writes
  }
  const operations = (parsed as { operations?: unknown } | null)?.operations
  if (!Array.isArray(operations)) return writes
  for (
    const op of operations as Array<{ operation?: unknown; from?: { tag?: unknown; entity?: unknown }; data?: unknown }>
  ) {
    if (op?.operation !== "insert") continue
    for (const store of Object.keys(targets) as Array<Store>) {
      if (op.from?.tag === targets[store].tag && op.from?.entity === targets[store].entity) {
        writes[store] += Array.isArray(op.data) ? op.data.length : 1
      }
    }
  }
  return writes
}

/** The `options.id` a request names, if its body is JSON with one. */
export const namedId = (body: Uint8Array): string | undefined => {
  try {
    const id = (JSON.parse(decoder.decode(body)) as { options?: { id?: unknown } } | null)?.options?.id
    return typeof id === "string" ? id : undefined
  } catch {
    return undefined
  }
}
