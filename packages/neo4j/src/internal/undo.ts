/**
 * `undo`: every action of one undo record applied in one transaction, together with the record's marker node
 * `(:_PolysagaUndo {id})` (unique by a constraint). A second application finds the marker and changes nothing;
 * two concurrent applications serialize on the constraint and the second one finds the marker. The references
 * and images an undo record keeps (what `execute` writes into it) are defined here too.
 */
import { Identifier, type StoreError, Undo } from "@polysaga/store"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import neo4j from "neo4j-driver"
import {
  jsonToDriver,
  jsonToProperties,
  labelsOf,
  lock,
  lockProperty,
  propertiesToJson,
  quote,
  sameJson
} from "./compile.js"
import { fail, isConstraintViolation, type Tx } from "./connection.js"
import type { Item } from "./execute.js"

type Json = Undo.Json

/** Raised inside an undo transaction whose marker says it was already applied: the transaction rolls back. */
export class AlreadyUndone extends Data.TaggedError("AlreadyUndone")<{}> {}

/*
 * The JSON form of the records kept in undo records: node and relationship references, and the full image of a
 * deleted node (labels, properties and every relationship with its other endpoint).
 */
const Name = Schema.String.pipe(Schema.pattern(Identifier.pattern, { message: () => "must be an identifier" }))
const Properties = Schema.Record({ key: Schema.String, value: Undo.Json })

/**
 * A node as a step saw it: its element id, labels and properties. Undo finds the node by its element id (stable
 * while the node exists); when that node is gone (deleted, then re-created by another undo with a new element
 * id), by the unique node with exactly these labels and properties.
 */
export const NodeRef = Schema.Struct({ elementId: Schema.String, labels: Schema.Array(Name), properties: Properties })
export type NodeRef = typeof NodeRef.Type

/** A relationship as a step saw it, with both endpoints. */
export const RelationshipRef = Schema.Struct({
  elementId: Schema.String,
  type: Name,
  properties: Properties,
  start: NodeRef,
  end: NodeRef
})
export type RelationshipRef = typeof RelationshipRef.Type

/** The full image of a deleted node: what its undo re-creates. */
export const NodeImage = Schema.Struct({ ...NodeRef.fields, relationships: Schema.Array(RelationshipRef) })
export type NodeImage = typeof NodeImage.Type

/** Labels usable to find a node again (those that can be quoted safely). */
const findable = (labels: ReadonlyArray<string>) => labels.filter((l) => Identifier.pattern.test(l))

export const nodeRef = (
  id: string,
  labels: ReadonlyArray<string>,
  props: Readonly<Record<string, unknown>>
): NodeRef => ({
  elementId: id,
  labels: findable(labels),
  properties: propertiesToJson(props)
})

export const relationshipRef = (item: Item): RelationshipRef => ({
  elementId: item.id,
  type: item.type!,
  properties: propertiesToJson(item.props),
  start: nodeRef(item.start!.id, item.start!.labels, item.start!.props),
  end: nodeRef(item.end!.id, item.end!.labels, item.end!.props)
})

/** The reference an undo uses to find `item` again. */
export const refOf = (item: Item): NodeRef | RelationshipRef =>
  item.type === undefined ? nodeRef(item.id, item.labels, item.props) : relationshipRef(item)

export const markerLabel = "_PolysagaUndo"

/** The constraint that makes undo markers unique (created when the store is acquired). */
export const markerConstraint =
  `CREATE CONSTRAINT polysaga_undo_marker IF NOT EXISTS FOR (m:${markerLabel}) REQUIRE m.id IS UNIQUE`

type Action =
  | { readonly _tag: "DeleteCreated"; readonly ref: NodeRef | RelationshipRef }
  | { readonly _tag: "ReinsertNode"; readonly image: NodeImage }
  | { readonly _tag: "ReinsertRelationship"; readonly ref: RelationshipRef }
  | {
    readonly _tag: "Revert"
    readonly ref: NodeRef | RelationshipRef
    readonly inverse: ReadonlyArray<Undo.Inverse>
    readonly restore: Readonly<Record<string, Undo.Restore>>
  }

