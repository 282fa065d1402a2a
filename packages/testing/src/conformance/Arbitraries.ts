/**
 * Arbitraries of fixtures, filters and operations, limited to what a store's capabilities declare.
 *
 * @since 0.1.0
 */
import type { Capabilities, Operation } from "@polysaga/store"
import * as FC from "effect/FastCheck"
import type { Fixture } from "./Harness.js"

const names = ["ada", "bob", "cy", "dora", "eve", "abe", "bo"] as const
const tagValues = ["a", "b", "c", "d"] as const

/**
 * Fixtures with the given ids.
 *
 * @since 0.1.0
 */
export const fixture = (id: string): FC.Arbitrary<Fixture> =>
  FC.record({
    id: FC.constant(id),
    name: FC.constantFrom(...names),
    qty: FC.integer({ min: 0, max: 20 }),
    price: FC.integer({ min: 0, max: 400 }).map((n) => n / 4),
    tags: FC.uniqueArray(FC.constantFrom(...tagValues), { maxLength: 3 }),
    active: FC.boolean(),
    note: FC.option(FC.constantFrom("x", "yy", "x_y", "50%"), { nil: null })
  })

/**
 * Between `min` and `max` fixtures with ids `${prefix}0`, `${prefix}1`, ….
 *
 * @since 0.1.0
 */
export const fixtures = (prefix: string, min: number, max: number): FC.Arbitrary<ReadonlyArray<Fixture>> =>
  FC.integer({ min, max }).chain((n) => FC.tuple(...Array.from({ length: n }, (_, i) => fixture(`${prefix}${i}`))))

type Where = Record<string, unknown>

const comparison = (caps: Capabilities.Capabilities): FC.Arbitrary<Where> => {
  const has = (op: string) => caps.filterOperators.includes(op as never)
  const options: Array<FC.Arbitrary<Where>> = []
  const num = (field: "qty" | "price") =>
    field === "qty" ? FC.integer({ min: 0, max: 20 }) : FC.integer({ min: 0, max: 400 }).map((n) => n / 4)
  for (const field of ["qty", "price"] as const) {
    for (const op of ["eq", "ne", "gt", "gte", "lt", "lte"]) {
      if (has(op)) options.push(num(field).map((v) => ({ [field]: { [`$${op}`]: v } })))
    }
    for (const op of ["in", "nin"]) {
      if (has(op)) options.push(FC.array(num(field), { maxLength: 3 }).map((v) => ({ [field]: { [`$${op}`]: v } })))
    }
  }
  if (has("eq")) {
    options.push(FC.constantFrom(...names).map((v) => ({ name: v })))
    options.push(FC.boolean().map((v) => ({ active: v })))
  }
  if (has("in")) {
    options.push(FC.uniqueArray(FC.constantFrom(...names), { maxLength: 3 }).map((v) => ({ name: { $in: v } })))
  }
  if (has("ne")) options.push(FC.constantFrom(...names).map((v) => ({ name: { $ne: v } })))
  if (has("contains")) options.push(FC.constantFrom(...tagValues).map((v) => ({ tags: { $contains: v } })))
  if (has("like")) options.push(FC.constantFrom("a%", "%o%", "_o%", "b_", "%\\_%").map((v) => ({ name: { $like: v } })))
  if (has("like")) options.push(FC.constantFrom("x%", "%\\%", "x_y", "%y").map((v) => ({ note: { $like: v } })))
  if (has("ilike")) options.push(FC.constantFrom("A%", "%O%", "BO").map((v) => ({ name: { $ilike: v } })))
  if (has("startsWith")) options.push(FC.constantFrom("a", "b", "x_", "50").map((v) => ({ name: { $startsWith: v } })))
  if (has("endsWith")) options.push(FC.constantFrom("e", "o", "%", "_y").map((v) => ({ note: { $endsWith: v } })))
  const notes = FC.constantFrom("x", "yy", "x_y", "50%", "zz")
  for (const op of ["eq", "ne", "gt", "lte"]) {
    if (has(op)) options.push(notes.map((v) => ({ note: { [`$${op}`]: v } })))
  }
  for (const op of ["in", "nin"]) {
    if (has(op)) options.push(FC.uniqueArray(notes, { maxLength: 3 }).map((v) => ({ note: { [`$${op}`]: v } })))
  }
  if (has("contains") && has("and")) {
    options.push(
      FC.uniqueArray(FC.constantFrom(...tagValues), { minLength: 1, maxLength: 3 }).map((v) => ({
        tags: { $containsAll: v }
      }))
    )
  }
  if (has("contains") && has("or")) {
    options.push(
      FC.uniqueArray(FC.constantFrom(...tagValues), { minLength: 1, maxLength: 3 }).map((v) => ({
        tags: { $containsAny: v }
      }))
    )
  }
  if (has("regex")) {
    options.push(
      FC.constantFrom("^a", "o$", "^.o", "[abc]o", "^[^a]*$", "b.?$", "^[a-d]{2,3}$", "^A", "O$").map((v) => ({
        name: { $regex: v }
      }))
    )
    options.push(
      FC.constantFrom("^x.*y$", "y{2}", "_", "x\\.", "^5[0-9]", "[%_]", "^.$").map((v) => ({
        note: { $regex: v }
      }))
    )
  }
  if (has("null")) options.push(FC.boolean().map((v) => ({ note: { $null: v } })))
  if (has("exists")) options.push(FC.boolean().map((v) => ({ note: { $exists: v } })))
  if (has("null")) options.push(FC.constant({ note: null }))
  return FC.oneof(...options)
}

