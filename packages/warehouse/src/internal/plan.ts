/**
 * The graph of a transaction: step ids, `dependsOn`, `$ref`s (found, checked, replaced by placeholders for the
 * checks that run before the first write, resolved at run time), and the order the steps are added to the saga.
 */
import { Identifier, Limits, Operation, StoreError } from "@polysaga/store"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { StepOptions } from "../Transaction.js"
import { Code, WarehouseError } from "../WarehouseError.js"

const isPlainObject = Operation.isPlainObject

const isCode = Schema.is(Code)

export const fromStore = (error: StoreError): WarehouseError =>
  new WarehouseError({
    code: error.transient ? "SOURCE_UNAVAILABLE" : isCode(error.code) ? error.code : "UNKNOWN",
    message: error.message,
    ...(error.path === undefined ? {} : { path: error.path })
  })

const invalid = (path: string, message: string) =>
  new WarehouseError({ code: "VALIDATION_ERROR", path, message: `${path}: ${message}` })

/** What each schema decodes `{}` to: options left out (most transactions and steps) are decoded once. */
const decodedEmpty = new WeakMap<Schema.Schema.All, unknown>()

/**
 * Decodes with `schema`; the first issue becomes a `VALIDATION_ERROR` naming its field under `path`. Synchronous (an
 * `Either`, itself an Effect): the options' schemas have no effectful transformation. An empty object (options left
 * out) is decoded once per schema.
 */
export const decodeAt = <A, I>(
  schema: Schema.Schema<A, I>,
  u: unknown,
  path: string
): Effect.Effect<A, WarehouseError> => {
  const empty = isPlainObject(u) && Object.getPrototypeOf(u) === Object.prototype && Object.keys(u).length === 0
  if (empty && decodedEmpty.has(schema)) return Effect.succeed(decodedEmpty.get(schema) as A)
  const decoded = Schema.decodeUnknownEither(schema, { onExcessProperty: "error", errors: "first" })(u)
  if (empty && Either.isRight(decoded)) decodedEmpty.set(schema, decoded.right)
  return Either.mapLeft(decoded, (error) => {
    const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
    const at = (issue?.path ?? []).reduce<string>(
      (p, k) => typeof k === "number" ? `${p}[${k}]` : `${p}.${String(k)}`,
      path
    )
    return invalid(at, issue?.message ?? "is invalid")
  })
}

/** One `{ "$ref": "step.path" }` in an operation. */
export interface Ref {
  /** Where it is in the transaction, e.g. `operations[2].data.orderId`. */
  readonly path: string
  readonly step: string
  /** The path inside the step's result (`{ data, affectedRows }`), e.g. `["data", 0, "id"]`. */
  readonly at: ReadonlyArray<string>
}

/** A placeholder that passes the checks the operand position asks for (the real value is checked at run time). */
const placeholder = (operator: string | undefined): unknown => {
  switch (operator) {
    case "$in":
    case "$nin":
    case "$containsAll":
    case "$containsAny":
      return ["$ref"]
    case "$gt":
    case "$gte":
    case "$lt":
    case "$lte":
    case "$increment":
    case "$decrement":
    case "$multiply":
      return 0
    default:
      return "$ref"
  }
}

const parseRef = (u: Record<string, unknown>, path: string): Either.Either<Ref, WarehouseError> => {
  const at = `${path}.$ref`
  if (Object.keys(u).length !== 1) return Either.left(invalid(path, "a $ref object has no other key"))
  const value = u.$ref
  const parts = typeof value === "string" ? value.split(".") : []
  const [step, first, ...rest] = parts
  if (step === undefined || first === undefined || parts.some((p) => p === "")) {
    return Either.left(invalid(at, "expected \"<stepId>.data.<index>.<field>\" or \"<stepId>.affectedRows\""))
  }
  if (first !== "data" && first !== "affectedRows") {
    return Either.left(invalid(at, `a step's result has "data" and "affectedRows", not ${JSON.stringify(first)}`))
  }
  return Either.right({ path, step, at: [first, ...rest] })
}

/** Operators whose operand is a list of values (each may be a `$ref`). */
const listOperators: ReadonlySet<string> = new Set(["$in", "$nin", "$containsAll", "$containsAny"])

/** Operators whose operand must be written out: it is checked (pattern safety, vector shape) before any write. */
const written: ReadonlySet<string> = new Set(["$regex", "$similar", "$near"])

/** The `$ref`s found in a value, and the value with placeholders in their place. */
export interface Collected {
  readonly refs: ReadonlyArray<Ref>
  readonly value: unknown
}

const none = (value: unknown): Collected => ({ refs: [], value })

/**
 * Finds the `$ref`s in `value` (a `data` or `where`), returning them and `value` with placeholders in their
 * place. `operator` is the key `value` sits under. A plain function (an `Either`): it runs for every operation of
 * every transaction, and a part without a `$ref` is returned as it is, not copied.
 */
