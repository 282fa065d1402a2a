import { Conformance } from "@polysaga/testing/conformance"
import { harness } from "./harness.js"

Conformance.run(harness)
