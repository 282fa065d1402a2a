import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    projects: ["packages/*", "apps/*", "tools/readme", "bench"],
    // The store-backed suites share four real servers (Neo4j Community has one database; the seed's examples
    // use fixed labels, collections and tables): one test file at a time keeps them from stepping on each other.
    maxWorkers: 1,
    minWorkers: 1
  }
})
