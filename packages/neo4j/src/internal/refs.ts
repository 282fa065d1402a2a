/**
 * The JSON form of the records kept in undo records: node and relationship references, and the full image of
 * a deleted node (labels, properties and every relationship with its other endpoint).
 */
import { Identifier, Undo } from "@polysaga/store"
import * as Schema from "effect/Schema"
import { propertiesToJson } from "./values.js"

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
