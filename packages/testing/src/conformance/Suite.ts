/**
 * The adapter conformance suite: one suite every adapter package runs against its real store.
 *
 * @since 0.1.0
 */
import { assert, layer } from "@effect/vitest"
import { Filter, Operation, type Outcome, type StoreError, Undo, Update } from "@polysaga/store"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FC from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Arb from "./Arbitraries.js"
import type { Fixture, Harness, HarnessService } from "./Harness.js"

class H extends Context.Tag("@polysaga/testing/conformance/Harness")<H, HarnessService>() {}

/** A JSON form with sorted keys, so records compare whatever their key order. */
export const canonical: (u: unknown) => string = Undo.canonical

const sameRecords = (actual: ReadonlyArray<unknown>, expected: ReadonlyArray<unknown>, message: string) =>
  assert.deepStrictEqual(actual.map(canonical).sort(), expected.map(canonical).sort(), message)

const byId = (a: Fixture, b: Fixture) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0

const normalize = (f: Fixture): Fixture => ({ ...f, tags: [...f.tags] })

/**
 * Registers the whole conformance suite for one adapter (call it at the top level of a vitest file).
 *
 * @since 0.1.0
 */
export const run = (harness: Harness): void => {
  const numRuns = harness.numRuns ?? 25
  const from = (entity: string) => ({ type: harness.sourceType, tag: "conformance", entity })

  const exec = (input: unknown): Effect.Effect<Outcome, StoreError, H> =>
    Effect.gen(function*() {
      const h = yield* H
      const op = yield* Operation.parse(input)
      yield* h.store.validate(op)
      // a fresh step per call: stores with a step barrier return a step's recorded outcome when it runs again
      return yield* h.store.execute(op, { sagaId: `conformance-${crypto.randomUUID()}`, stepId: "step_0" })
    })

  const rowOf = (h: HarnessService, f: Fixture) => h.toRow ? h.toRow(f) : f

  const fixturesOf = (entity: string) =>
    Effect.flatMap(H, (h) => Effect.map(h.snapshot(entity), (rows) => rows.map(h.fromRow).map(normalize).sort(byId)))

  const seed = (entity: string, records: ReadonlyArray<Fixture>) =>
    Effect.gen(function*() {
      const h = yield* H
      yield* h.reset(entity)
      if (records.length > 0) {
        yield* exec({
          operation: "insert",
          from: from(entity),
          data: records.map((f) => rowOf(h, f))
        })
      }
    })

  const filterOf = (where: unknown) => Effect.runSync(Filter.parse(where))
  const expectReason = <A>(effect: Effect.Effect<A, StoreError, H>, reasons: ReadonlyArray<string>, what: string) =>
    Effect.gen(function*() {
      const result = yield* Effect.either(effect)
      assert.isTrue(Either.isLeft(result), `${what}: expected a failure`)
      if (Either.isLeft(result)) {
        assert.include(reasons, result.left.reason, `${what}: ${result.left.message}`)
      }
    })

  layer(Layer.scoped(H, harness.make), { excludeTestServices: true, timeout: "120 seconds" })(
    `conformance: ${harness.name}`,
    (it) => {
      it.effect("declares a small per-operation bound and its source type", () =>
        Effect.gen(function*() {
          const h = yield* H
          assert.isAtMost(h.store.capabilities.maxRecordsPerOperation, 100)
          assert.isAtLeast(h.store.capabilities.maxRecordsPerOperation, 12)
          assert.include(h.store.capabilities.sourceTypes, harness.sourceType)
          yield* h.store.ping
        }))

      it.effect("insert writes the records, returns them, and its undo deletes exactly them (idempotently)", () =>
        Effect.gen(function*() {
          const h = yield* H
          const [kept, added] = FC.sample(FC.tuple(Arb.fixtures("k", 2, 2), Arb.fixtures("a", 3, 3)), 1)[0]!
          yield* seed("conf_insert", kept)
          const before = yield* h.snapshot("conf_insert")
          const outcome = yield* exec({
            operation: "insert",
            from: from("conf_insert"),
            data: added.map((f) => rowOf(h, f))
          })
          assert.strictEqual(outcome.affected, 3)
          assert.deepStrictEqual(outcome.records.map(h.fromRow).map(normalize).sort(byId), [...added].sort(byId))
          assert.deepStrictEqual(yield* fixturesOf("conf_insert"), [...kept, ...added].map(normalize).sort(byId))
          yield* h.store.undo(outcome.undo)
          sameRecords(yield* h.snapshot("conf_insert"), before, "undo of insert restores the prior state")
          yield* h.store.undo(outcome.undo)
          sameRecords(yield* h.snapshot("conf_insert"), before, "a second undo changes nothing")
        }))

      it.effect("select agrees with the reference semantics of every declared filter operator", () =>
        Effect.gen(function*() {
          const h = yield* H
          const data = FC.sample(Arb.fixtures("s", 12, 12), { numRuns: 1, seed: 42 })[0]!
          yield* seed("conf_select", data)
          const wheres = FC.sample(Arb.where(h.store.capabilities), { numRuns: numRuns * 4, seed: 7 })
          for (const where of wheres) {
            const outcome = yield* exec({ operation: "select", from: from("conf_select"), where })
            const expected = data.filter((f) => Filter.matches(filterOf(where), f)).map((f) => f.id).sort()
            const actual = outcome.records.map((r) => h.fromRow(r).id).sort()
            assert.deepStrictEqual(actual, expected, `where ${JSON.stringify(where)}`)
            assert.strictEqual(outcome.affected, expected.length)
            assert.strictEqual(outcome.undo.actions.length, 0, "a select has nothing to undo")
          }
        }))

      it.effect("apply then undo returns the store to its exact prior state (property)", () =>
        Effect.gen(function*() {
          const h = yield* H
          const caps = h.store.capabilities
          const entity = "conf_undo"
          const operation = (data: ReadonlyArray<Fixture>) =>
            FC.oneof(
              Arb.fixtures("n", 1, 3).map((fs) => ({ operation: "insert", data: fs })),
              FC.tuple(Arb.where(caps), Arb.changes(caps)).map(([where, changes]) => ({
                operation: "update",
                data: changes,
                where
              })),
              Arb.where(caps).map((where) => ({ operation: "delete", where })),
              FC.constantFrom(...data.map((f) => f.id), "u_new").chain((id) =>
                Arb.fixture(id).map((f) => ({ operation: "upsert", data: f, where: { id } }))
              )
            )
          const cases = FC.sample(
            Arb.fixtures("r", 1, 8).chain((data) => FC.tuple(FC.constant(data), operation(data))),
            { numRuns, seed: 11 }
          )
          for (const [data, op] of cases) {
            yield* seed(entity, data)
            const before = yield* h.snapshot(entity)
            const input = {
              ...op,
              from: from(entity),
              ...("data" in op && op.operation === "insert" ?
                { data: (op.data as ReadonlyArray<Fixture>).map((f) => rowOf(h, f)) } :
                {}),
              ...("data" in op && op.operation === "upsert" ? { data: rowOf(h, op.data as Fixture) } : {})
            }
            const result = yield* Effect.either(exec(input))
            const what = JSON.stringify(op)
            const model = modelOf(data, op)
            if (model === "NoMatch") {
              assert.isTrue(Either.isLeft(result) && result.left.reason === "NoMatch", `NoMatch expected: ${what}`)
              sameRecords(yield* h.snapshot(entity), before, `a failed step writes nothing: ${what}`)
              continue
            }
            if (Either.isLeft(result)) return assert.fail(`${what} failed: ${result.left.message}`)
            assert.strictEqual(result.right.affected, model.affected, `affected: ${what}`)
            assert.deepStrictEqual(yield* fixturesOf(entity), model.state.map(normalize).sort(byId), `state: ${what}`)
            yield* h.store.undo(result.right.undo)
            sameRecords(yield* h.snapshot(entity), before, `undo restores: ${what}`)
            yield* h.store.undo(result.right.undo)
            sameRecords(yield* h.snapshot(entity), before, `second undo is a no-op: ${what}`)
          }
        }))

      it.effect("update and delete that match nothing fail with NoMatch, unless allowNoMatch", () =>
        Effect.gen(function*() {
          const h = yield* H
          const data = FC.sample(Arb.fixtures("z", 2, 2), 1)[0]!
          yield* seed("conf_nomatch", data)
          const before = yield* h.snapshot("conf_nomatch")
          const where = { id: "missing" }
          yield* expectReason(
            exec({ operation: "update", from: from("conf_nomatch"), data: { name: "eve" }, where }),
            ["NoMatch"],
            "update"
          )
          yield* expectReason(exec({ operation: "delete", from: from("conf_nomatch"), where }), ["NoMatch"], "delete")
          const allowed = yield* exec({
            operation: "delete",
            from: from("conf_nomatch"),
            where,
            options: { allowNoMatch: true }
          })
          assert.strictEqual(allowed.affected, 0)
          yield* h.store.undo(allowed.undo)
          sameRecords(yield* h.snapshot("conf_nomatch"), before, "nothing written")
        }))

      it.effect("undo of an absolute update reports Conflict when another writer changed the record", () =>
        Effect.gen(function*() {
          const h = yield* H
          const f = { ...FC.sample(Arb.fixture("k1"), 1)[0]!, name: "ada" }
          yield* seed("conf_conflict", [f])
          const where = { id: "k1" }
          const mine = yield* exec({ operation: "update", from: from("conf_conflict"), data: { name: "bob" }, where })
          yield* exec({ operation: "update", from: from("conf_conflict"), data: { name: "cy" }, where })
          yield* expectReason(h.store.undo(mine.undo), ["Conflict"], "undo over another writer's change")
          assert.strictEqual((yield* fixturesOf("conf_conflict"))[0]!.name, "cy", "the other writer's value stays")
          const again = yield* exec({ operation: "update", from: from("conf_conflict"), data: { name: "dora" }, where })
          yield* h.store.undo(again.undo)
          assert.strictEqual((yield* fixturesOf("conf_conflict"))[0]!.name, "cy", "undo restores the before-image")
          yield* h.store.undo(again.undo)
          assert.strictEqual((yield* fixturesOf("conf_conflict"))[0]!.name, "cy", "a second undo changes nothing")
        }))

      it.effect("delete's undo re-inserts the full before-image; a second undo changes nothing", () =>
        Effect.gen(function*() {
          const h = yield* H
          const data = FC.sample(Arb.fixtures("d", 4, 4), 1)[0]!
          yield* seed("conf_delete", data)
          const before = yield* h.snapshot("conf_delete")
          const outcome = yield* exec({
            operation: "delete",
            from: from("conf_delete"),
            where: { id: { $in: ["d1", "d2"] } }
          })
          assert.strictEqual(outcome.affected, 2)
          assert.deepStrictEqual(outcome.records.map((r) => h.fromRow(r).id).sort(), ["d1", "d2"])
          yield* h.store.undo(outcome.undo)
          sameRecords(yield* h.snapshot("conf_delete"), before, "re-inserted")
          yield* h.store.undo(outcome.undo)
          sameRecords(yield* h.snapshot("conf_delete"), before, "not twice")
        }))

      if (harness.atomicRelativeUndo) {
        it.effect("undo of a relative update stays right while other writers change the same record", () =>
          Effect.gen(function*() {
            const h = yield* H
            const f = { ...FC.sample(Arb.fixture("c1"), 1)[0]!, qty: 1000, tags: ["d"] }
            yield* seed("conf_concurrent", [f])
            const where = { id: "c1" }
            const pushes = h.store.capabilities.updateOperators.includes("push")
            const mine = yield* exec({
              operation: "update",
              from: from("conf_concurrent"),
              data: pushes ? { qty: { $decrement: 7 }, tags: { $push: "a" } } : { qty: { $decrement: 7 } },
              where
            })
            const others = Array.from({ length: 20 }, (_, i) =>
              exec({
                operation: "update",
                from: from("conf_concurrent"),
                data: pushes && i % 4 === 0
                  ? { qty: { $increment: 1 }, tags: { $push: "b" } }
                  : { qty: { $increment: 1 } },
                where
              }))
            yield* Effect.all([h.store.undo(mine.undo), ...others], { concurrency: 6, discard: true })
            const [after] = yield* fixturesOf("conf_concurrent")
            assert.strictEqual(after!.qty, 1020, "1000 - 7 + 20 increments + 7 undone")
            if (pushes) assert.deepStrictEqual([...after!.tags].sort(), ["b", "b", "b", "b", "b", "d"])
            yield* h.store.undo(mine.undo)
            assert.strictEqual((yield* fixturesOf("conf_concurrent"))[0]!.qty, 1020, "a second undo changes nothing")
          }))
      }

      it.effect("injection through entity, field and filter names is rejected with nothing written", () =>
        Effect.gen(function*() {
          const h = yield* H
          const data = FC.sample(Arb.fixtures("v", 2, 2), 1)[0]!
          yield* seed("conf_canary", data)
          const before = yield* h.snapshot("conf_canary")
          const source = { type: harness.sourceType, tag: "conformance" }
          const row = rowOf(h, FC.sample(Arb.fixture("i1"), 1)[0]!)
          const hostile = [
            "conf_canary\"; DROP TABLE conf_canary; --",
            "conf_canary` DETACH DELETE n //",
            "conf_canary.$where",
            "conf canary"
          ]
          for (const entity of hostile) {
            yield* expectReason(
              Operation.parse({ operation: "insert", from: from(entity), data: row }),
              ["InvalidIdentifier"],
              `parse ${entity}`
            )
            const crafted: Operation.Operation = { kind: "insert", source, entity, options: {}, records: [row] }
            yield* expectReason(h.store.execute(crafted), ["InvalidIdentifier", "Validation"], `execute ${entity}`)
            const del: Operation.Operation = { kind: "delete", source, entity, options: {}, where: Filter.all }
            yield* expectReason(h.store.execute(del), ["InvalidIdentifier", "Validation"], `delete ${entity}`)
          }
          for (const field of ["name\" = 'x' --", "$where", "a.b", "n.name} DETACH DELETE n //"]) {
            const crafted: Operation.Operation = {
              kind: "insert",
              source,
              entity: "conf_canary",
              options: {},
              records: [{ ...row, [field]: 1 }]
            }
            yield* expectReason(h.store.execute(crafted), ["InvalidIdentifier", "Validation"], `field ${field}`)
            const del: Operation.Operation = {
              kind: "delete",
              source,
              entity: "conf_canary",
              options: {},
              where: Filter.byKey({ [field]: "x" })
            }
            yield* expectReason(h.store.execute(del), ["InvalidIdentifier", "Validation"], `filter field ${field}`)
            const upd: Operation.Operation = {
              kind: "update",
              source,
              entity: "conf_canary",
              options: {},
              where: Filter.all,
              changes: [{ op: "set", field, value: 1, path: field }]
            }
            yield* expectReason(h.store.execute(upd), ["InvalidIdentifier", "Validation"], `update field ${field}`)
          }
          sameRecords(yield* h.snapshot("conf_canary"), before, "nothing written")
          const sly = { ...FC.sample(Arb.fixture("v9"), 1)[0]!, name: "'; DROP TABLE conf_canary; --", note: "$where" }
          yield* exec({ operation: "insert", from: from("conf_canary"), data: rowOf(h, sly) })
          const stored = (yield* fixturesOf("conf_canary")).find((f) => f.id === "v9")
          assert.deepStrictEqual(stored, normalize(sly), "hostile values are stored as plain values")
        }))

      it.effect("unsupported operators are rejected by validate, naming the operator", () =>
        Effect.gen(function*() {
          const h = yield* H
          const caps = h.store.capabilities
          const missing = Filter.compareOperators.filter((op) => !caps.filterOperators.includes(op))
          for (const op of missing) {
            const value = op === "in" || op === "nin" ? ["a"] : op === "null" || op === "exists" ? true : "a"
            const parsed = yield* Operation.parse({
              operation: "select",
              from: from("conf_canary"),
              where: { name: { [`$${op}`]: value } }
            })
            const result = yield* Effect.either(h.store.validate(parsed))
            assert.isTrue(Either.isLeft(result), `$${op} must be rejected`)
            if (Either.isLeft(result)) {
              assert.strictEqual(result.left.reason, "UnsupportedOperator")
              assert.include(result.left.message, `$${op}`)
            }
          }
          const missingUpdates = Update.updateOperators.filter((op) => !caps.updateOperators.includes(op))
          for (const op of missingUpdates) {
            const value = op === "set"
              ? 1
              : op === "increment" || op === "multiply"
              ? { [`$${op}`]: 2 }
              : { [`$${op}`]: "a" }
            const parsed = yield* Operation.parse({
              operation: "update",
              from: from("conf_canary"),
              data: { qty: value },
              where: {}
            })
            yield* expectReason(h.store.validate(parsed), ["UnsupportedOperator"], `update ${op}`)
          }
        }))

      it.effect("more records than the per-operation bound are refused with nothing written", () =>
        Effect.gen(function*() {
          const h = yield* H
          const max = h.store.capabilities.maxRecordsPerOperation
          yield* seed("conf_bound", [])
          const many = Array.from({ length: max + 1 }, (_, i) => FC.sample(Arb.fixture(`b${i}`), 1)[0]!)
          yield* expectReason(
            exec({ operation: "insert", from: from("conf_bound"), data: many.map((f) => rowOf(h, f)) }),
            ["TooManyRecords"],
            "insert"
          )
          assert.deepStrictEqual(yield* h.snapshot("conf_bound"), [])
          yield* exec({
            operation: "insert",
            from: from("conf_bound"),
            data: many.slice(0, max).map((f) => rowOf(h, f))
          })
          yield* exec({ operation: "insert", from: from("conf_bound"), data: rowOf(h, many[max]!) })
          const before = yield* h.snapshot("conf_bound")
          yield* expectReason(
            exec({ operation: "update", from: from("conf_bound"), data: { name: "eve" }, where: {} }),
            ["TooManyRecords"],
            "update"
          )
          yield* expectReason(
            exec({ operation: "delete", from: from("conf_bound"), where: {} }),
            ["TooManyRecords"],
            "delete"
          )
          sameRecords(yield* h.snapshot("conf_bound"), before, "nothing written")
        }))

      it.effect("select obeys the one bound: past it TooManyRecords, unless it says a limit (property)", () =>
        Effect.gen(function*() {
          const h = yield* H
          const max = h.store.capabilities.maxRecordsPerOperation
          const all = Array.from({ length: max + 2 }, (_, i) => ({ ...FC.sample(Arb.fixture(`q${i}`), 1)[0]!, qty: i }))
          yield* seed("conf_select_bound", all.slice(0, max))
          yield* exec({
            operation: "insert",
            from: from("conf_select_bound"),
            data: all.slice(max).map((f) => rowOf(h, f))
          })
          const cases = FC.sample(
            FC.record({
              below: FC.integer({ min: 0, max: max + 2 }),
              limit: FC.option(FC.integer({ min: 1, max: max + 3 }))
            }),
            { numRuns, seed: 5 }
          )
          for (const { below, limit } of cases) {
            const where = { qty: { $lt: below } }
            const input = {
              operation: "select",
              from: from("conf_select_bound"),
              where,
              ...(limit === null ? {} : { options: { limit } })
            }
            const what = `${below} matching, limit ${limit}`
            if (limit !== null && limit > max) {
              yield* expectReason(exec(input), ["TooManyRecords"], `${what}: a limit past the bound`)
              continue
            }
            if (limit === null && below > max) {
              yield* expectReason(exec(input), ["TooManyRecords"], `${what}: more than the bound without a limit`)
              continue
            }
            const outcome = yield* exec(input)
            const ids = outcome.records.map((r) => h.fromRow(r))
            assert.strictEqual(ids.length, Math.min(below, limit ?? below), what)
            assert.isTrue(ids.every((f) => f.qty < below), `${what}: only matching records`)
            assert.strictEqual(new Set(ids.map((f) => f.id)).size, ids.length, `${what}: no record twice`)
          }
        }))

      it.effect("select clauses: orderBy, limit, offset and fields agree with the reference semantics (property)", () =>
        Effect.gen(function*() {
          const h = yield* H
          const declared = h.store.capabilities.selectClauses ?? []
          const data = FC.sample(Arb.fixtures("o", 14, 14), { numRuns: 1, seed: 11 })[0]!
          yield* seed("conf_clauses", data)
          const fieldOf = h.fieldOf ?? ((row: unknown, field: string) => (row as Record<string, unknown>)[field])
          const cases = FC.sample(Arb.selectClauses(declared), { numRuns: numRuns * 2, seed: 13 })
          for (const clauses of cases) {
            const input = { operation: "select", from: from("conf_clauses"), where: {}, ...clauses }
            const what = JSON.stringify(clauses)
            const op = yield* Operation.parse(input)
            if (op.kind !== "select") return assert.fail("a select")
            // the reference order, with `fields` left out so every record keeps its id
            const expected = Operation.select({ ...op, clauses: { ...op.clauses, fields: undefined } }, data)
            const outcome = yield* exec(input)
            const ids = outcome.records.map((r) => fieldOf(r, "id"))
            assert.strictEqual(outcome.affected, expected.length, what)
            if (clauses.orderBy === undefined) {
              // without an order, which records a limit keeps is the store's choice
              assert.strictEqual(new Set(ids).size, expected.length, `${what}: no record twice`)
              assert.isTrue(ids.every((id) => data.some((f) => f.id === id)), what)
              continue
            }
            assert.deepStrictEqual(ids, expected.map((f) => f.id), `${what}: the records, in order`)
            if (clauses.fields === undefined) continue
            for (const [i, record] of outcome.records.entries()) {
              const want = data.find((f) => f.id === ids[i])!
              for (const field of Arb.fixtureFields) {
                if (field === "id") continue
                const value = fieldOf(record, field)
                if (clauses.fields.includes(field)) {
                  assert.deepStrictEqual(value ?? null, want[field] ?? null, `${what}: ${field} of ${ids[i]}`)
                } else assert.isUndefined(value, `${what}: ${field} is not returned`)
              }
            }
          }
        }))

      it.effect("select clauses past the bound, or not declared, are refused before anything runs", () =>
        Effect.gen(function*() {
          const h = yield* H
          const caps = h.store.capabilities
          const declared = caps.selectClauses ?? []
          const max = caps.maxRecordsPerOperation
          yield* seed("conf_clauses_bad", [])
          const select = { operation: "select", from: from("conf_clauses_bad") }
          const samples: Record<Operation.SelectClause, Record<string, unknown>> = {
            fields: { fields: ["name"] },
            orderBy: { orderBy: [{ field: "qty", order: "DESC" }] },
            offset: { orderBy: [{ field: "qty" }], offset: 1 },
            similar: { where: { embedding: { $similar: { vector: [1, 0, 0], topK: 2 } } } },
            near: { where: { embedding: { $near: { vector: [1, 0, 0], maxDistance: 0.5 } } } }
          }
          for (const clause of Operation.selectClauses) {
            if (declared.includes(clause)) continue
            if (clause === "offset" && !declared.includes("orderBy")) continue
            const parsed = yield* Operation.parse({ ...select, ...samples[clause] })
            const result = yield* Effect.either(h.store.validate(parsed, "operations[3]"))
            assert.isTrue(Either.isLeft(result), `${clause} must be refused`)
            if (Either.isLeft(result)) {
              assert.strictEqual(result.left.reason, "UnsupportedOperator", result.left.message)
              assert.include(result.left.path ?? "", "operations[3].", result.left.message)
              assert.include(result.left.path ?? "", clause === "similar" || clause === "near" ? `$${clause}` : clause)
              assert.include(result.left.message, h.store.engine)
            }
          }
          if (declared.includes("offset")) {
            const parsed = yield* Operation.parse({ ...select, orderBy: [{ field: "qty" }], offset: max + 1 })
            yield* expectReason(h.store.validate(parsed), ["TooManyRecords"], "an offset past the bound")
          }
          if (!caps.filterOperators.includes("contains")) {
            const parsed = yield* Operation.parse({ ...select, where: { tags: { $containsAll: ["a", "b"] } } })
            const result = yield* Effect.either(h.store.validate(parsed))
            assert.isTrue(Either.isLeft(result) && result.left.path === "where.tags.$containsAll[0]")
          }
          assert.deepStrictEqual(yield* h.snapshot("conf_clauses_bad"), [])
        }))

      it.effect("the worst $regex of the safe subset runs on a 20,000-character value (no backtracking blow-up)", () =>
        Effect.gen(function*() {
          const h = yield* H
          if (!h.store.capabilities.filterOperators.includes("regex")) {
            const parsed = yield* Operation.parse({
              operation: "select",
              from: from("conf_regex"),
              where: { note: { $regex: "^a" } }
            })
            return yield* expectReason(h.store.validate(parsed), ["UnsupportedOperator"], "an undeclared $regex")
          }
          const long = { ...FC.sample(Arb.fixture("long"), 1)[0]!, note: "a".repeat(20_000) }
          const short = { ...FC.sample(Arb.fixture("short"), 1)[0]!, note: "aab" }
          yield* seed("conf_regex", [long, short])
          // 9 optional atoms (512 ways) and one unbounded quantifier, anchored: the most the subset allows
          const worst = `^${"a?".repeat(9)}a*b`
          const outcome = yield* exec({
            operation: "select",
            from: from("conf_regex"),
            where: { note: { $regex: worst } }
          })
          assert.deepStrictEqual(outcome.records.map((r) => h.fromRow(r).id), ["short"])
          const unanchored = yield* exec({
            operation: "select",
            from: from("conf_regex"),
            where: { note: { $regex: `${"a?".repeat(9)}a{9}b` } }
          })
          assert.deepStrictEqual(unanchored.records.map((r) => h.fromRow(r).id), [])
        }))

      it.effect("undo restores absence exactly: a field missing before a step is missing after its undo (property)", () =>
        Effect.gen(function*() {
          const h = yield* H
          const caps = h.store.capabilities
          const entity = "conf_absent"
          // `note` may be null in every store's fixture; schemaless stores also take fields no record has
          const sparse = harness.schemaful ? [] : ["extra"]
          const changes = FC.constantFrom(
            ...[
              { note: "x" },
              { note: null },
              ...sparse.flatMap((f) => [
                { [`${f}_s`]: "y" },
                ...(caps.updateOperators.includes("increment") ? [{ [`${f}_n`]: { $increment: 3 } }] : []),
                ...(caps.updateOperators.includes("multiply") ? [{ [`${f}_m`]: { $multiply: 2 } }] : []),
                ...(caps.updateOperators.includes("push") ? [{ [`${f}_l`]: { $push: "a" } }] : []),
                ...(caps.updateOperators.includes("pull") ? [{ [`${f}_p`]: { $pull: "a" } }] : [])
              ])
            ]
          )
          const cases = FC.sample(
            FC.tuple(Arb.fixtures("m", 1, 4), FC.uniqueArray(changes, { minLength: 1, maxLength: 3 })),
            { numRuns, seed: 13 }
          )
          for (const [data, picked] of cases) {
            yield* h.reset(entity)
            yield* exec({
              operation: "insert",
              from: from(entity),
              data: data.map((f) => {
                const { note: _, ...row } = rowOf(h, f)
                return row
              })
            })
            const before = yield* h.snapshot(entity)
            const what = JSON.stringify(picked)
            const outcome = yield* exec({
              operation: "update",
              from: from(entity),
              data: Object.assign({}, ...picked),
              where: {}
            })
            assert.strictEqual(outcome.affected, data.length, what)
            yield* h.store.undo(outcome.undo)
            sameRecords(yield* h.snapshot(entity), before, `undo restores absence: ${what}`)
            yield* h.store.undo(outcome.undo)
            sameRecords(yield* h.snapshot(entity), before, `second undo is a no-op: ${what}`)
          }
        }))

      const barrierEntity = "conf_barrier"
      const decrement = (by: number) =>
        Operation.parse({
          operation: "update",
          from: from(barrierEntity),
          data: { qty: { $decrement: by } },
          where: { id: "b1" }
        })
      const qty = Effect.map(fixturesOf(barrierEntity), (fs) => fs.map((f) => f.qty))
      const seedBarrier = seed(barrierEntity, [{ ...FC.sample(Arb.fixture("b1"), 1)[0]!, qty: 10 }])
      const freshStep = () => ({ sagaId: `conformance-${crypto.randomUUID()}`, stepId: "step_1" })

      /** Barrier tests run where the store has a barrier (`resolve`), and are reported skipped elsewhere. */
      const withBarrier = <A>(
        test: (h: HarnessService) => Effect.Effect<A, unknown, H>
      ) =>
      (ctx: { readonly skip: (note?: string) => void }) =>
        Effect.flatMap(H, (h) => {
          if (h.store.resolve === undefined) {
            ctx.skip(`${harness.name} has no step barrier`)
            return Effect.void
          }
          return test(h)
        })

      {
        it.effect("barrier: a step run again, or three times at once, applies once and returns its recorded outcome", (ctx) =>
          withBarrier((h) =>
            Effect.gen(function*() {
              yield* seedBarrier
              const op = yield* decrement(1)
              const context = freshStep()
              const outcomes = yield* Effect.all(
                [h.store.execute(op, context), h.store.execute(op, context), h.store.execute(op, context)],
                { concurrency: 3 }
              )
              assert.deepStrictEqual(yield* qty, [9])
              assert.isTrue(outcomes.every((o) => o.undo.id === outcomes[0]!.undo.id), "one recorded outcome")
              const resolved = yield* h.store.resolve!(context, op)
              assert.isTrue(resolved._tag === "Some" && resolved.value.undo.id === outcomes[0]!.undo.id)
              if (resolved._tag === "Some") yield* h.store.undo(resolved.value.undo)
              assert.deepStrictEqual(yield* qty, [10])
            })
          )(ctx))

        it.effect("barrier: resolving a step that never applied fences it, and its late arrival is refused", (ctx) =>
          withBarrier((h) =>
            Effect.gen(function*() {
              yield* seedBarrier
              const context = freshStep()
              const op = yield* decrement(1)
              assert.strictEqual((yield* h.store.resolve!(context, op))._tag, "None")
              yield* expectReason(h.store.execute(op, context), ["Conflict"], "late")
              assert.deepStrictEqual(yield* qty, [10])
              assert.strictEqual((yield* h.store.resolve!(context, op))._tag, "None")
            })
          )(ctx))

        it.effect("barrier: a step id that comes back with another operation is refused, not answered", (ctx) =>
          withBarrier((h) =>
            Effect.gen(function*() {
              yield* seedBarrier
              const context = freshStep()
              yield* h.store.execute(yield* decrement(1), context)
              yield* expectReason(
                Effect.flatMap(decrement(5), (op) => h.store.execute(op, context)),
                ["Conflict"],
                "another operation"
              )
              assert.deepStrictEqual(yield* qty, [9])
            })
          )(ctx))

        it.effect("barrier: an insert resolved before it ran is fenced and refused late; one that ran is answered", (ctx) =>
          withBarrier((h) =>
            Effect.gen(function*() {
              yield* seedBarrier
              const insert = (id: string) =>
                Operation.parse({
                  operation: "insert",
                  from: from(barrierEntity),
                  data: rowOf(h, { ...FC.sample(Arb.fixture(id), 1)[0]!, qty: 1 })
                })
              // what a user reads (a store's fences are never returned)
              const ids = Effect.map(
                Effect.flatMap(Operation.parse({ operation: "select", from: from(barrierEntity) }), h.store.execute),
                (outcome) => outcome.records.map((r) => h.fromRow(r).id).sort()
              )
              const fenced = freshStep()
              const late = yield* insert("b2")
              assert.strictEqual((yield* h.store.resolve!(fenced, late))._tag, "None")
              yield* expectReason(h.store.execute(late, fenced), ["Conflict"], "late insert")
              assert.deepStrictEqual(yield* ids, ["b1"], "the late insert wrote nothing")
              assert.strictEqual((yield* h.store.resolve!(fenced, late))._tag, "None", "the same answer")

              const ran = freshStep()
              const op = yield* insert("b3")
              const first = yield* h.store.execute(op, ran)
              const again = yield* h.store.execute(op, ran)
              assert.strictEqual(again.undo.id, first.undo.id, "the recorded outcome")
              assert.deepStrictEqual(yield* ids, ["b1", "b3"], "inserted once")
              const resolved = yield* h.store.resolve!(ran, op)
              assert.isTrue(resolved._tag === "Some" && resolved.value.undo.id === first.undo.id)
              if (resolved._tag === "Some") yield* h.store.undo(resolved.value.undo)
              assert.deepStrictEqual(yield* ids, ["b1"], "undone")
            })
          )(ctx))

        it.effect("barrier: a saga id with a step recorded (run or fenced) is known as used; a new one is not", (ctx) =>
          withBarrier((h) =>
            Effect.gen(function*() {
              if (h.store.used === undefined) {
                // a reused saga id is then caught by the journal only
                return ctx.skip(`${harness.name}'s barrier cannot tell whether a saga id was used`)
              }
              yield* seedBarrier
              const ran = freshStep()
              const fenced = freshStep()
              assert.isFalse(yield* h.store.used(ran.sagaId))
              yield* h.store.execute(yield* decrement(1), ran)
              yield* h.store.resolve!(fenced, yield* decrement(1))
              assert.isTrue(yield* h.store.used(ran.sagaId))
              assert.isTrue(yield* h.store.used(fenced.sagaId))
              // an id that is a prefix of a used one is new
              assert.isFalse(yield* h.store.used(ran.sagaId.slice(0, -1)))
              assert.isFalse(yield* h.store.used(freshStep().sagaId))
            })
          )(ctx))
      }

      it.effect("prune deletes the store's own bookkeeping past the retention", () =>
        Effect.gen(function*() {
          const h = yield* H
          assert.isDefined(h.store.prune, "the store offers retention of its undo markers")
          yield* seedBarrier
          const context = freshStep()
          const op = yield* decrement(1)
          const outcome = yield* h.store.execute(op, context)
          yield* h.store.undo(outcome.undo)
          yield* h.store.prune!("1 hour")
          const barrier = h.store.resolve !== undefined
          if (barrier) {
            assert.strictEqual((yield* h.store.resolve!(context, op))._tag, "Some", "a fresh record stays")
          }
          assert.isAtLeast(yield* h.store.prune!("0 millis"), barrier ? 2 : 1, "the step's records are old now")
          assert.strictEqual(yield* h.store.prune!("0 millis"), 0, "nothing left to prune")
          assert.deepStrictEqual(yield* qty, [10])
        }))

      if (harness.schemaful) {
        it.effect("unknown entities and fields are rejected before any write", () =>
          Effect.gen(function*() {
            const h = yield* H
            yield* seed("conf_catalog", [])
            const row = rowOf(h, FC.sample(Arb.fixture("e1"), 1)[0]!)
            const check = (input: unknown) => Effect.flatMap(Operation.parse(input), (op) => h.store.validate(op))
            yield* expectReason(
              check({ operation: "insert", from: from("conf_no_such_entity"), data: row }),
              ["EntityNotFound"],
              "entity"
            )
            yield* expectReason(
              check({ operation: "insert", from: from("conf_catalog"), data: { ...row, nope: 1 } }),
              ["FieldNotFound"],
              "field"
            )
            yield* expectReason(
              check({ operation: "update", from: from("conf_catalog"), data: { name: "x" }, where: { nope: 1 } }),
              ["FieldNotFound"],
              "filter field"
            )
            assert.deepStrictEqual(yield* h.snapshot("conf_catalog"), [])
          }))
      }
    }
  )
}

