// no store: beside the store-backed suites (vitest.shared.ts)
import { storeFree } from "../../vitest.shared.js"

export default storeFree
