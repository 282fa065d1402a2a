/**
 * The `where` model: the Ductape Warehouse query operators, parsed into an AST adapters compile.
 *
 * Semantics every adapter follows (the conformance suite checks them):
 * - a bare value means `$eq`; several operators on one field are ANDed; several fields are ANDed;
 * - filters are two-valued: a comparison on a null or missing field is false, except `$ne` and `$nin`
 *   which are true there; `$not` is the exact complement of its filter;
 * - `$null: true` matches null or missing; `$exists: true` matches a present, non-null value;
 * - `$like` / `$ilike` use SQL patterns (`%` any run, `_` one character, no escape character: `\` is literal;
 *   `$ilike` ignores case);
 *   `$startsWith` / `$endsWith` are literal; `$contains` matches an array field holding the value;
 * - `$containsAll: [v, …]` matches an array field holding every listed value, `$containsAny: [v, …]` one holding
 *   at least one (non-empty lists). They are parsed into `$contains` comparisons joined by `$and` / `$or` (the
 *   same meaning exactly), so they run on every store that declares `$contains`;
 * - `$regex` matches a string field in which the pattern finds a match; the pattern must be in the safe subset
 *   described at {@link regex} (else a `Validation` error saying why).
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as internal from "./internal/filter.js"
import * as internalRegex from "./internal/regex.js"
import type { StoreError } from "./StoreError.js"

/**
 * @since 0.1.0
 */
export const compareOperators = [
  "eq",
  "ne",
  "gt",
  "gte",
  "lt",
  "lte",
  "in",
  "nin",
  "contains",
  "like",
  "ilike",
  "startsWith",
  "endsWith",
  "null",
  "exists",
  "regex"
] as const

/**
 * @since 0.1.0
 */
export type CompareOperator = typeof compareOperators[number]

/**
 * Every operator a filter may use, logical ones included.
 *
 * @since 0.1.0
 */
export type FilterOperator = CompareOperator | "and" | "or" | "not"

/**
 * @since 0.1.0
 */
export type Filter =
  | { readonly _tag: "And"; readonly filters: ReadonlyArray<Filter> }
  | { readonly _tag: "Or"; readonly filters: ReadonlyArray<Filter> }
  | { readonly _tag: "Not"; readonly filter: Filter }
  | Compare

/**
 * One comparison. `path` is where it came from in the operation (`where.quantity.$gte`), for errors.
 *
 * @since 0.1.0
 */
export interface Compare {
  readonly _tag: "Compare"
  readonly field: string
  readonly op: CompareOperator
  readonly value: unknown
  readonly path: string
}

/**
 * Parses a raw `where` object. Its bounds (`Limits.where`: depth, size, storable text, no prototype keys) are
 * checked first, without recursion; then field names must be identifiers; unknown `$` operators, wrong operand
 * types and non-finite numbers are rejected with the path of the offending part.
 *
 * @since 0.1.0
 */
export const parse: (where: unknown, path?: string) => Effect.Effect<Filter, StoreError> = internal.parse

/**
 * The safe `$regex` subset, which every store evaluates the same way and in time linear in the value's length:
 * - a pattern is a sequence of atoms — a literal character, `.` (any character, newlines included), an escaped
 *   metacharacter (`\.`, `\*`, … only `\.*+?()[]{}|^$` may be escaped) or a class (`[abc]`, `[^a-z0-9_]`;
 *   ranges within `a-z`, `A-Z` or `0-9`; `-`, `[`, `&` escaped) — each with at most one quantifier (`?`, `*`,
 *   `+`, `{n}`, `{n,}`, `{n,m}`, counts at most 100), optionally anchored by a leading `^` and a trailing `$`
 *   (the start and end of the value: never of a line);
 * - at most 256 characters; at most one unbounded quantifier (`*`, `+`, `{n,}`), and only in a pattern anchored
 *   with `^`; the bounded quantifiers allow at most 1,000 ways to match at one position (`?` counts 2, `{n,m}`
 *   counts m - n + 1, multiplied);
 * - refused: groups, alternation, back-references, look-arounds, lazy and possessive quantifiers, shorthand
 *   classes (`\d`, `\w`, `\s`), `\b`, POSIX classes, inline flags: the engines read them differently or
 *   backtrack on them without bound.
 *
 * Case-sensitive, per code point. A backtracking engine (MongoDB's PCRE, Neo4j's Java regex) then tries at most
 * 1,000 ways per starting position and, for an unbounded quantifier, one starting position: no blow-up. It
 * returns the pattern's anchors and body, or why it is outside the subset.
 *
 * @since 0.1.0
 */
export const regex: (pattern: string) => Regex | string = internalRegex.parse

/**
 * A pattern of the safe subset: whether it is anchored at the start (`^`) and end (`$`) of the value, and the
 * body between the anchors (which adapters wrap in their engine's own anchors).
 *
 * @since 0.1.0
 */
export type Regex = internalRegex.Parsed

/**
 * The reference semantics: does `record` match `filter`? Used by the conformance suite and in-memory fakes.
 *
 * @since 0.1.0
 */
export const matches: (filter: Filter, record: Readonly<Record<string, unknown>>) => boolean = internal.matches

/**
 * Every operator the filter uses, with the path of its first use.
 *
 * @since 0.1.0
 */
export const operators: (filter: Filter) => ReadonlyMap<FilterOperator, string> = internal.operators

/**
 * Every field the filter reads, with the path of its first use.
 *
 * @since 0.1.0
 */
export const fields: (filter: Filter) => ReadonlyMap<string, string> = internal.fields

/**
 * How deeply the filter nests (a comparison alone is 1, each `And` / `Or` / `Not` around it one more). A parsed
 * filter is never deeper than `Limits.maxWhereDepth`; `Capabilities.check` refuses a hand-built one that is.
 *
 * @since 0.1.0
 */
export const depth: (filter: Filter) => number = internal.depth

/**
 * The filter that matches every record (`{}`).
 *
 * @since 0.1.0
 */
export const all: Filter = internal.all

/**
 * `field = value` for each entry: how adapters select a record by its key.
 *
 * @since 0.1.0
 */
export const byKey = (key: Readonly<Record<string, unknown>>): Filter => ({
  _tag: "And",
  filters: Object.entries(key).map(([field, value]) => ({ _tag: "Compare", field, op: "eq", value, path: field }))
})