export const collect = (
  value: unknown,
  path: string,
  operator?: string
): Either.Either<Collected, WarehouseError> => {
  if (Array.isArray(value)) {
    const inner = operator !== undefined && listOperators.has(operator) ? "" : operator
    const refs: Array<Ref> = []
    let items: Array<unknown> | undefined
    for (let i = 0; i < value.length; i++) {
      const item = collect(value[i], `${path}[${i}]`, inner)
      if (Either.isLeft(item)) return item
      if (item.right.refs.length === 0) continue
      refs.push(...item.right.refs)
      items ??= value.slice()
      items[i] = item.right.value
    }
    return Either.right(items === undefined ? none(value) : { refs, value: items })
  }
  if (!isPlainObject(value)) return Either.right(none(value))
  if ("$ref" in value) {
    if (operator !== undefined && written.has(operator)) {
      return Either.left(
        invalid(path, `${operator} is checked before the first write, so it takes no $ref: write its operand out`)
      )
    }
    return Either.map(parseRef(value, path), (ref) => ({ refs: [ref], value: placeholder(operator) }))
  }
  if (operator !== undefined && written.has(operator)) return Either.right(none(value))
  const refs: Array<Ref> = []
  const entries = Object.entries(value)
  for (const entry of entries) {
    const item = collect(entry[1], `${path}.${entry[0]}`, entry[0])
    if (Either.isLeft(item)) return item
    if (item.right.refs.length === 0) continue
    refs.push(...item.right.refs)
    entry[1] = item.right.value
  }
  return Either.right(refs.length === 0 ? none(value) : { refs, value: Object.fromEntries(entries) })
}

/** A step's result as `$ref` paths see it. */
export interface RefTarget {
  readonly data: ReadonlyArray<Readonly<Record<string, unknown>>>
  readonly affectedRows: number
}

/**
 * `value` with each `$ref` replaced by the value it names in `results` (by step id). A path that leads nowhere
 * fails with a `Validation` store error (the step fails, the transaction is undone). A plain function, as `collect`.
 */
export const resolve = (
  value: unknown,
  results: Readonly<Record<string, RefTarget>>,
  path: string
): Either.Either<unknown, StoreError> => {
  if (Array.isArray(value)) {
    const items: Array<unknown> = []
    for (let i = 0; i < value.length; i++) {
      const item = resolve(value[i], results, `${path}[${i}]`)
      if (Either.isLeft(item)) return item
      items.push(item.right)
    }
    return Either.right(items)
  }
  if (!isPlainObject(value)) return Either.right(value)
  if ("$ref" in value && typeof value.$ref === "string") {
    const [step, ...at] = value.$ref.split(".")
    let current: unknown = results[step!]
    for (const key of at) {
      current = Array.isArray(current)
        ? (/^\d+$/.test(key) ? current[Number(key)] : undefined)
        : isPlainObject(current)
        ? current[key]
        : undefined
    }
    return current === undefined
      ? Either.left(
        new StoreError({
          reason: "Validation",
          path,
          message: `${path}: $ref ${JSON.stringify(value.$ref)} names nothing in the result of ${step}`
        })
      )
      : Either.right(current)
  }
  const entries: Array<[string, unknown]> = []
  for (const [key, v] of Object.entries(value)) {
    const item = resolve(v, results, `${path}.${key}`)
    if (Either.isLeft(item)) return item
    entries.push([key, item.right])
  }
  return Either.right(Object.fromEntries(entries))
}

/** What the warehouse reads of an operation before the store's parser sees the rest. */
export interface Node {
  readonly index: number
  readonly path: string
  readonly id: string
  readonly dependsOn: ReadonlyArray<{ readonly id: string; readonly path: string }>
  readonly refs: ReadonlyArray<Ref>
  readonly options: typeof StepOptions.Type
  /** The operation for the store's parser: no `id` / `dependsOn` / step options, `$ref`s as placeholders. */
  readonly checked: unknown
  /** The same with the `$ref`s left in (resolved at run time). */
  readonly operation: unknown
  /** Does `data` or `where` hold a `$ref`? */
  readonly hasRefs: boolean
}