/** Checks an undo record's images and field names before anything is written. */
export const decode = (record: Undo.UndoRecord, relationship: boolean): Effect.Effect<Array<Action>, StoreError> =>
  Effect.forEach(record.actions, (action, i) => {
    const path = `actions[${i}]`
    const as = <A, I>(schema: Schema.Schema<A, I>, u: unknown) =>
      Schema.decodeUnknown(schema)(u).pipe(
        Effect.mapError((e) =>
          fail("Validation", `malformed undo record: ${ParseResult.TreeFormatter.formatErrorSync(e)}`, {
            entity: record.entity,
            path
          })
        )
      )
    const refOf = (u: unknown): Effect.Effect<NodeRef | RelationshipRef, StoreError> =>
      relationship ? as(RelationshipRef, u) : as(NodeRef, u)
    switch (action._tag) {
      case "DeleteCreated":
        return Effect.map(refOf(action.key), (ref): Action => ({ _tag: "DeleteCreated", ref }))
      case "Reinsert":
        return relationship
          ? Effect.map(as(RelationshipRef, action.image), (ref): Action => ({ _tag: "ReinsertRelationship", ref }))
          : Effect.map(as(NodeImage, action.image), (image): Action => ({ _tag: "ReinsertNode", image }))
      case "Revert":
        return Effect.gen(function*(): Effect.fn.Return<Action, StoreError> {
          for (const field of [...action.inverse.map((x) => x.field), ...Object.keys(action.restore)]) {
            yield* Identifier.check(field, "field name", path)
          }
          const ref = yield* refOf(action.key)
          return { _tag: "Revert", ref, inverse: action.inverse, restore: action.restore }
        })
    }
  })

const isRelationshipRef = (ref: NodeRef | RelationshipRef): ref is RelationshipRef => "type" in ref

/**
 * The node `ref` names: the node mapped from it in this undo (re-created here), else the node with its element
 * id when that one still has its labels and properties, else the unique node with exactly its labels and
 * properties (it was deleted and re-created by another undo), else the node with its element id and labels.
 */
const resolveNode = (tx: Tx, ref: NodeRef, created: ReadonlyMap<string, string>) =>
  Effect.gen(function*() {
    const mapped = created.get(ref.elementId)
    if (mapped !== undefined) return mapped
    const [current] = yield* tx.run(
      `MATCH (n) WHERE elementId(n) = $id RETURN labels(n) AS labels, properties(n) AS props`,
      {
        id: ref.elementId
      }
    )
    let candidate: string | undefined
    if (current !== undefined && ref.labels.every((l) => (current.labels as Array<string>).includes(l))) {
      if (sameJson(propertiesToJson(current.props as Record<string, unknown>), ref.properties)) return ref.elementId
      candidate = ref.elementId
    }
    if (ref.labels.length > 0) {
      const same = yield* tx.run(
        `MATCH (n${labelsOf(ref.labels)}) WHERE size(labels(n)) = $count AND properties(n) = $props ` +
          `RETURN elementId(n) AS id LIMIT 2`,
        { count: neo4j.int(ref.labels.length), props: jsonToProperties(ref.properties) }
      )
      if (same.length === 1) return same[0]!.id as string
    }
    return candidate
  })

/** The relationship `ref` names, found like a node (by element id, else by endpoints, type and properties). */
const resolveRelationship = (tx: Tx, ref: RelationshipRef, created: ReadonlyMap<string, string>) =>
  Effect.gen(function*() {
    const [current] = yield* tx.run(
      `MATCH ()-[r]->() WHERE elementId(r) = $id RETURN type(r) AS type, properties(r) AS props`,
      {
        id: ref.elementId
      }
    )
    let candidate: string | undefined
    if (current !== undefined && current.type === ref.type) {
      if (sameJson(propertiesToJson(current.props as Record<string, unknown>), ref.properties)) return ref.elementId
      candidate = ref.elementId
    }
    const start = yield* resolveNode(tx, ref.start, created)
    const end = yield* resolveNode(tx, ref.end, created)
    if (start !== undefined && end !== undefined) {
      const same = yield* tx.run(
        `MATCH (s)-[r${labelsOf([ref.type])}]->(e) WHERE elementId(s) = $start AND elementId(e) = $end ` +
          `AND properties(r) = $props RETURN elementId(r) AS id LIMIT 2`,
        { start, end, props: jsonToProperties(ref.properties) }
      )
      if (same.length === 1) return same[0]!.id as string
    }
    return candidate
  })

