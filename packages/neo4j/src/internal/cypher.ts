/**
 * Cypher text: checked identifiers (always backquoted), targets (a node label or a relationship type), and the
 * compilation of the filter model to two-valued Cypher predicates. Values are always parameters.
 */
import { Filter, type Operation } from "@polysaga/store"
import { scalarToDriver } from "./values.js"

/** A label, relationship type or property key that passed `Identifier.check`, backquoted. */
export const quote = (identifier: string): string => `\`${identifier}\``

/** `:`A`:`B`` for a set of checked labels. */
export const labelsOf = (labels: ReadonlyArray<string>): string => labels.map((l) => `:${quote(l)}`).join("")

/** Entity names in UPPER_SNAKE_CASE (`PLACED`, `FRIEND_OF`) are relationship types; any other name is a label. */
export const isRelationshipType = (entity: string): boolean => /^[A-Z][A-Z0-9_]*$/.test(entity)

/** Parameters of one query: `add` binds a value and returns its `$name`. */
export class Params {
  readonly values: Record<string, unknown> = {}
  private next = 0
  constructor(readonly prefix = "p") {}
  add(value: unknown): string {
    const name = `${this.prefix}${this.next++}`
    this.values[name] = value
    return `$${name}`
  }
}

/** The property the adapter writes and removes in one statement to take a record's write lock. */
export const lockProperty = "_polysagaLock"

/** Sets and removes the lock property on `n`: Neo4j then holds `n`'s write lock until the transaction ends. */
export const lock = `SET n.${lockProperty} = true REMOVE n.${lockProperty}`

/**
 * What an operation works on. Queries bind the record to `n` (and a relationship's start and end nodes to `s`
 * and `e`); `returns` yields the columns `id`, `labels`, `props` (nodes) or `id`, `type`, `props`, `start`,
 * `startLabels`, `startProps`, `end`, `endLabels`, `endProps` (relationships).
 */
export interface Target {
  readonly kind: "node" | "relationship"
  readonly entity: string
  /** `MATCH` of every record of the entity. */
  readonly match: string
  /** `MATCH … WHERE` of the records whose element ids are in `$ids`. */
  readonly byIds: string
  readonly returns: string
  /** The Cypher expression of a filter field. */
  readonly field: (name: string) => string
}

const nodeColumns = (props: string) => `elementId(n) AS id, labels(n) AS labels, ${props} AS props`
const nodeReturns = nodeColumns("properties(n)")
/** The columns of a relationship `r` with start node `s` and end node `e` (`props`: the properties of `r`). */
export const relationshipColumns = (r: string, s: string, e: string, props = `properties(${r})`): string =>
  `elementId(${r}) AS id, type(${r}) AS type, ${props} AS props, ` +
  `elementId(${s}) AS start, labels(${s}) AS startLabels, properties(${s}) AS startProps, ` +
  `elementId(${e}) AS end, labels(${e}) AS endLabels, properties(${e}) AS endProps`

export const nodeTarget = (label: string): Target => ({
  kind: "node",
  entity: label,
  match: `MATCH (n${labelsOf([label])})`,
  byIds: `MATCH (n${labelsOf([label])}) WHERE elementId(n) IN $ids`,
  returns: nodeReturns,
  field: (name) => name === "_elementId" ? "elementId(n)" : `n.${quote(name)}`
})

export const relationshipTarget = (type: string): Target => ({
  kind: "relationship",
  entity: type,
  match: `MATCH (s)-[n${labelsOf([type])}]->(e)`,
  byIds: `MATCH (s)-[n${labelsOf([type])}]->(e) WHERE elementId(n) IN $ids`,
  returns: relationshipColumns("n", "s", "e"),
  field: (name) => {
    if (name === "_elementId") return "elementId(n)"
    if (name === "_from") return "elementId(s)"
    if (name === "_to") return "elementId(e)"
    if (name.startsWith("_from_")) return `s.${quote(name.slice(6))}`
    if (name.startsWith("_to_")) return `e.${quote(name.slice(4))}`
    return `n.${quote(name)}`
  }
})

/**
 * Is `field` reserved (not a property name a record may write)? `_elementId` and `_polysaga…` everywhere; on
 * relationships also `from` / `to` (the endpoint matchers of an insert), `_type`, `_from`, `_to`, `_from_…`
 * and `_to_…` (filter fields reading the endpoints).
 */
export const isReserved = (kind: Target["kind"], field: string): boolean =>
  field === "_elementId" || field.startsWith("_polysaga") ||
  (kind === "relationship" &&
    (field === "from" || field === "to" || field === "_type" || field === "_from" || field === "_to" ||
      field.startsWith("_from_") || field.startsWith("_to_")))

/** A SQL `LIKE` pattern as a Java regular expression: `%` any run, `_` one character, all else literal. */
export const likeToRegex = (pattern: string, ignoreCase: boolean): string => {
  let source = ignoreCase ? "(?isu)" : "(?s)"
  for (const ch of pattern) {
    if (ch === "%") source += ".*"
    else if (ch === "_") source += "."
    else if (/^[A-Za-z0-9]$/.test(ch) || ch.charCodeAt(0) > 127) source += ch
    else source += `\\${ch}`
  }
  return source
}

