/**
 * `execute`: one operation in one transaction that also takes the write locks of the records it changes and
 * reads their before-images under those locks.
 */
import {
  type Engine,
  Identifier,
  type Step,
  type StoreError,
  Undo,
  type Update,
  type WriteContext
} from "@polysaga/store"
import * as Effect from "effect/Effect"
import neo4j from "neo4j-driver"
import * as Barrier from "./barrier.js"
import {
  type Changes,
  type Compiled,
  driverToPlain,
  labelsOf,
  lock,
  type Matcher,
  nodeTarget,
  type Plan,
  propertiesToJson,
  relationshipColumns,
  type Row,
  type Target,
  ValueError
} from "./compile.js"
import { engine, fail, type Tx } from "./connection.js"
import { type NodeImage, nodeRef, refOf, type RelationshipRef, relationshipRef } from "./undo.js"

type Json = Undo.Json

/** One row of a query that returned a target's columns (see `Target.returns`). */
export interface Item {
  readonly id: string
  readonly labels: ReadonlyArray<string>
  readonly props: Readonly<Record<string, unknown>>
  readonly type?: string
  readonly start?: {
    readonly id: string
    readonly labels: ReadonlyArray<string>
    readonly props: Record<string, unknown>
  }
  readonly end?: {
    readonly id: string
    readonly labels: ReadonlyArray<string>
    readonly props: Record<string, unknown>
  }
}

export const itemOf = (row: Readonly<Record<string, unknown>>): Item => {
  const base = {
    id: row.id as string,
    labels: (row.labels as ReadonlyArray<string> | undefined) ?? [],
    props: row.props as Record<string, unknown>
  }
  if (typeof row.type !== "string") return base
  return {
    ...base,
    type: row.type,
    start: {
      id: row.start as string,
      labels: row.startLabels as Array<string>,
      props: row.startProps as Record<string, unknown>
    },
    end: {
      id: row.end as string,
      labels: row.endLabels as Array<string>,
      props: row.endProps as Record<string, unknown>
    }
  }
}

/** A record as `execute` returns it: properties plus `_elementId` (and `_type`, `_from`, `_to` for relationships). */
export const recordOf = (item: Item): Record<string, unknown> => {
  const props = Object.fromEntries(Object.entries(item.props).map(([k, v]) => [k, driverToPlain(v)]))
  return item.type === undefined
    ? { ...props, _elementId: item.id }
    : { ...props, _elementId: item.id, _type: item.type, _from: item.start!.id, _to: item.end!.id }
}

const run = (tx: Tx, query: string, params: Readonly<Record<string, unknown>>) =>
  Effect.map(tx.run(query, params), (rows) => rows.map(itemOf))

/**
 * Takes the write locks of at most `limit + 1` records of `target` matching `filter`, then reads those that
 * still match under the locks (their before-images).
 */
const lockMatching = (tx: Tx, target: Target, filter: Compiled, limit: number) =>
  Effect.gen(function*() {
    const locked = yield* tx.run(
      `${target.match} WHERE ${filter.text} WITH n LIMIT $limit ${lock} RETURN elementId(n) AS id`,
      { ...filter.params, limit: neo4j.int(limit + 1) }
    )
    if (locked.length === 0) return []
    return yield* run(tx, `${target.byIds} AND ${filter.text} RETURN ${target.returns}`, {
      ...filter.params,
      ids: locked.map((r) => r.id)
    })
  })

const isNumber = (u: Json | undefined) =>
  u === undefined || u === null || typeof u === "number" ||
  (typeof u === "object" && !Array.isArray(u) && ("$float" in u || "$int" in u))

/** Refuses relative and list changes on properties that do not hold a number / a list. */
const checkTypes = (entity: string, changes: ReadonlyArray<Update.Change>, before: Readonly<Record<string, Json>>) =>
  Effect.forEach(changes, (change) => {
    const current = before[change.field]
    if ((change.op === "increment" || change.op === "multiply") && !isNumber(current)) {
      return fail("Validation", `$${change.op} needs a number, ${change.field} holds ${JSON.stringify(current)}`, {
        entity,
        path: change.path
      })
    }
    if ((change.op === "push" || change.op === "pull") && current !== undefined && !Array.isArray(current)) {
      return fail("Validation", `$${change.op} needs a list, ${change.field} holds ${JSON.stringify(current)}`, {
        entity,
        path: change.path
      })
    }
    return Effect.void
  }, { discard: true })

const json = <A>(entity: string, f: () => A): Effect.Effect<A, StoreError> =>
  Effect.try({
    try: f,
    catch: (e) =>
      fail(e instanceof ValueError ? "Validation" : "Unknown", `cannot keep a before-image: ${String(e)}`, {
        entity,
        cause: e
      })
  })

const deleteCreated = (entity: string, items: ReadonlyArray<Item>) =>
  json(entity, () => items.map((i): Undo.UndoAction => ({ _tag: "DeleteCreated", key: refOf(i) })))

