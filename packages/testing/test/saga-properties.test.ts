/**
 * The saga engine's own properties (they live here, next to the generators, so `@polysaga/saga` does not depend
 * on its test kit).
 */
import { assert, describe, it } from "@effect/vitest"
import { checkScenario, runScenario, sagaScenario } from "@polysaga/testing"
import { Effect } from "effect"

const numRuns = 200

const holds = (scenario: Parameters<typeof runScenario>[0]) =>
  Effect.gen(function*() {
    const run = yield* runScenario(scenario)
    const problems = checkScenario(run)
    assert.deepStrictEqual(problems, [], problems.join("\n"))
  })

describe("saga engine properties", () => {
  it.effect.prop(
    "sequential sagas: exactly the completed steps undone once, in reverse completion order",
    [sagaScenario({ concurrent: false, nested: false, interruption: false })],
    ([scenario]) => holds(scenario),
    { fastCheck: { numRuns } }
  )

  it.effect.prop(
    "nested sagas compensate as part of the parent",
    [sagaScenario({ concurrent: false, interruption: false })],
    ([scenario]) => holds(scenario),
    { fastCheck: { numRuns } }
  )

  it.effect.prop(
    "concurrent groups: undone in reverse dependency order, nothing after a failure starts",
    [sagaScenario({ interruption: false })],
    ([scenario]) => holds(scenario),
    { fastCheck: { numRuns } }
  )

  it.effect.prop(
    "interruption compensates like a failure",
    [sagaScenario({ failures: false })],
    ([scenario]) => holds(scenario),
    { fastCheck: { numRuns } }
  )

  it.effect.prop(
    "in-doubt steps are resolved through their definition: applied ones undone first, the others left alone",
    [sagaScenario({ maxSteps: 5, failures: false, compensationFailures: false }).filter((s) => s.resolvable)],
    ([scenario]) => holds(scenario),
    { fastCheck: { numRuns } }
  )

  it.effect.prop(
    "anything at once: failures, transient failures, failing compensations, interruption, journal cuts",
    [sagaScenario({ maxSteps: 5 })],
    ([scenario]) => holds(scenario),
    { fastCheck: { numRuns } }
  )
})