/** Reads `id`, `dependsOn`, the step options and the `$ref`s of operation `index`. */
export const node = (raw: unknown, index: number): Effect.Effect<Node, WarehouseError> =>
  Effect.gen(function*() {
    const path = `operations[${index}]`
    if (!isPlainObject(raw)) return yield* invalid(path, "an operation is an object")
    const { data, dependsOn, id, options, where, ...rest } = raw
    const stepId = id === undefined ? `step_${index}` : id
    if (typeof stepId !== "string") return yield* invalid(`${path}.id`, "expected a string")
    yield* Effect.mapError(
      Identifier.check(stepId, "step id", `${path}.id`),
      (e) => new WarehouseError({ code: "VALIDATION_ERROR", path: `${path}.id`, message: e.message })
    )
    const deps: Array<{ readonly id: string; readonly path: string }> = []
    if (dependsOn !== undefined) {
      if (!Array.isArray(dependsOn)) return yield* invalid(`${path}.dependsOn`, "expected an array of step ids")
      for (const [i, dep] of dependsOn.entries()) {
        if (typeof dep !== "string") return yield* invalid(`${path}.dependsOn[${i}]`, "expected a step id")
        deps.push({ id: dep, path: `${path}.dependsOn[${i}]` })
      }
    }
    const { allowNoMatch, detach, key, limit, ...stepOptions } = isPlainObject(options) ? options : {}
    const own = yield* decodeAt(StepOptions, stepOptions, `${path}.options`)
    const storeOptions = Object.fromEntries(
      Object.entries({ allowNoMatch, detach, key, limit }).filter(([, v]) => v !== undefined)
    )
    const storeOptionsIfAny = options === undefined
      ? {}
      : { options: isPlainObject(options) ? storeOptions : options }
    // bounded before anything recursive walks them (a hostile depth cannot overflow the stack)
    yield* Effect.mapError(Limits.check(data, `${path}.data`, Limits.data), fromStore)
    yield* Effect.mapError(Limits.check(where, `${path}.where`, Limits.where), fromStore)
    const d = data === undefined ? undefined : yield* collect(data, `${path}.data`)
    const w = where === undefined ? undefined : yield* collect(where, `${path}.where`)
    const refs = [...(d?.refs ?? []), ...(w?.refs ?? [])]
    const operation = {
      ...rest,
      ...(data === undefined ? {} : { data }),
      ...(where === undefined ? {} : { where }),
      ...storeOptionsIfAny
    }
    return {
      index,
      path,
      id: stepId,
      dependsOn: deps,
      refs,
      options: own,
      checked: {
        ...rest,
        ...(d === undefined ? {} : { data: d.value }),
        ...(w === undefined ? {} : { where: w.value }),
        ...storeOptionsIfAny
      },
      operation,
      hasRefs: refs.length > 0
    }
  })

/**
 * Checks the graph (unique ids; `dependsOn` and `$ref` name other steps; a `$ref` names an earlier step; no
 * cycle) and returns, for each node, the ids it needs, with the nodes in the order to add them to the saga: a
 * topological order that keeps the operations' order where the dependencies allow (it is the operations' order
 * when every dependency points backwards).
 */
export const order = (
  nodes: ReadonlyArray<Node>
): Effect.Effect<ReadonlyArray<{ readonly node: Node; readonly needs: ReadonlyArray<string> }>, WarehouseError> =>
  Effect.gen(function*() {
    const byId = new Map<string, Node>()
    for (const n of nodes) {
      const other = byId.get(n.id)
      if (other !== undefined) {
        return yield* invalid(`${n.path}.id`, `the step id ${JSON.stringify(n.id)} is already used by ${other.path}`)
      }
      byId.set(n.id, n)
    }
    const needs = new Map<string, Array<string>>()
    for (const n of nodes) {
      const set: Array<string> = []
      const add = (id: string) => !set.includes(id) && set.push(id)
      for (const dep of n.dependsOn) {
        if (!byId.has(dep.id)) return yield* invalid(dep.path, `no step has the id ${JSON.stringify(dep.id)}`)
        if (dep.id === n.id) return yield* invalid(dep.path, "a step cannot depend on itself")
        add(dep.id)
      }
      for (const ref of n.refs) {
        const at = `${ref.path}.$ref`
        const target = byId.get(ref.step)
        if (target === undefined) return yield* invalid(at, `no step has the id ${JSON.stringify(ref.step)}`)
        if (target === n) return yield* invalid(at, "a step cannot reference its own result")
        if (target.index > n.index) {
          return yield* invalid(
            at,
            `${JSON.stringify(ref.step)} is a later step (${target.path}): a $ref names an earlier one`
          )
        }
        add(ref.step)
      }
      needs.set(n.id, set)
    }
    // Kahn's algorithm, always taking the first ready node in operation order
    const sorted: Array<Node> = []
    const placed = new Set<string>()
    while (sorted.length < nodes.length) {
      const next = nodes.find((n) => !placed.has(n.id) && needs.get(n.id)!.every((id) => placed.has(id)))
      if (next === undefined) {
        const cycle = cycleOf(nodes.filter((n) => !placed.has(n.id)), needs)
        const first = byId.get(cycle[0]!)!
        const dep = first.dependsOn.find((d) => d.id === cycle[1]) ?? { path: `${first.path}.dependsOn` }
        return yield* invalid(dep.path, `the steps depend on each other in a cycle: ${cycle.join(" → ")}`)
      }
      sorted.push(next)
      placed.add(next.id)
    }
    return sorted.map((node) => ({ node, needs: needs.get(node.id)! }))
  })

/** A cycle among `left` (every one of them waits for another): follow the first unmet need until a repeat. */
const cycleOf = (left: ReadonlyArray<Node>, needs: ReadonlyMap<string, ReadonlyArray<string>>): Array<string> => {
  const open = new Set(left.map((n) => n.id))
  const path: Array<string> = []
  let current = left[0]!.id
  while (!path.includes(current)) {
    path.push(current)
    current = needs.get(current)!.find((id) => open.has(id))!
  }
  return [...path.slice(path.indexOf(current)), current]
}
