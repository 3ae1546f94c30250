/**
 * The retry policy of one route, as a `Schedule`: exponential backoff with
 * jitter and a cap, a limit on attempts, only transient errors retried,
 * `Retry-After` honoured, the request's deadline respected and a per-route
 * retry budget spent.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Option, Schedule } from "effect"
import { dual, type LazyArg } from "effect/Function"
import * as Deadline from "./Deadline.js"
import { isRetryable, retryAfterOf } from "./Errors.js"
import * as RetryBudget from "./RetryBudget.js"

/**
 * How a route retries. Every field is optional; see `defaults`.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Total attempts including the first. Default `5` (at most four retries); `1` means no retry. */
  readonly attempts?: number
  /** The backoff before the first retry. Default 2 seconds. */
  readonly initialDelay?: Duration.DurationInput
  /** The longest backoff. Caps the exponential backoff only: a longer `Retry-After` is still waited. Default 60 s. */
  readonly maxDelay?: Duration.DurationInput
  /** What each backoff is multiplied by. Default `2`. */
  readonly factor?: number
  /** Whether each backoff is multiplied by a random factor in [0.8, 1.2) (before the cap). Default `true`. */
  readonly jitter?: boolean
}

/**
 * The default options, as data: 5 attempts, exponential from 2 s by a factor
 * of 2, capped at 60 s, with jitter.
 *
 * @since 0.1.0
 */
export const defaults: {
  readonly attempts: number
  readonly initialDelay: Duration.Duration
  readonly maxDelay: Duration.Duration
  readonly factor: number
  readonly jitter: boolean
} = {
  attempts: 5,
  initialDelay: Duration.seconds(2),
  maxDelay: Duration.seconds(60),
  factor: 2,
  jitter: true
}

const refuse = Effect.succeed(false)

/**
 * The retry schedule. Its input is the error an attempt failed with; while it
 * continues, its output is the delay it waits before the next attempt. It
 * stops, and the error surfaces at once, when:
 * - the error is not retryable (`Errors.isRetryable`: a `BadRequest`,
 *   `Unauthorized`, `ContentRejected` or `CircuitOpen` never is);
 * - `attempts` have been made;
 * - the delay would overrun the current deadline (`Deadline.allows`), so the
 *   caller still has time to fall back;
 * - `admit`, when given, refuses the retry at its delay (the pipeline asks the
 *   route's circuit breaker, so that no backoff is waited out only to be
 *   turned away);
 * - the budget has no token left. A token is withdrawn only once every other
 *   check has passed, so a retry that is not made spends nothing.
 *
 * The delay is the exponential backoff (jittered, then capped at `maxDelay`),
 * or a `RateLimited` error's `retryAfter` when that is longer. The schedule
 * never deposits into the budget; whoever drives it must `deposit` once per
 * request (`retry` does).
 *
 * @since 0.1.0
 */
export const schedule = (
  options: Options = {},
  budget: RetryBudget.RetryBudget = RetryBudget.unlimited,
  admit?: (delay: Duration.Duration) => Effect.Effect<boolean>
): Schedule.Schedule<Duration.Duration, unknown> => {
  const attempts = Math.max(1, Math.floor(options.attempts ?? defaults.attempts))
  const maxDelay = Duration.decode(options.maxDelay ?? defaults.maxDelay)
  const exponential = Schedule.exponential(options.initialDelay ?? defaults.initialDelay, options.factor ?? defaults.factor)
  const backoff = (options.jitter ?? defaults.jitter ? Schedule.jittered(exponential) : exponential).pipe(
    Schedule.modifyDelay((_, delay) => Duration.min(delay, maxDelay))
  )
  return Schedule.passthrough(backoff).pipe(
    Schedule.modifyDelay((error, delay) =>
      Option.match(retryAfterOf(error), { onNone: () => delay, onSome: (after) => Duration.max(delay, after) })
    ),
    Schedule.whileInput(isRetryable),
    Schedule.intersect(Schedule.recurs(attempts - 1)),
    // From here the output is the final delay (`delays` reads the decision, after every `modifyDelay`).
    Schedule.delays,
    Schedule.checkEffect((_, delay) =>
      Effect.flatMap(Deadline.allows(delay), (allowed) =>
        !allowed
          ? refuse
          : admit === undefined
          ? budget.tryWithdraw
          : Effect.flatMap(admit(delay), (admitted) => admitted ? budget.tryWithdraw : refuse))
    )
  )
}