const conflict = (entity: string, message: string, path?: string) => fail("Conflict", message, { entity, path })

const restoreRelationship = (tx: Tx, entity: string, ref: RelationshipRef, created: ReadonlyMap<string, string>) =>
  Effect.gen(function*() {
    const start = yield* resolveNode(tx, ref.start, created)
    const end = yield* resolveNode(tx, ref.end, created)
    if (start === undefined || end === undefined) {
      return yield* conflict(
        entity,
        `the ${start === undefined ? "start" : "end"} node of a ${ref.type} relationship no longer exists`
      )
    }
    yield* tx.run(
      `MATCH (s), (e) WHERE elementId(s) = $start AND elementId(e) = $end ` +
        `CREATE (s)-[r${labelsOf([ref.type])}]->(e) SET r = $props`,
      { start, end, props: jsonToProperties(ref.properties) }
    )
  })

const isNumber = (u: Json | undefined) =>
  typeof u === "number" || (typeof u === "object" && u !== null && !Array.isArray(u) && ("$float" in u || "$int" in u))

const revert = (tx: Tx, entity: string, action: Extract<Action, { _tag: "Revert" }>, created: Map<string, string>) =>
  Effect.gen(function*() {
    const relationship = isRelationshipRef(action.ref)
    const id = relationship
      ? yield* resolveRelationship(tx, action.ref as RelationshipRef, created)
      : yield* resolveNode(tx, action.ref, created)
    const pattern = relationship ? "MATCH ()-[n]->()" : "MATCH (n)"
    const [row] = id === undefined ? [] : yield* tx.run(
      `${pattern} WHERE elementId(n) = $id ${lock} RETURN properties(n) AS props`,
      { id }
    )
    if (row === undefined) return yield* conflict(entity, "the updated record no longer exists")
    const current = propertiesToJson(row.props as Record<string, unknown>)
    const params: Record<string, unknown> = { id }
    const sets: Array<string> = []
    const param = (value: unknown) => {
      const name = `v${sets.length}`
      params[name] = value
      return `$${name}`
    }
    for (const [field, restore] of Object.entries(action.restore)) {
      // an absent property is null in Cypher: setting null removes it
      const { after } = restore, before = restore.before ?? null
      const now = current[field] ?? null
      if (sameJson(now, after)) sets.push(`n.${quote(field)} = ${param(jsonToDriver(before))}`)
      else if (!sameJson(now, before)) {
        return yield* conflict(
          entity,
          `${field} is ${JSON.stringify(now)}, not this step's ${JSON.stringify(after)}: another writer changed it`,
          field
        )
      }
    }
    for (const inverse of action.inverse) {
      const f = `n.${quote(inverse.field)}`
      const now = current[inverse.field]
      if (inverse._tag === "Increment") {
        if (!isNumber(now)) return yield* conflict(entity, `${inverse.field} no longer holds a number`, inverse.field)
        const by = param(jsonToDriver(inverse.by))
        // a property the step created goes away when nothing else changed it since
        sets.push(
          inverse.absent === true
            ? `${f} = CASE WHEN ${f} + ${by} = 0 THEN null ELSE ${f} + ${by} END`
            : `${f} = ${f} + ${by}`
        )
      } else if (Array.isArray(now)) {
        // Removes the last element equal to the pushed value (none left: another writer pulled it; nothing to do).
        const v = param(jsonToDriver(inverse.value))
        const removed =
          `[i IN range(0, size(${f}) - 1) WHERE i <> last([j IN range(0, size(${f}) - 1) WHERE ${f}[j] = ${v}]) | ${f}[i]]`
        sets.push(
          inverse.absent === true
            ? `${f} = CASE WHEN ${v} IN ${f} THEN CASE WHEN size(${f}) = 1 THEN null ELSE ${removed} END ELSE ${f} END`
            : `${f} = CASE WHEN ${v} IN ${f} THEN ${removed} ELSE ${f} END`
        )
      } else if (now !== undefined) {
        return yield* conflict(entity, `${inverse.field} no longer holds a list`, inverse.field)
      }
    }
    if (sets.length > 0) yield* tx.run(`${pattern} WHERE elementId(n) = $id SET ${sets.join(", ")}`, params)
  })

