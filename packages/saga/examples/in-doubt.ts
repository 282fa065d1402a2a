/**
 * The README's in-doubt step, run by `tools/readme` (an in-memory stock that keeps each reservation under the saga
 * and step that made it, and loses the reply of the first one): the reservation applied, the saga could not know,
 * `resolve` finds it and the saga undoes it before it ends; checked below.
 */
import { Data, Option } from "effect"

class ReplyLost extends Data.TaggedError("ReplyLost")<{ readonly inDoubt: true }> {}

// what the example needs: your store, which can say whether a step applied (here in memory)
const Reservation = Schema.Struct({ sku: Schema.String, quantity: Schema.Number, key: Schema.String })
type Reservation = typeof Reservation.Type
const levels = new Map([["apple", 5]])
const reservations = new Map<string, Reservation>()
let replies = 0
const stock = {
  take: (item: { sku: string; quantity: number }, key: string) =>
    Effect.suspend(() => {
      const reservation = { ...item, key }
      levels.set(item.sku, levels.get(item.sku)! - item.quantity)
      reservations.set(key, reservation)
      // applied, but the first reply never arrives (a dropped connection): the step is in doubt, not failed
      return replies++ === 0 ? Effect.fail(new ReplyLost({ inDoubt: true })) : Effect.succeed(reservation)
    }),
  release: (r: Reservation) =>
    Effect.sync(() => {
      if (reservations.delete(r.key)) levels.set(r.sku, levels.get(r.sku)! + r.quantity)
    }),
  findReservation: (sagaId: string, stepId: string) =>
    Effect.sync(() => Option.fromNullable(reservations.get(`${sagaId}/${stepId}`)))
}

// #region readme
import { Saga, Step } from "@polysaga/saga"
import { Effect, Schema } from "effect"

const reserve = Step.define({
  name: "reserve",
  result: Reservation,
  input: Schema.Struct({ sku: Schema.String, quantity: Schema.Number }), // journaled with every StepIntent
  compensate: (r) => stock.release(r),
  resolve: (_input, { sagaId, stepId }) => stock.findReservation(sagaId, stepId) // Effect<Option<Reservation>>
})
const reserveItem = (sagaId: string, item: { sku: string; quantity: number }) =>
  Step.fromDefinition(reserve, stock.take(item, `${sagaId}/reserve:${item.sku}`), {
    id: `reserve:${item.sku}`,
    input: item
  })

const order = Saga.make("order", Saga.step(reserveItem("order-7", { sku: "apple", quantity: 2 })))
const result = await Saga.execute(order, { id: "order-7" }).pipe(Effect.runPromise)
console.log(result.status, result.compensatedSteps) // compensated [ 'reserve:apple' ]: it applied, and was undone
// #endregion readme

if (result.compensatedSteps[0] !== "reserve:apple" || levels.get("apple") !== 5 || reservations.size !== 0) {
  throw new Error(`expected the in-doubt reservation undone: ${JSON.stringify({ result, levels: [...levels] })}`)
}
