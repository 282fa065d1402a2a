import { Conformance } from "@polysaga/testing"
import { harness } from "./harness.js"

Conformance.run(harness)
