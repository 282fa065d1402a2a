/**
 * The README's `TransactionResult`, as TypeScript that must equal the exported type (checked by `pnpm check`:
 * `toEqualTypeOf` does not compile when they differ), and a result of that shape decoded by the exported Schema.
 * The README's block is checked against the region by `tools/readme`.
 */
import { Transaction } from "@polysaga/warehouse"
import * as Schema from "effect/Schema"
import { assert, expectTypeOf, it } from "vitest"

// #region readme
interface TransactionResult { // the seed's ISagaResult, plus `id`
  readonly id: string // the saga id (options.id, or a UUID)
  readonly status: "completed" | "compensated" | "failed"
  readonly executionTime: number // ms
  readonly stepResults: { readonly [stepId: string]: StepResult }
  readonly compensatedSteps: ReadonlyArray<string> // in operation order, e.g. ['step_0', 'step_1']; undone in reverse
  readonly pendingCompensations?: ReadonlyArray<string> | undefined // when 'failed': the steps left to undo, in order
  readonly error?: string | undefined
}

interface StepResult {
  readonly data?: ReadonlyArray<{ readonly [field: string]: unknown }> | undefined // the records it produced
  readonly affectedRows?: number | undefined
  readonly error?: string | undefined
}
// #endregion readme

it("the README's TransactionResult is the exported one", () => {
  expectTypeOf<TransactionResult>().toEqualTypeOf<Transaction.TransactionResult>()
  expectTypeOf<StepResult>().toEqualTypeOf<typeof Transaction.StepResult.Type>()
  const result: TransactionResult = {
    id: "t1",
    status: "compensated",
    executionTime: 12,
    stepResults: { step_0: { data: [{ id: 1 }], affectedRows: 1 }, step_1: { error: "check constraint" } },
    compensatedSteps: ["step_0"],
    error: "check constraint"
  }
  assert.deepStrictEqual(Schema.decodeUnknownSync(Transaction.TransactionResult)(result), result)
})