const createdChanged =
  "the node this step created no longer holds what the step wrote (another writer changed it, or it is " +
  "gone and its element id now names another node); it is not deleted"

type DeleteNode = { readonly _tag: "DeleteCreated"; readonly ref: NodeRef }

/** The actions of an insert's undo (nodes the step created, each named by a distinct element id), else `undefined`. */
const createdNodes = (actions: ReadonlyArray<Action>): ReadonlyArray<DeleteNode> | undefined => {
  const nodes = actions.filter((a): a is DeleteNode => a._tag === "DeleteCreated" && !isRelationshipRef(a.ref))
  return nodes.length === actions.length && new Set(nodes.map((a) => a.ref.elementId)).size === nodes.length
    ? nodes
    : undefined
}

/**
 * The undo marker merged (unique by its constraint, so two undos at once serialise on it) and, when this undo made
 * it, each node the step created deleted in the same statement when it is still there as the step wrote it: found
 * by its element id, locked, with the step's labels and properties and no relationship. Returns whether the marker
 * is this undo's and, for each deleted node, its element id and the properties it held (checked again here with
 * the adapter's exact equality; Cypher's `=` equates 1 and 1.0). Nodes not deleted are left to the general path.
 */
const markAndDelete = (tx: Tx, record: Undo.UndoRecord, token: string, nodes: ReadonlyArray<DeleteNode>) =>
  Effect.gen(function*() {
    const props = yield* Effect.try({
      try: () => Object.fromEntries(nodes.map((a) => [a.ref.elementId, jsonToProperties(a.ref.properties)])),
      catch: (e) =>
        fail("Validation", `malformed undo record: ${e instanceof Error ? e.message : String(e)}`, {
          entity: record.entity,
          path: "actions"
        })
    })
    const [row] = yield* tx.run(
      `MERGE (m:${markerLabel} {id: $id})
       ON CREATE SET m.entity = $entity, m.at = datetime(), m.token = $token
       WITH m.token = $token AS mine
       OPTIONAL MATCH (n) WHERE mine AND elementId(n) IN $ids
       FOREACH (x IN CASE WHEN n IS NULL THEN [] ELSE [n] END | SET x.${lockProperty} = true REMOVE x.${lockProperty})
       WITH mine, n, CASE WHEN n IS NULL THEN null ELSE elementId(n) END AS id,
         CASE WHEN n IS NULL THEN null ELSE properties(n) END AS props
       WITH mine, n, id, props, CASE WHEN n IS NULL THEN false
         ELSE all(l IN $labels[id] WHERE l IN labels(n)) AND props = $props[id] AND NOT EXISTS { (n)--() } END AS same
       FOREACH (x IN CASE WHEN same THEN [n] ELSE [] END | DELETE x)
       RETURN mine, collect(CASE WHEN same THEN {id: id, props: props} END) AS deleted`,
      {
        id: record.id,
        entity: record.entity,
        token,
        ids: nodes.map((a) => a.ref.elementId),
        labels: Object.fromEntries(nodes.map((a) => [a.ref.elementId, a.ref.labels])),
        props
      }
    ).pipe(
      Effect.catchIf((e) => isConstraintViolation(e.cause), () => new AlreadyUndone())
    )
    if (row?.mine !== true) return yield* new AlreadyUndone()
    const deleted = new Map(
      (row.deleted as ReadonlyArray<{ id: string; props: Record<string, unknown> }>).map((d) => [d.id, d.props])
    )
    for (const node of nodes) {
      const held = deleted.get(node.ref.elementId)
      if (held !== undefined && !sameJson(propertiesToJson(held), node.ref.properties)) {
        return yield* conflict(record.entity, createdChanged)
      }
    }
    return deleted
  })