/**
 * Random `where` objects using only the operators `capabilities` declares.
 *
 * @since 0.1.0
 */
export const where = (caps: Capabilities.Capabilities): FC.Arbitrary<Where> => {
  const has = (op: string) => caps.filterOperators.includes(op as never)
  const leaf = comparison(caps)
  const { tree } = FC.letrec<{ tree: Where }>((tie) => ({
    tree: FC.oneof(
      { depthSize: "small", withCrossShrink: true },
      leaf,
      ...(has("and") ? [FC.array(tie("tree"), { minLength: 1, maxLength: 3 }).map((fs) => ({ $and: fs }))] : []),
      ...(has("or") ? [FC.array(tie("tree"), { minLength: 1, maxLength: 3 }).map((fs) => ({ $or: fs }))] : []),
      ...(has("not") ? [tie("tree").map((f) => ({ $not: f }))] : []),
      FC.tuple(leaf, leaf).map(([a, b]) => ({ ...a, ...b }))
    )
  }))
  return tree
}

/**
 * Random update `data` using only the update operators `capabilities` declares.
 *
 * @since 0.1.0
 */
export const changes = (caps: Capabilities.Capabilities): FC.Arbitrary<Record<string, unknown>> => {
  const has = (op: string) => caps.updateOperators.includes(op as never)
  const fields: Record<string, FC.Arbitrary<unknown>> = {}
  const qty: Array<FC.Arbitrary<unknown>> = []
  if (has("increment")) {
    qty.push(FC.integer({ min: 1, max: 5 }).map((n) => ({ $increment: n })))
    qty.push(FC.integer({ min: 1, max: 5 }).map((n) => ({ $decrement: n })))
  }
  if (has("multiply")) qty.push(FC.constantFrom(2, 3).map((n) => ({ $multiply: n })))
  if (has("set")) qty.push(FC.integer({ min: 0, max: 20 }))
  if (qty.length > 0) fields.qty = FC.oneof(...qty)
  const price: Array<FC.Arbitrary<unknown>> = []
  if (has("increment")) price.push(FC.integer({ min: 1, max: 8 }).map((n) => ({ $increment: n / 4 })))
  if (has("multiply")) price.push(FC.constantFrom(0.5, 2).map((n) => ({ $multiply: n })))
  if (price.length > 0) fields.price = FC.oneof(...price)
  if (has("set")) {
    fields.name = FC.constantFrom(...names)
    fields.active = FC.boolean()
    fields.note = FC.option(FC.constantFrom("x", "zz"), { nil: null })
  }
  const tags: Array<FC.Arbitrary<unknown>> = []
  if (has("push")) tags.push(FC.constantFrom(...tagValues).map((v) => ({ $push: v })))
  if (has("pull")) tags.push(FC.constantFrom(...tagValues).map((v) => ({ $pull: v })))
  if (tags.length > 0) fields.tags = FC.oneof(...tags)
  return FC.record(fields, { requiredKeys: [] }).filter((r) => Object.keys(r).length > 0)
}

/**
 * The fields of a fixture.
 *
 * @since 0.1.0
 */
export const fixtureFields = ["id", "name", "qty", "price", "tags", "active", "note"] as const

/**
 * Random `fields` (with `id`, the fixtures' key), `orderBy` (always ending with `id`, so the order is total), `limit` and `offset`, using only
 * the clauses `declared`.
 *
 * @since 0.1.0
 */
export const selectClauses = (declared: ReadonlyArray<Operation.SelectClause>): FC.Arbitrary<{
  readonly fields?: ReadonlyArray<string>
  readonly orderBy?: ReadonlyArray<{ readonly field: string; readonly order: "ASC" | "DESC" }>
  readonly limit?: number
  readonly offset?: number
}> => {
  const key = FC.record({
    field: FC.constantFrom("name", "qty", "price", "active", "note"),
    order: FC.constantFrom("ASC" as const, "DESC" as const)
  })
  return FC.record({
    fields: declared.includes("fields")
      ? FC.option(
        FC.uniqueArray(FC.constantFrom("name", "qty", "note", "active"), { minLength: 1, maxLength: 3 })
          .map((fields) => ["id", ...fields])
      )
      : FC.constant(null),
    orderBy: declared.includes("orderBy")
      ? FC.option(
        FC.array(key, { minLength: 1, maxLength: 2 }).map((keys) => [...keys, { field: "id", order: "ASC" as const }])
      )
      : FC.constant(null),
    limit: FC.option(FC.integer({ min: 1, max: 12 })),
    offset: declared.includes("offset") ? FC.option(FC.integer({ min: 0, max: 12 })) : FC.constant(null)
  }).map(({ fields, limit, offset, orderBy }) => ({
    ...(fields === null ? {} : { fields }),
    ...(orderBy === null ? {} : { orderBy }),
    ...(limit === null ? {} : { limit }),
    ...(offset === null || orderBy === null ? {} : { offset })
  }))
}
