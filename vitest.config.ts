import { defineConfig } from "vitest/config"
import { BaseSequencer, type TestSpecification } from "vitest/node"

/**
 * Vitest's order (failed first, then the longest last time, or the largest file on a fresh clone), except that the
 * fault runs go last: the crash test (`apps/server/test/faults/crash.test.ts`) SIGKILLs the service and may restart
 * Chroma, and the outage test (`outage.test.ts`) freezes and restarts every store — a store just restarted is cold
 * (Neo4j's JVM: its conformance suite took 109 s instead of 22 s right after it). The outage test is the very last.
 */
class FaultsLast extends BaseSequencer {
  override async sort(files: Array<TestSpecification>): Promise<Array<TestSpecification>> {
    const rank = (file: TestSpecification) =>
      /[\\/]test[\\/]faults[\\/]outage\.test\.ts$/.test(file.moduleId)
        ? 2
        : /[\\/]test[\\/]faults[\\/]/.test(file.moduleId)
        ? 1
        : 0
    // Array.prototype.sort is stable: within a rank, vitest's own order
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b))
  }
}

export default defineConfig({
  test: {
    projects: ["packages/*", "apps/*", "tools/readme", "bench"],
    // The store-backed suites share four real servers (Neo4j Community has one database; the seed's examples
    // use fixed labels, collections and tables): one test file at a time keeps them from stepping on each other.
    // One per pool: the projects that touch no store run in the threads pool, beside them (vitest.shared.ts).
    maxWorkers: 1,
    minWorkers: 1,
    sequence: { sequencer: FaultsLast }
  }
})
