import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
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
 * Undoes the nodes' scopes walking the graph backwards: a node's scope is closed only after the scopes of every
 * node that needed it, independent ones concurrently (at most `concurrency` at a time). With `concurrency` 1 the
 * scopes close one by one in reverse start order (nodes then run one at a time, so a node started after all it
 * needed had completed).
 */
const closeBackwards = (
  nodes: ReadonlyArray<Node>,
  scopes: ReadonlyMap<string, Scope.CloseableScope>,
  started: ReadonlyArray<string>,
  concurrency: number,
  exit: Exit.Exit<unknown, unknown>
) =>
  Effect.gen(function*() {
    if (Exit.isSuccess(exit) || concurrency === 1) {
      const order = [...started].reverse()
      const rest = nodes.map((node) => node.key).filter((key) => !started.includes(key))
      yield* Effect.forEach([...order, ...rest], (key) => Scope.close(scopes.get(key)!, exit), { discard: true })
      return
    }
    const dependents = new Map<string, Array<string>>(nodes.map((node) => [node.key, []]))
    for (const node of nodes) for (const need of node.needs) dependents.get(need)!.push(node.key)
    const undone = new Map<string, Deferred.Deferred<void>>()
    for (const node of nodes) undone.set(node.key, yield* Deferred.make<void>())
    const permits = yield* Effect.makeSemaphore(concurrency)
    yield* Effect.forEach(nodes, (node) =>
      Effect.forEach(dependents.get(node.key)!, (key) =>
        Deferred.await(undone.get(key)!), { discard: true }).pipe(
          Effect.zipRight(permits.withPermits(1)(Scope.close(scopes.get(node.key)!, exit))),
          Effect.zipRight(Deferred.succeed(undone.get(node.key)!, undefined))
        ), { concurrency: "unbounded", discard: true })
  })

/**
 * Every node runs in a scope of its own: it waits for the nodes it needs, then takes a permit and runs. With
 * `concurrency` 1 the nodes run one by one in declaration order. A failure starts no further node, but the nodes
 * already running are let finish (interrupting a write half-way would leave it in doubt); then the graph fails
 * with the first failure, and the saga's scope undoes the nodes' scopes walking the graph backwards.
 */
const run = (nodes: ReadonlyArray<Node>, concurrency: number) =>
  Effect.gen(function*() {
    const runtime = yield* SagaContext
    const invalid = validate(nodes)
    if (invalid !== undefined) {
      return yield* new SagaDefinitionError({ sagaId: runtime.ledger.sagaId, stepId: undefined, reason: invalid })
    }
    const scopes = new Map<string, Scope.CloseableScope>()
    for (const node of nodes) scopes.set(node.key, yield* Scope.make())
    const started: Array<string> = []
    yield* Scope.addFinalizerExit(
      runtime.scope,
      (exit) => closeBackwards(nodes, scopes, started, concurrency, exit)
    )
    const permits = yield* Effect.makeSemaphore(concurrency)
    const done = new Map<string, Deferred.Deferred<unknown, void>>()
    for (const node of nodes) done.set(node.key, yield* Deferred.make<unknown, void>())
    const results: Record<string, unknown> = {}
    let failure: Cause.Cause<unknown> | undefined
    const runNode = (node: Node) =>
      Effect.gen(function*() {
        const deps: Record<string, unknown> = {}
        for (const need of node.needs) {
          const value = yield* Effect.either(Deferred.await(done.get(need)!))
          if (value._tag === "Left") return yield* Deferred.fail(done.get(node.key)!, undefined)
          deps[need] = value.right
        }
        const exit = yield* permits.withPermits(1)(
          failure === undefined
            ? Effect.suspend(() => {
              started.push(node.key)
              return node.run(deps)
            }).pipe(
              Effect.provideService(SagaContext, { ...runtime, scope: scopes.get(node.key)! }),
              Effect.exit
            )
            : Effect.succeed(undefined)
        )
        if (exit === undefined) return yield* Deferred.fail(done.get(node.key)!, undefined)
        if (Exit.isFailure(exit)) {
          failure ??= exit.cause
          return yield* Deferred.fail(done.get(node.key)!, undefined)
        }
        results[node.key] = exit.value
        yield* Deferred.succeed(done.get(node.key)!, exit.value)
      })
    yield* Effect.forEach(nodes, runNode, { concurrency: concurrency === 1 ? 1 : "unbounded", discard: true })
    if (failure !== undefined) return yield* Effect.failCause(failure)
    return results
  }).pipe(Effect.withSpan("Saga.graph", { captureStackTrace: false }))

/** @internal */
export const make = (nodes: ReadonlyArray<Node> = []): Graph => ({
  nodes,
  add: (key, needs, f) => make([...nodes, { key, needs, run: f }]),
  run: (options) => run(nodes, Math.max(1, options?.concurrency ?? Number.MAX_SAFE_INTEGER))
})