type Model = "NoMatch" | { readonly state: ReadonlyArray<Fixture>; readonly affected: number }

/** What the reference semantics say an operation does to `data`. */
const modelOf = (
  data: ReadonlyArray<Fixture>,
  op: { readonly operation: string; readonly [k: string]: unknown }
): Model => {
  const run = (f: Effect.Effect<any, any>) => Effect.runSync(f)
  switch (op.operation) {
    case "insert": {
      const rows = op.data as ReadonlyArray<Fixture>
      return { state: [...data, ...rows.map(fixtureOf)], affected: rows.length }
    }
    case "update": {
      const where = run(Filter.parse(op.where))
      const changes = run(Update.parse(op.data))
      const hit = data.filter((f) => Filter.matches(where, f))
      if (hit.length === 0) return "NoMatch"
      return {
        state: data.map((f) => Filter.matches(where, f) ? fixtureOf(Update.apply(changes, f)) : f),
        affected: hit.length
      }
    }
    case "delete": {
      const where = run(Filter.parse(op.where))
      const kept = data.filter((f) => !Filter.matches(where, f))
      if (kept.length === data.length) return "NoMatch"
      return { state: kept, affected: data.length - kept.length }
    }
    default: {
      const row = fixtureOf(op.data as Record<string, unknown>)
      return { state: [...data.filter((f) => f.id !== row.id), row], affected: 1 }
    }
  }
}

const fixtureOf = (u: Record<string, unknown>): Fixture => u as unknown as Fixture
