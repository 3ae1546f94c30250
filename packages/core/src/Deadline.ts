/**
 * One deadline per request. The absolute deadline lives in a `FiberRef`, so
 * every policy below the pipeline (retry delays, breaker waits) can ask how much
 * time is left without a timer of its own.
 *
 * @since 0.1.0
 */
import { Clock, Context, DefaultServices, Duration, Effect, Fiber, FiberRef, Option } from "effect"
import { dual } from "effect/Function"

/**
 * The deadline of the current request in epoch milliseconds (`Infinity` when
 * there is none). Forked fibers inherit it; a deadline belongs to the scope
 * that set it, so a fiber never hands its own back to the fiber that joins it.
 *
 * @since 0.1.0
 */
export const currentDeadline: FiberRef.FiberRef<number> = FiberRef.unsafeMake(Number.POSITIVE_INFINITY, {
  join: (parent) => parent
})

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

// The clock every runtime starts with. Under it a sleep is a bare `setTimeout`,
// so `within` arms one itself instead of running `Clock.sleep` on a fiber of its own.
const liveClock: Clock.Clock = Context.get(DefaultServices.liveServices, Clock.Clock)

// The longest delay `setTimeout` accepts; the live clock never wakes a longer sleep.
const maxTimerMillis = 2 ** 31 - 1

const finishedInTime = Effect.succeed(true)
const timedOut = Effect.succeed(false)

// `Effect.timeoutFail` with the deadline set in the fiber that runs `self`, for
// the live clock only: one fiber and one timer per call, where `timeoutFail`
// forks a second fiber to sleep on. The outcomes are those of `timeoutFail`:
// `self`'s own result or error (and, on success, its fiber refs) when it ends
// first, else `self` is interrupted and awaited, then `onTimeout()` fails.
const raceLiveTimer = <A, E, R, E2>(
  self: Effect.Effect<A, E, R>,
  deadline: number,
  millis: number,
  onTimeout: () => E2
): Effect.Effect<A, E | E2, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(
      Effect.fork(Effect.zipRight(FiberRef.set(currentDeadline, deadline), restore(self))),
      (fiber) =>
        Effect.flatMap(
          Effect.async<boolean>((resume) => {
            const finished = () => {
              clearTimeout(timer)
              resume(finishedInTime)
            }
            const timer = millis > maxTimerMillis ? undefined : setTimeout(() => {
              fiber.removeObserver(finished)
              resume(timedOut)
            }, millis)
            fiber.addObserver(finished)
          }),
          (inTime): Effect.Effect<A, E | E2> =>
            inTime ? Fiber.join(fiber) : Effect.zipRight(Fiber.interrupt(fiber), Effect.failSync(onTimeout))
        )
    )
  )

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
  Effect.clockWith((clock) =>
    FiberRef.getWith(currentDeadline, (enclosing) => {
      const now = clock.unsafeCurrentTimeMillis()
      const deadline = Math.min(enclosing, now + Duration.toMillis(budget))
      if (deadline === Number.POSITIVE_INFINITY) return self
      const millis = Math.max(0, deadline - now)
      if (clock === liveClock) return raceLiveTimer(self, deadline, millis, onTimeout)
      // A test or virtual clock: its sleeps are effects, so they need a fiber to run on.
      return self.pipe(
        Effect.timeoutFail({ duration: Duration.millis(millis), onTimeout }),
        Effect.locally(currentDeadline, deadline)
      )
    })
  ))
