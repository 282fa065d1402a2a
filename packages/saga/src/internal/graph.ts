import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import { SagaDefinitionError } from "../SagaError.js"
import { SagaContext } from "./engine.js"

/** @internal */
export interface Node {
  readonly key: string
  readonly needs: ReadonlyArray<string>
  readonly run: (deps: Record<string, unknown>) => Effect.Effect<unknown, unknown, unknown>
}

/** @internal */
export interface Graph {
  readonly nodes: ReadonlyArray<Node>
  readonly add: (key: string, needs: ReadonlyArray<string>, run: Node["run"]) => Graph
  readonly run: (options?: { readonly concurrency?: number | undefined }) => Effect.Effect<any, any, any>
}

const validate = (nodes: ReadonlyArray<Node>): string | undefined => {
  const seen = new Set<string>()
  for (const node of nodes) {
    if (seen.has(node.key)) return `graph node "${node.key}" is declared twice`
    for (const need of node.needs) {
      if (!seen.has(need)) return `graph node "${node.key}" needs "${need}", which is not declared before it`
    }
    seen.add(node.key)
  }
  return undefined
}

/**
 * Every node waits for the nodes it needs, then takes a permit and runs. A failure interrupts the others; the
 * scope of the saga then undoes what completed — in reverse completion order, which puts every node before the
 * nodes it needed (they completed before it started).
 */
const run = (nodes: ReadonlyArray<Node>, concurrency: number) =>
  Effect.gen(function*() {
    const invalid = validate(nodes)
    if (invalid !== undefined) {
      const { ledger } = yield* SagaContext
      return yield* new SagaDefinitionError({ sagaId: ledger.sagaId, stepId: undefined, reason: invalid })
    }
    const semaphore = yield* Effect.makeSemaphore(concurrency)
    const done = new Map<string, Deferred.Deferred<unknown>>()
    for (const node of nodes) done.set(node.key, yield* Deferred.make<unknown>())
    const results: Record<string, unknown> = {}
    yield* Effect.forEach(nodes, (node) =>
      Effect.gen(function*() {
        const deps: Record<string, unknown> = {}
        for (const need of node.needs) deps[need] = yield* Deferred.await(done.get(need)!)
        const value = yield* semaphore.withPermits(1)(node.run(deps))
        results[node.key] = value
        yield* Deferred.succeed(done.get(node.key)!, value)
      }), { concurrency: "unbounded", discard: true })
    return results
  }).pipe(Effect.withSpan("Saga.graph"))

/** @internal */
export const make = (nodes: ReadonlyArray<Node> = []): Graph => ({
  nodes,
  add: (key, needs, f) => make([...nodes, { key, needs, run: f }]),
  run: (options) => run(nodes, Math.max(1, options?.concurrency ?? Number.MAX_SAFE_INTEGER))
})