/**
 * Applies `actions` (in reverse order) inside `tx`, after taking the undo record's marker. An insert's undo (nodes
 * the step created) takes the marker and deletes the nodes found as the step left them in one statement; what that
 * statement did not delete, and every other undo, goes through the actions one by one.
 */
export const apply = (tx: Tx, record: Undo.UndoRecord, all: ReadonlyArray<Action>) =>
  Effect.gen(function*() {
    // the marker, merged (unique by its constraint, so two undos at once serialise here): made by this undo, or
    // found — then it was applied already
    const token = crypto.randomUUID()
    const nodes = createdNodes(all)
    let actions = all
    if (nodes !== undefined) {
      const deleted = yield* markAndDelete(tx, record, token, nodes)
      actions = all.filter((a) => a._tag !== "DeleteCreated" || !deleted.has(a.ref.elementId))
    } else {
      const [marker] = yield* tx.run(
        `MERGE (m:${markerLabel} {id: $id})
         ON CREATE SET m.entity = $entity, m.at = datetime(), m.token = $token
         RETURN m.token = $token AS mine`,
        { id: record.id, entity: record.entity, token }
      ).pipe(
        Effect.catchIf((e) => isConstraintViolation(e.cause), () => new AlreadyUndone())
      )
      if (marker?.mine !== true) return yield* new AlreadyUndone()
    }
    const entity = record.entity
    /** Element ids of nodes deleted by the step → of the nodes this undo re-created. */
    const created = new Map<string, string>()
    const relationships = new Map<string, RelationshipRef>()
    for (const action of [...actions].reverse()) {
      switch (action._tag) {
        case "DeleteCreated": {
          if (isRelationshipRef(action.ref)) {
            const id = yield* resolveRelationship(tx, action.ref, created)
            if (id === undefined) break
            const [rel] = yield* tx.run(`MATCH ()-[r]->() WHERE elementId(r) = $id RETURN properties(r) AS props`, {
              id
            })
            if (
              rel !== undefined &&
              !sameJson(propertiesToJson(rel.props as Record<string, unknown>), action.ref.properties)
            ) {
              return yield* conflict(
                entity,
                "the relationship this step created no longer holds what the step wrote; it is not deleted"
              )
            }
            yield* tx.run(`MATCH ()-[r]->() WHERE elementId(r) = $id DELETE r`, { id })
            break
          }
          const id = yield* resolveNode(tx, action.ref, created)
          if (id === undefined) break
          const [row] = yield* tx.run(
            `MATCH (n) WHERE elementId(n) = $id ${lock}
             RETURN COUNT { (n)--() } AS relationships, properties(n) AS props`,
            { id }
          )
          // Neo4j reuses the element ids of deleted records: a node that no longer holds what this step wrote may be
          // another record altogether (or one another writer changed). Never delete it; a person decides.
          if (
            row !== undefined &&
            !sameJson(propertiesToJson(row.props as Record<string, unknown>), action.ref.properties)
          ) {
            return yield* conflict(entity, createdChanged)
          }
          if (row !== undefined && neo4j.integer.toNumber(row.relationships as number) > 0) {
            return yield* conflict(
              entity,
              "a node this step created now has relationships another writer added; it is not deleted"
            )
          }
          yield* tx.run(`MATCH (n) WHERE elementId(n) = $id DELETE n`, { id })
          break
        }
        case "ReinsertNode": {
          const [row] = yield* tx.run(
            `CREATE (n${labelsOf(action.image.labels)}) SET n = $props RETURN elementId(n) AS id`,
            { props: jsonToProperties(action.image.properties) }
          )
          created.set(action.image.elementId, row!.id as string)
          for (const rel of action.image.relationships) relationships.set(rel.elementId, rel)
          break
        }
        case "ReinsertRelationship":
          yield* restoreRelationship(tx, entity, action.ref, created)
          break
        case "Revert":
          yield* revert(tx, entity, action, created)
          break
      }
    }
    for (const rel of relationships.values()) yield* restoreRelationship(tx, entity, rel, created)
  })
