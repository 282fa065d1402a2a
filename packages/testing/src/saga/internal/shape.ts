import * as FC from "effect/FastCheck"
import type { SagaShape, ShapeOptions } from "../index.js"

type Raw =
  | { readonly _tag: "Step" }
  | { readonly _tag: "Sequence"; readonly children: ReadonlyArray<Raw> }
  | { readonly _tag: "Concurrent"; readonly children: ReadonlyArray<Raw>; readonly concurrency: number }
  | { readonly _tag: "Nested"; readonly body: Raw }

/** Give steps ids `s0, s1, …` and nested sagas names `n0, n1, …` in structural order. */
const name = (raw: Raw): SagaShape => {
  let steps = 0
  let nested = 0
  const go = (node: Raw): SagaShape => {
    switch (node._tag) {
      case "Step":
        return { _tag: "Step", id: `s${steps++}` }
      case "Sequence":
        return { _tag: "Sequence", children: node.children.map(go) }
      case "Concurrent":
        return { _tag: "Concurrent", children: node.children.map(go), concurrency: node.concurrency }
      case "Nested":
        return { _tag: "Nested", name: `n${nested++}`, body: go(node.body) }
    }
  }
  return go(raw)
}

/** @internal */
export const sagaShape = (options: ShapeOptions = {}): FC.Arbitrary<SagaShape> => {
  const maxWidth = options.maxWidth ?? 3
  const shapes = FC.letrec<{ node: Raw; step: Raw; sequence: Raw; concurrent: Raw; nested: Raw }>((tie) => ({
    node: FC.oneof(
      { maxDepth: options.maxDepth ?? 3, depthIdentifier: "saga" },
      { arbitrary: tie("step"), weight: 3 },
      { arbitrary: tie("sequence"), weight: 1 },
      { arbitrary: tie("concurrent"), weight: options.concurrent === false ? 0 : 1 },
      { arbitrary: tie("nested"), weight: options.nested === false ? 0 : 1 }
    ),
    step: FC.constant({ _tag: "Step" } as const),
    sequence: FC.array(tie("node"), { minLength: 1, maxLength: maxWidth, depthIdentifier: "saga" }).map((
      children
    ) => ({ _tag: "Sequence", children } as const)),
    concurrent: FC.record({
      children: FC.array(tie("node"), { minLength: 1, maxLength: maxWidth, depthIdentifier: "saga" }),
      concurrency: FC.integer({ min: 1, max: 3 })
    }).map(({ children, concurrency }) => ({ _tag: "Concurrent", children, concurrency } as const)),
    nested: tie("sequence").map((body) => ({ _tag: "Nested", body } as const))
  }))
  return FC.array(shapes.node, { minLength: 1, maxLength: options.maxSteps ?? 4 }).map((children) =>
    name({ _tag: "Sequence", children })
  )
}

/** @internal */
export const stepIds = (shape: SagaShape, prefix = ""): ReadonlyArray<string> => {
  switch (shape._tag) {
    case "Step":
      return [prefix + shape.id]
    case "Sequence":
    case "Concurrent":
      return shape.children.flatMap((child) => stepIds(child, prefix))
    case "Nested":
      return stepIds(shape.body, `${prefix}${shape.name}/`)
  }
}

/**
 * Pairs `[before, after]` of step ids where `after` structurally depends on `before`: `before` sits in an earlier
 * child of a sequence than `after`.
 * @internal
 */
export const dependencies = (shape: SagaShape, prefix = ""): ReadonlyArray<readonly [string, string]> => {
  switch (shape._tag) {
    case "Step":
      return []
    case "Nested":
      return dependencies(shape.body, `${prefix}${shape.name}/`)
    case "Concurrent":
      return shape.children.flatMap((child) => dependencies(child, prefix))
    case "Sequence": {
      const inner = shape.children.flatMap((child) => dependencies(child, prefix))
      const ids = shape.children.map((child) => stepIds(child, prefix))
      const across = ids.flatMap((earlier, i) =>
        ids.slice(i + 1).flatMap((later) => earlier.flatMap((a) => later.map((b) => [a, b] as const)))
      )
      return [...inner, ...across]
    }
  }
}

/**
 * The value each step receives when every step returns its own id, sequences pass the previous value on and
 * concurrent groups join their children's values with `+`. Returns the inputs and the shape's output.
 * @internal
 */
export const flow = (
  shape: SagaShape,
  input: string,
  inputs: Map<string, string> = new Map()
): { readonly inputs: Map<string, string>; readonly output: string } => {
  switch (shape._tag) {
    case "Step":
      inputs.set(shape.id, input)
      return { inputs, output: shape.id }
    case "Nested":
      return flow(shape.body, input, inputs)
    case "Sequence":
      return {
        inputs,
        output: shape.children.reduce((value, child) => flow(child, value, inputs).output, input)
      }
    case "Concurrent":
      return { inputs, output: shape.children.map((child) => flow(child, input, inputs).output).join("+") }
  }
}
