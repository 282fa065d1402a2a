import { mergeConfig } from "vitest/config"
import shared from "../../vitest.shared.js"

export default mergeConfig(shared, {
  test: {
    // the server tests share the real stores and child processes: one file at a time
    fileParallelism: false
  }
})
