/**
 * One-at-a-time by key, in this process: an effect run under a key waits for the others under the same key. Each
 * key's semaphore is dropped when nobody holds or waits for it.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"

/**
 * Runs `effect` holding the lock of `key`.
 *
 * @since 0.1.0
 * @category models
 */
export type KeyedLock = <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

/**
 * A new set of locks.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (): KeyedLock => {
  const locks = new Map<string, { readonly semaphore: Effect.Semaphore; users: number }>()
  return (key, effect) =>
    Effect.suspend(() => {
      const entry = locks.get(key) ?? { semaphore: Effect.unsafeMakeSemaphore(1), users: 0 }
      entry.users++
      locks.set(key, entry)
      return entry.semaphore.withPermits(1)(effect).pipe(
        Effect.ensuring(Effect.sync(() => {
          if (--entry.users === 0) locks.delete(key)
        }))
      )
    })
}