const whenString = (e: string, predicate: string) =>
  `CASE WHEN ${e} IS :: STRING NOT NULL THEN ${predicate} ELSE false END`

const compare = (c: Filter.Compare, target: Target, params: Params): string => {
  const e = target.field(c.field)
  const value = () => params.add(scalarToDriver(c.value))
  const list = () => params.add((c.value as ReadonlyArray<unknown>).map(scalarToDriver))
  switch (c.op) {
    case "eq":
      return `coalesce(${e} = ${value()}, false)`
    case "ne":
      return `NOT coalesce(${e} = ${value()}, false)`
    case "gt":
      return `coalesce(${e} > ${value()}, false)`
    case "gte":
      return `coalesce(${e} >= ${value()}, false)`
    case "lt":
      return `coalesce(${e} < ${value()}, false)`
    case "lte":
      return `coalesce(${e} <= ${value()}, false)`
    case "in":
      return `coalesce(${e} IN ${list()}, false)`
    case "nin":
      return `NOT coalesce(${e} IN ${list()}, false)`
    case "contains":
      return `CASE WHEN ${e} IS :: LIST<ANY> NOT NULL THEN coalesce(${value()} IN ${e}, false) ELSE false END`
    case "like":
      return whenString(e, `${e} =~ ${params.add(likeToRegex(c.value as string, false))}`)
    case "ilike":
      return whenString(e, `${e} =~ ${params.add(likeToRegex(c.value as string, true))}`)
    case "startsWith":
      return whenString(e, `${e} STARTS WITH ${params.add(c.value)}`)
    case "endsWith":
      return whenString(e, `${e} ENDS WITH ${params.add(c.value)}`)
    case "null":
      return c.value === true ? `${e} IS NULL` : `${e} IS NOT NULL`
    case "exists":
      return c.value === true ? `${e} IS NOT NULL` : `${e} IS NULL`
    case "regex":
      return whenString(e, `${e} =~ ${params.add(regexToJava(c.value as string))}`)
  }
}

/**
 * A pattern of the safe subset (`Filter.regex`) for `=~`, which must match the whole value (Java's
 * `Matcher.matches`): `(?s)` so `.` matches newlines, a lazy `.*?` before an unanchored start (tried once per
 * position, as a search would) and `.*` after an unanchored end (which cannot fail, so it never backtracks into
 * the body). The body reads the same in Java as in the subset.
 */
export const regexToJava = (pattern: string): string => {
  const parsed = Filter.regex(pattern) as Filter.Regex
  return `(?s)${parsed.start ? "" : ".*?"}${parsed.body}${parsed.end ? "" : ".*"}`
}

/**
 * The tail of a select after `MATCH … WHERE …`: `ORDER BY` its `orderBy` (null first in `ASC`, last in `DESC`,
 * spelled with an `IS NULL` key: Neo4j sorts null last in `ASC`), `SKIP` its `offset`, `LIMIT $limit`, and the
 * columns of `target` with only its `fields` as properties (a missing one comes back null). Values are
 * parameters; field names were checked and are quoted.
 */
export const selectTail = (
  target: Target,
  clauses: Operation.SelectClauses | undefined,
  params: Params
): string => {
  const { fields, offset, orderBy = [] } = clauses ?? {}
  const keys = orderBy.flatMap(({ field, order }) => {
    const e = target.field(field)
    return order === "ASC" ? [`(${e} IS NULL) DESC`, `${e} ASC`] : [`(${e} IS NULL) ASC`, `${e} DESC`]
  })
  const props = fields === undefined ? "properties(n)" : `n{${fields.map((f) => `.${quote(f)}`).join(", ")}}`
  const columns = target.kind === "node" ? nodeColumns(props) : relationshipColumns("n", "s", "e", props)
  return [
    "WITH *",
    keys.length === 0 ? "" : `ORDER BY ${keys.join(", ")}`,
    offset === undefined ? "" : `SKIP ${params.add(scalarToDriver(offset))}`,
    `LIMIT $limit RETURN ${columns}`
  ].filter((part) => part !== "").join(" ")
}

/**
 * A filter as a Cypher predicate that is never null (every comparison is wrapped so that a null or missing
 * property makes it false, `$ne` / `$nin` true), so `AND` / `OR` / `NOT` keep the model's two-valued logic.
 * Field names must have been checked; throws `ValueError` on an operand that is not a scalar.
 */
export const where = (filter: Filter.Filter, target: Target, params: Params): string => {
  switch (filter._tag) {
    case "And":
      return filter.filters.length === 0
        ? "true"
        : `(${filter.filters.map((f) => where(f, target, params)).join(" AND ")})`
    case "Or":
      return filter.filters.length === 0
        ? "false"
        : `(${filter.filters.map((f) => where(f, target, params)).join(" OR ")})`
    case "Not":
      return `(NOT ${where(filter.filter, target, params)})`
    case "Compare":
      return `(${compare(filter, target, params)})`
  }
}