/**
 * Retries an effect with a schedule, like `Effect.retry`, but makes the
 * schedule's driver only after the first failure. `Effect.retry` makes one (two
 * `Ref`s) and provides iteration metadata on every run, which makes a
 * successful call some twenty times slower; here success costs one `catchAll`.
 * Use it with a schedule built once per route by `schedule`, or pass a
 * function that makes the schedule: it is called only after a first failure
 * (for a schedule that depends on the call, such as one whose `admit` reads
 * the request's state). It does not deposit into any budget.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { Retry } from "@ballast/core"
 *
 * const policy = Retry.schedule({ attempts: 3 })
 * const call = Effect.fail("overloaded").pipe(Retry.retryWith(policy))
 */
export const retryWith: {
  <Out, In, R2>(
    policy: Schedule.Schedule<Out, In, R2> | LazyArg<Schedule.Schedule<Out, In, R2>>
  ): <A, E extends In, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R | R2>
  <A, E extends In, R, Out, In, R2>(
    self: Effect.Effect<A, E, R>,
    policy: Schedule.Schedule<Out, In, R2> | LazyArg<Schedule.Schedule<Out, In, R2>>
  ): Effect.Effect<A, E, R | R2>
} = dual(2, <A, E, R, Out, R2>(
  self: Effect.Effect<A, E, R>,
  policy: Schedule.Schedule<Out, E, R2> | LazyArg<Schedule.Schedule<Out, E, R2>>
): Effect.Effect<A, E, R | R2> =>
  Effect.catchAll(self, (first) =>
    Effect.flatMap(Schedule.driver(Schedule.isSchedule(policy) ? policy : policy()), (driver) => {
      const next = (error: E): Effect.Effect<A, E, R | R2> =>
        Effect.matchEffect(driver.next(error), {
          onFailure: () => Effect.fail(error),
          onSuccess: () => Effect.catchAll(self, next)
        })
      return next(first)
    })))

/**
 * Retries an effect with `schedule(options, budget)`, depositing into the
 * budget once, before the first attempt. The effect fails with the last error
 * when the schedule stops. The schedule is built when `retry` is applied, not
 * on every run, so apply it once and reuse the result.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { Deadline, Overloaded, Retry, RetryBudget, Timeout } from "@ballast/core"
 *
 * const program = Effect.gen(function* () {
 *   // one budget per route, shared by every request to it
 *   const budget = yield* RetryBudget.make({ ratio: 0.2, minPerSecond: 10 })
 *   const call = Effect.fail(new Overloaded({ provider: "google", model: "gemini-3-pro-image-preview", message: "overloaded" }))
 *   return yield* call.pipe(
 *     Retry.retry({ attempts: 5, initialDelay: "2 seconds", maxDelay: "60 seconds" }, budget),
 *     Deadline.within("2 minutes", () => new Timeout({ provider: "ballast", model: "-", message: "deadline passed" }))
 *   )
 * })
 */
export const retry: {
  (
    options?: Options,
    budget?: RetryBudget.RetryBudget
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, options?: Options, budget?: RetryBudget.RetryBudget): Effect.Effect<A, E, R>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    options?: Options,
    budget: RetryBudget.RetryBudget = RetryBudget.unlimited
  ): Effect.Effect<A, E, R> => {
    const retried = retryWith(self, schedule(options, budget))
    return budget === RetryBudget.unlimited ? retried : Effect.zipRight(budget.deposit, retried)
  }
)
