/**
 * A retry budget per route, so that an outage cannot turn into a retry storm.
 *
 * A token bucket: every request sent to the route deposits `ratio` tokens, the
 * bucket also refills continuously at `minPerSecond` tokens per second of
 * `Clock` time, the balance never exceeds `capacity`, and every retry withdraws
 * one token. A retry is only made when a whole token is there to take.
 *
 * The bound this gives: over any interval of length `T` in which `R` requests
 * are sent, the route makes at most `capacity + ratio·R + minPerSecond·T`
 * retries, because tokens only enter through deposits and the refill, the
 * balance starts the interval at most at `capacity`, and it never goes below
 * zero. With the defaults (20% of requests plus 10 per second, after Finagle and
 * Envoy) a route that fails every call retries about a fifth of its traffic,
 * not four times it.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Ref } from "effect"

/**
 * How a retry budget is sized.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Tokens each request deposits, i.e. the share of requests that may be retried. Default `0.2`. */
  readonly ratio?: number
  /** Tokens refilled per second whatever the traffic, so a quiet route can still retry. Default `10`. */
  readonly minPerSecond?: number
  /**
   * The most tokens the bucket holds, and what it holds when made: the largest
   * burst of retries. Default `max(minPerSecond, 1) * 10`, i.e. ten seconds of
   * the floor (100 with the defaults).
   */
  readonly capacity?: number
}

/**
 * The token bucket of one route.
 *
 * @since 0.1.0
 */
export interface RetryBudget {
  /** Adds `ratio` tokens. Called once per request sent to the route (on its first attempt). */
  readonly deposit: Effect.Effect<void>
  /** Takes one token if a whole one is there; `false` means the retry must not be made. Called before each retry. */
  readonly tryWithdraw: Effect.Effect<boolean>
  /** The tokens available now. */
  readonly balance: Effect.Effect<number>
}

/**
 * The default `ratio` and `minPerSecond`, as data (the default `capacity`
 * follows from `minPerSecond`, see `Options`).
 *
 * @since 0.1.0
 */
export const defaults: { readonly ratio: number; readonly minPerSecond: number } = {
  ratio: 0.2,
  minPerSecond: 10
}

interface Bucket {
  readonly tokens: number
  /** The `Clock` time, in epoch milliseconds, `tokens` was computed for. */
  readonly updatedAt: number
}

/** Deposits of fractional `ratio`s add up with rounding error (five deposits of 0.2 may make 0.9999…). */
const epsilon = 1e-9

/**
 * Makes the budget of one route, starting full at `capacity`.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { Retry, RetryBudget } from "@ballast/core"
 *
 * const program = Effect.gen(function* () {
 *   // one budget per route, shared by every request to it
 *   const budget = yield* RetryBudget.make({ ratio: 0.2, minPerSecond: 10 })
 *   const call = Effect.fail("overloaded")
 *   return yield* call.pipe(Retry.retry({ attempts: 5 }, budget))
 * })
 */
export const make = (options: Options = {}): Effect.Effect<RetryBudget> => {
  const ratio = Math.max(0, options.ratio ?? defaults.ratio)
  const minPerSecond = Math.max(0, options.minPerSecond ?? defaults.minPerSecond)
  const capacity = Math.max(0, options.capacity ?? Math.max(minPerSecond, 1) * 10)
  const refillPerMilli = minPerSecond / 1000

  // Concurrent callers may read the clock in one order and reach the Ref in
  // another: time never runs backwards for the bucket, a late reader just
  // gets no refill.
  const refill = (bucket: Bucket, now: number): Bucket =>
    now <= bucket.updatedAt ? bucket : {
      tokens: Math.min(capacity, bucket.tokens + (now - bucket.updatedAt) * refillPerMilli),
      updatedAt: now
    }

  return Effect.map(
    Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.make<Bucket>({ tokens: capacity, updatedAt: now })),
    (ref): RetryBudget => ({
      deposit: Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.update(ref, (bucket) => {
          const refilled = refill(bucket, now)
          return { tokens: Math.min(capacity, refilled.tokens + ratio), updatedAt: refilled.updatedAt }
        })),
      tryWithdraw: Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.modify(ref, (bucket) => {
          const refilled = refill(bucket, now)
          return refilled.tokens >= 1 - epsilon
            ? [true, { tokens: Math.max(0, refilled.tokens - 1), updatedAt: refilled.updatedAt }]
            : [false, refilled]
        })),
      balance: Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.map(Ref.get(ref), (bucket) => refill(bucket, now).tokens))
    })
  )
}

/**
 * A budget that always allows a retry (the attempt limit and the deadline
 * still apply). Its balance is `Infinity`.
 *
 * @since 0.1.0
 */
export const unlimited: RetryBudget = {
  deposit: Effect.void,
  tryWithdraw: Effect.succeed(true),
  balance: Effect.succeed(Number.POSITIVE_INFINITY)
}