/** Applies `changes` to the locked records `items`; returns the after-images and one `Revert` per record. */
const applyChanges = (tx: Tx, target: Target, changes: Changes, items: ReadonlyArray<Item>) =>
  Effect.gen(function*() {
    const before = new Map<string, Record<string, Json>>()
    for (const item of items) {
      const image = yield* json(target.entity, () => propertiesToJson(item.props))
      yield* checkTypes(target.entity, changes.changes, image)
      before.set(item.id, image)
    }
    const after = yield* run(tx, `${target.byIds} SET ${changes.sets} RETURN ${target.returns}`, {
      ...changes.params,
      ids: items.map((i) => i.id)
    })
    const actions = yield* json(target.entity, () =>
      after.map((item) => {
        const key = refOf(item)
        return Undo.revert(key, changes.changes, before.get(item.id)!, key.properties)
      }))
    return { after, actions }
  })

const outcome = (items: ReadonlyArray<Item>, actions: ReadonlyArray<Undo.UndoAction>) => ({
  records: items.map(recordOf),
  actions
})

/** The one node `matcher` selects. */
const endpoint = (tx: Tx, entity: string, matcher: Matcher) =>
  Effect.gen(function*() {
    const found = yield* run(
      tx,
      `MATCH (n${labelsOf([matcher.label])}) WHERE ${matcher.filter.text} RETURN ${
        nodeTarget(matcher.label).returns
      } LIMIT 2`,
      matcher.filter.params
    )
    if (found.length === 0) {
      return yield* fail("NoMatch", `no ${matcher.label} node matches this endpoint`, { entity, path: matcher.path })
    }
    if (found.length > 1) {
      return yield* fail("Validation", `more than one ${matcher.label} node matches this endpoint`, {
        entity,
        path: matcher.path
      })
    }
    return found[0]!
  })

/**
 * A node insert of a step: one statement creates the nodes and merges the step's barrier node with the outcome,
 * predicted from the rows (the nodes hold exactly their properties; only their element ids are the server's).
 */
const insertStep = (tx: Tx, target: Target, rows: ReadonlyArray<Row>, step: Step) =>
  Effect.gen(function*() {
    const unsaved = rows.map((r): Item => ({ id: "", labels: [target.entity], props: r.props }))
    const predicted = outcome(unsaved, yield* deleteCreated(target.entity, unsaved))
    const claim = Barrier.inWrite(step, {
      records: predicted.records,
      affected: rows.length,
      undo: Undo.make(engine, target.entity, predicted.actions, step.undoId)
    })
    const [row] = yield* tx.run(
      `UNWIND $rows AS row CREATE (n${labelsOf([target.entity])}) SET n = row WITH collect(n) AS created
       ${claim.text}
       RETURN [n IN created | {id: elementId(n), labels: labels(n), props: properties(n)}] AS created, ${claim.returns}`,
      { rows: rows.map((r) => r.props), ...claim.params }
    )
    if (row === undefined) return yield* fail("Unknown", "a node insert returned no row", { entity: target.entity })
    yield* claim.remember(tx, row)
    const created = (row.created as ReadonlyArray<Record<string, unknown>>).map(itemOf)
    return outcome(created, yield* deleteCreated(target.entity, created))
  })

const insert = (tx: Tx, target: Target, rows: ReadonlyArray<Row>, step: Step | undefined) =>
  Effect.gen(function*() {
    if (target.kind === "node") {
      if (step !== undefined) return yield* insertStep(tx, target, rows, step)
      const created = yield* run(
        tx,
        `UNWIND $rows AS row CREATE (n${labelsOf([target.entity])}) SET n = row RETURN ${target.returns}`,
        { rows: rows.map((r) => r.props) }
      )
      const actions = yield* deleteCreated(target.entity, created)
      return outcome(created, actions)
    }
    const created: Array<Item> = []
    for (const row of rows) {
      const start = yield* endpoint(tx, target.entity, row.from!)
      const end = yield* endpoint(tx, target.entity, row.to!)
      const [item] = yield* run(
        tx,
        `MATCH (s), (e) WHERE elementId(s) = $start AND elementId(e) = $end ` +
          `CREATE (s)-[n${labelsOf([target.entity])}]->(e) SET n = $props RETURN ${target.returns}`,
        { start: start.id, end: end.id, props: row.props }
      )
      if (item === undefined) {
        return yield* fail("NoMatch", "an endpoint was deleted concurrently", { entity: target.entity, path: row.path })
      }
      created.push(item)
    }
    const actions = yield* deleteCreated(target.entity, created)
    return outcome(created, actions)
  })

