/**
 * Update changes → MongoDB update operators, and MongoDB's own semantics of those operators on a document,
 * used to check a match before writing and to compute the after-image from the atomically read before-image.
 */
import type { Update } from "@polysaga/store"
import { BSON } from "mongodb"
import { isPlainObject } from "./check.js"

type Document = Record<string, unknown>

const operatorOf: Record<Update.Change["op"], string> = {
  set: "$set",
  increment: "$inc",
  multiply: "$mul",
  push: "$push",
  pull: "$pull"
}

/** `$set`, `$inc`, `$mul`, `$push`, `$pull` from the (checked) changes. */
export const compile = (changes: ReadonlyArray<Update.Change>): Document => {
  const update: Record<string, Document> = {}
  for (const change of changes) {
    const operator = operatorOf[change.op]
    const value = change.op === "increment" || change.op === "multiply" ? change.by : change.value
    update[operator] = { ...update[operator], [change.field]: value }
  }
  return update
}

/** Deep equality of BSON values as the driver returns them (dates by time, ObjectIds by bytes). */
export const equals = (a: unknown, b: unknown): boolean => {
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.getTime() === b.getTime()
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => equals(v, b[i]))
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a), kb = Object.keys(b)
    return ka.length === kb.length && ka.every((k, i) => kb[i] === k && equals(a[k], b[k]))
  }
  if (a instanceof BSON.ObjectId && b instanceof BSON.ObjectId) return a.equals(b)
  return a === b
}

/**
 * The document after `changes`, as MongoDB computes it: `$inc` of a missing field sets it, `$mul` of a missing
 * field sets 0, `$push` onto a missing field makes a one-element array, `$pull` from a missing field leaves it
 * missing. Fails with a message where MongoDB would refuse (a non-number incremented, a non-array pushed to).
 */
export const apply = (
  changes: ReadonlyArray<Update.Change>,
  doc: Readonly<Document>
): { readonly _tag: "Right"; readonly doc: Document } | { readonly _tag: "Left"; readonly message: string } => {
  const next: Document = { ...doc }
  for (const change of changes) {
    const present = change.field in next && next[change.field] !== undefined
    const current = next[change.field]
    switch (change.op) {
      case "set":
        next[change.field] = change.value
        break
      case "increment":
      case "multiply":
        if (present && typeof current !== "number") {
          return { _tag: "Left", message: `$${change.op} of ${change.field}, which does not hold a number` }
        }
        next[change.field] = change.op === "increment"
          ? (present ? (current as number) : 0) + change.by
          : (present ? (current as number) : 0) * change.by
        break
      case "push":
      case "pull":
        if (present && !Array.isArray(current)) {
          return { _tag: "Left", message: `$${change.op} on ${change.field}, which does not hold an array` }
        }
        if (change.op === "push") next[change.field] = [...(present ? (current as Array<unknown>) : []), change.value]
        else if (present) next[change.field] = (current as Array<unknown>).filter((v) => !equals(v, change.value))
        break
    }
  }
  return { _tag: "Right", doc: next }
}
