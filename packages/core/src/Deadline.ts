/**
 * One deadline per request. The absolute deadline lives in a `FiberRef`, so
 * every policy below the pipeline (retry delays, breaker waits) can ask how much
 * time is left without a timer of its own.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, FiberRef, Option } from "effect"
import { dual } from "effect/Function"

/**
 * The deadline of the current request in epoch milliseconds (`Infinity` when
 * there is none).
 *
 * @since 0.1.0
 */
export const currentDeadline: FiberRef.FiberRef<number> = FiberRef.unsafeMake(Number.POSITIVE_INFINITY)

/**
 * The time left before the current deadline, or `None` when there is none.
 *
 * @since 0.1.0
 */
export const remaining: Effect.Effect<Option.Option<Duration.Duration>> = Effect.flatMap(
  FiberRef.get(currentDeadline),
  (deadline) =>
    deadline === Number.POSITIVE_INFINITY
      ? Effect.succeedNone
      : Effect.map(Clock.currentTimeMillis, (now) => Option.some(Duration.millis(Math.max(0, deadline - now))))
)

/**
 * Whether waiting `delay` from now still leaves the current deadline ahead.
 *
 * @since 0.1.0
 */
export const allows = (delay: Duration.DurationInput): Effect.Effect<boolean> =>
  Effect.flatMap(FiberRef.get(currentDeadline), (deadline) =>
    deadline === Number.POSITIVE_INFINITY
      ? Effect.succeed(true)
      : Effect.map(Clock.currentTimeMillis, (now) => now + Duration.toMillis(delay) < deadline))

/**
 * Runs an effect under a deadline `budget` from now (or the enclosing deadline,
 * if that is earlier), failing with `onTimeout()` when it runs out. The running
 * effect is interrupted, which aborts any HTTP call it has in flight.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { Deadline } from "@ballast/core"
 *
 * const bounded = Effect.never.pipe(Deadline.within("30 seconds", () => new Error("too late")))
 */
export const within: {
  <E2>(
    budget: Duration.DurationInput,
    onTimeout: () => E2
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | E2, R>
  <A, E, R, E2>(
    self: Effect.Effect<A, E, R>,
    budget: Duration.DurationInput,
    onTimeout: () => E2
  ): Effect.Effect<A, E | E2, R>
} = dual(3, <A, E, R, E2>(
  self: Effect.Effect<A, E, R>,
  budget: Duration.DurationInput,
  onTimeout: () => E2
): Effect.Effect<A, E | E2, R> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.flatMap(FiberRef.get(currentDeadline), (enclosing) => {
      const deadline = Math.min(enclosing, now + Duration.toMillis(budget))
      if (deadline === Number.POSITIVE_INFINITY) return self
      return self.pipe(
        Effect.timeoutFail({ duration: Duration.millis(Math.max(0, deadline - now)), onTimeout }),
        Effect.locally(currentDeadline, deadline)
      )
    })))