/** The full image of each node to delete: labels, properties and every relationship (read under the locks). */
const nodeImages = (tx: Tx, target: Target, items: ReadonlyArray<Item>, detach: boolean, max: number) =>
  Effect.gen(function*() {
    const rels = yield* run(
      tx,
      `MATCH (x) WHERE elementId(x) IN $ids MATCH (x)-[r]-() WITH DISTINCT r ` +
        `RETURN ${relationshipColumns("r", "startNode(r)", "endNode(r)")} LIMIT $limit`,
      { ids: items.map((i) => i.id), limit: neo4j.int(max + 1) }
    )
    if (rels.length > 0 && !detach) {
      return yield* fail(
        "HasRelationships",
        `a node to delete has relationships (${rels.length > max ? `more than ${max}` : rels.length}); ` +
          "delete them first or set options.detach: true to delete them with the node",
        { entity: target.entity, path: "where" }
      )
    }
    if (rels.length > max) {
      return yield* fail(
        "TooManyRecords",
        `the nodes to delete have more than ${max} relationships, the per-operation limit`,
        { entity: target.entity, path: "where" }
      )
    }
    const names = [...items.flatMap((i) => i.labels), ...rels.map((r) => r.type!)]
    const odd = names.find((name) => !Identifier.pattern.test(name))
    if (odd !== undefined) {
      return yield* fail(
        "Validation",
        `a record to delete uses the label or type ${JSON.stringify(odd)}, which undo could not restore safely`,
        { entity: target.entity }
      )
    }
    const owner = new Map<string, Array<RelationshipRef>>(items.map((i) => [i.id, []]))
    const images = yield* json(target.entity, () => {
      for (const rel of rels) (owner.get(rel.start!.id) ?? owner.get(rel.end!.id))!.push(relationshipRef(rel))
      return items.map((i): NodeImage => ({
        ...nodeRef(i.id, i.labels, i.props),
        labels: [...i.labels],
        relationships: owner.get(i.id)!
      }))
    })
    return { images, relationships: rels.map((r) => r.id) }
  })

const remove = (tx: Tx, target: Target, filter: Compiled, detach: boolean, context: WriteContext) =>
  Effect.gen(function*() {
    const items = yield* lockMatching(tx, target, filter, context.readLimit - 1)
    yield* context.matched(items.length)
    if (items.length === 0) return outcome([], [])
    const max = context.readLimit - 1
    const ids = items.map((i) => i.id)
    if (target.kind === "relationship") {
      const actions = yield* json(
        target.entity,
        () => items.map((i): Undo.UndoAction => ({ _tag: "Reinsert", image: refOf(i) }))
      )
      yield* tx.run(`MATCH ()-[n]->() WHERE elementId(n) IN $ids DELETE n`, { ids })
      return outcome(items, actions)
    }
    const { images, relationships } = yield* nodeImages(tx, target, items, detach, max)
    // Deletes exactly the relationships in the images, then the nodes: if another writer attached a new
    // relationship meanwhile, `DELETE n` fails and nothing is written.
    if (relationships.length > 0) {
      yield* tx.run(`MATCH ()-[r]->() WHERE elementId(r) IN $relationships DELETE r`, { relationships })
    }
    yield* tx.run(`MATCH (n) WHERE elementId(n) IN $ids DELETE n`, { ids })
    return outcome(items, images.map((image): Undo.UndoAction => ({ _tag: "Reinsert", image })))
  })

const upsert = (tx: Tx, target: Target, rows: Extract<Plan, { kind: "upsert" }>["rows"]) =>
  Effect.gen(function*() {
    const records: Array<Item> = []
    const actions: Array<Undo.UndoAction> = []
    for (const row of rows) {
      const found = yield* lockMatching(tx, target, row.filter, 1)
      if (found.length > 1) {
        return yield* fail("Validation", "an upsert's where matches more than one node", {
          entity: target.entity,
          path: "where"
        })
      }
      if (found.length === 0) {
        const created = yield* run(
          tx,
          `CREATE (n${labelsOf([target.entity])}) SET n = $props RETURN ${target.returns}`,
          { props: row.props }
        )
        records.push(...created)
        actions.push(...(yield* deleteCreated(target.entity, created)))
      } else {
        const { actions: reverts, after } = yield* applyChanges(tx, target, row.changes, found)
        records.push(...after)
        actions.push(...reverts)
      }
    }
    return outcome(records, actions)
  })

/** Runs a planned operation inside `tx` (the kernel's `write`). */
export const execute: Engine<Plan, Tx>["write"] = (tx, plan, operation, context) =>
  Effect.gen(function*() {
    const target = plan.target
    switch (plan.kind) {
      case "insert":
        return yield* insert(tx, target, plan.rows, context.step)
      case "upsert":
        return yield* upsert(tx, target, plan.rows)
      case "delete":
        return yield* remove(tx, target, plan.filter, operation.options.detach === true, context)
      case "select": {
        const items = yield* run(tx, plan.query.text, { ...plan.query.params, limit: neo4j.int(context.readLimit) })
        return outcome(items, [])
      }
      case "update": {
        const items = yield* lockMatching(tx, target, plan.filter, context.readLimit - 1)
        yield* context.matched(items.length)
        if (items.length === 0) return outcome([], [])
        const { actions, after } = yield* applyChanges(tx, target, plan.changes, items)
        return outcome(after, actions)
      }
    }
  })
