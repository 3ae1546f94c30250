import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Duration, Effect, Either, FastCheck, Fiber, Option, Random, Ref, Schedule, TestClock } from "effect"
import * as Deadline from "../src/Deadline.js"
import {
  BadRequest,
  CircuitOpen,
  ContentRejected,
  Overloaded,
  ProviderUnavailable,
  RateLimited,
  Timeout,
  Unauthorized
} from "../src/Errors.js"
import * as Retry from "../src/Retry.js"
import * as RetryBudget from "../src/RetryBudget.js"

const fields = { provider: "test", model: "test-model", message: "failed" }
const overloaded = new Overloaded(fields)
const rateLimited = (retryAfter: Duration.DurationInput) =>
  new RateLimited({ ...fields, retryAfter: Option.some(Duration.decode(retryAfter)) })
const deadlinePassed = new Timeout({ ...fields, message: "deadline passed" })

/**
 * An attempt that fails with `failureAt(call)` (succeeds with `"ok"` when that
 * is `undefined`), recording the Clock time of every call.
 */
const scripted = <E>(failureAt: (call: number) => E | undefined) =>
  Effect.map(Ref.make<ReadonlyArray<number>>([]), (calls) => ({
    attempt: Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.flatMap(Ref.modify(calls, (times) => [times.length, [...times, now]] as const), (call) => {
        const failure = failureAt(call)
        return failure === undefined ? Effect.succeed("ok" as const) : Effect.fail(failure)
      })),
    calls: Ref.get(calls)
  }))

/** Runs an effect in a fiber, lets a day of TestClock time pass, and returns its result and when it ended. */
const runForADay = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(Effect.zip(Effect.either(effect), Clock.currentTimeMillis))
    yield* TestClock.adjust("1 day")
    const [result, endedAt] = yield* Fiber.join(fiber)
    return { result, endedAt }
  })

const differences = (times: ReadonlyArray<number>) => times.slice(1).map((time, i) => time - times[i]!)

const optionsArbitrary = FastCheck.record({
  attempts: FastCheck.integer({ min: 1, max: 5 }),
  initialDelay: FastCheck.integer({ min: 0, max: 10_000 }).map(Duration.millis),
  maxDelay: FastCheck.integer({ min: 0, max: 120_000 }).map(Duration.millis),
  factor: FastCheck.double({ min: 1, max: 4, noNaN: true }),
  jitter: FastCheck.boolean()
})

const transientArbitrary = FastCheck.constantFrom(
  overloaded,
  new ProviderUnavailable(fields),
  new Timeout(fields),
  new RateLimited({ ...fields, retryAfter: Option.none() })
)

const retryableArbitrary = FastCheck.oneof(
  transientArbitrary,
  FastCheck.integer({ min: 0, max: 180_000 }).map((ms) => rateLimited(Duration.millis(ms)))
)

describe("Retry", () => {
  it.effect("backs off exponentially from initialDelay, capped at maxDelay", () =>
    Effect.gen(function*() {
      const { attempt, calls } = yield* scripted(() => overloaded)
      const { result } = yield* runForADay(
        attempt.pipe(Retry.retry({ attempts: 5, initialDelay: "2 seconds", maxDelay: "10 seconds", jitter: false }))
      )
      expect(result).toStrictEqual(Either.left(overloaded))
      // delays 2 s, 4 s, 8 s, then 16 s capped at 10 s
      expect(yield* calls).toStrictEqual([0, 2_000, 6_000, 14_000, 24_000])
    }))

  it.effect("jitter multiplies each backoff by [0.8, 1.2), before the cap", () =>
    Effect.gen(function*() {
      const options = { attempts: 5, initialDelay: "2 seconds", maxDelay: "10 seconds" } as const
      const low = yield* scripted(() => overloaded)
      yield* runForADay(low.attempt.pipe(Retry.retry(options), Effect.withRandom(Random.fixed([0]))))
      expect(differences(yield* low.calls)).toStrictEqual([1_600, 3_200, 6_400, 10_000])
      const high = yield* scripted(() => overloaded)
      yield* runForADay(high.attempt.pipe(Retry.retry(options), Effect.withRandom(Random.fixed([0.75]))))
      expect(differences(yield* high.calls)).toStrictEqual([2_200, 4_400, 8_800, 10_000])
    }))

  it.prop(
    "jittered delays stay within bounds for any seed and options",
    { seed: FastCheck.integer(), options: optionsArbitrary },
    ({ options, seed }) => {
      // Stepping the schedule itself: `Schedule.run` advances its own clock by each delay.
      const outputs = Schedule.run(
        Retry.schedule({ ...options, jitter: true }),
        0,
        Array.from({ length: options.attempts }, () => overloaded)
      ).pipe(Effect.withRandom(Random.make(seed)), Effect.runSync)
      const delays = Chunk.toReadonlyArray(outputs).slice(0, -1).map(Duration.toMillis)
      expect(delays).toHaveLength(options.attempts - 1)
      const initial = Duration.toMillis(options.initialDelay)
      const cap = Duration.toMillis(options.maxDelay)
      delays.forEach((delay, i) => {
        const backoff = initial * options.factor ** i
        expect(delay).toBeGreaterThanOrEqual(Math.min(cap, 0.8 * backoff) - 1e-6)
        expect(delay).toBeLessThanOrEqual(Math.min(cap, 1.2 * backoff) + 1e-6)
      })
    },
    { fastCheck: { numRuns: 200 } }
  )

  it.effect.prop(
    "stops after `attempts` calls in all",
    { attempts: FastCheck.integer({ min: 1, max: 10 }), error: transientArbitrary },
    ({ attempts, error }) =>
      Effect.gen(function*() {
        const { attempt, calls } = yield* scripted(() => error)
        // a zero backoff never sleeps, so this needs no TestClock time
        const { result } = yield* runForADay(Retry.retry(attempt, { attempts, initialDelay: 0 }))
        expect(result).toStrictEqual(Either.left(error))
        expect(yield* calls).toHaveLength(attempts)
      }),
    { fastCheck: { numRuns: 20 } }
  )

  it.effect.prop(
    "never retries BadRequest, ContentRejected, Unauthorized or CircuitOpen, whatever the options",
    {
      options: optionsArbitrary,
      error: FastCheck.constantFrom(
        new BadRequest({ ...fields, scope: "request" }),
        new BadRequest({ ...fields, scope: "route" }),
        new ContentRejected(fields),
        new Unauthorized(fields),
        new CircuitOpen({ ...fields, route: "google/test-model", retryAt: Option.none() })
      )
    },
    ({ error, options }) =>
      Effect.gen(function*() {
        const budget = yield* RetryBudget.make({ capacity: 10 })
        const { attempt, calls } = yield* scripted(() => error)
        const { endedAt, result } = yield* runForADay(attempt.pipe(Retry.retry(options, budget)))
        expect(result).toStrictEqual(Either.left(error))
        expect(yield* calls).toStrictEqual([0])
        expect(endedAt).toBe(0)
        expect(yield* budget.balance).toBe(10)
      }),
    { fastCheck: { numRuns: 20 } }
  )

  it.effect("stops at the first error that is not retryable", () =>
    Effect.gen(function*() {
      const rejected = new ContentRejected(fields)
      const { attempt, calls } = yield* scripted((call) => call < 2 ? overloaded : rejected)
      const { result } = yield* runForADay(attempt.pipe(Retry.retry({ jitter: false })))
      expect(result).toStrictEqual(Either.left(rejected))
      expect(yield* calls).toStrictEqual([0, 2_000, 6_000])
    }))

  it.effect("waits for Retry-After even when it is longer than the backoff and maxDelay", () =>
    Effect.gen(function*() {
      const { attempt, calls } = yield* scripted((call) => call === 0 ? rateLimited("45 seconds") : undefined)
      const fiber = yield* Effect.fork(
        attempt.pipe(Retry.retry({ initialDelay: "2 seconds", maxDelay: "10 seconds" }))
      )
      yield* TestClock.adjust("44999 millis")
      expect(yield* calls).toStrictEqual([0])
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toBe("ok")
      expect(yield* calls).toStrictEqual([0, 45_000])
    }))

  it.effect("keeps the backoff when Retry-After is shorter", () =>
    Effect.gen(function*() {
      const { attempt, calls } = yield* scripted((call) => call === 0 ? rateLimited("1 second") : undefined)
      yield* runForADay(attempt.pipe(Retry.retry({ initialDelay: "2 seconds", jitter: false })))
      expect(yield* calls).toStrictEqual([0, 2_000])
    }))

  it.effect("does not start a retry whose delay would overrun the deadline", () =>
    Effect.gen(function*() {
      const { attempt, calls } = yield* scripted(() => overloaded)
      const { endedAt, result } = yield* runForADay(
        attempt.pipe(Retry.retry({ jitter: false }), Deadline.within("7 seconds", () => deadlinePassed))
      )
      // 0 s, 2 s, 6 s; the next retry would be at 14 s
      expect(yield* calls).toStrictEqual([0, 2_000, 6_000])
      expect(result).toStrictEqual(Either.left(overloaded))
      expect(endedAt).toBe(6_000)
    }))

  it.effect("gives up at once when Retry-After is beyond the deadline", () =>
    Effect.gen(function*() {
      const limited = rateLimited("45 seconds")
      const { attempt, calls } = yield* scripted(() => limited)
      const { endedAt, result } = yield* runForADay(
        attempt.pipe(Retry.retry(), Deadline.within("30 seconds", () => deadlinePassed))
      )
      expect(result).toStrictEqual(Either.left(limited))
      expect(yield* calls).toStrictEqual([0])
      expect(endedAt).toBe(0)
    }))

  it.effect.prop(
    "under a deadline, retries never pass it and the last error surfaces before it",
    {
      options: optionsArbitrary,
      deadline: FastCheck.integer({ min: 1, max: 120_000 }),
      errors: FastCheck.array(retryableArbitrary, { minLength: 1, maxLength: 8 }),
      seed: FastCheck.integer()
    },
    ({ deadline, errors, options, seed }) =>
      Effect.gen(function*() {
        const errorAt = (call: number) => errors[call % errors.length]!
        const { attempt, calls } = yield* scripted(errorAt)
        const { endedAt, result } = yield* runForADay(
          attempt.pipe(
            Retry.retry(options),
            Deadline.within(Duration.millis(deadline), () => deadlinePassed),
            Effect.withRandom(Random.make(seed))
          )
        )
        const times = yield* calls
        const last = times[times.length - 1]!
        expect(result).toStrictEqual(Either.left(errorAt(times.length - 1)))
        expect(last).toBeLessThan(deadline)
        expect(endedAt).toBe(last)
        expect(times.length).toBeLessThanOrEqual(options.attempts)
      }),
    { fastCheck: { numRuns: 25 } }
  )

  it.effect.prop(
    "under a deadline, without jitter, makes exactly the retries that fit",
    { options: optionsArbitrary, deadline: FastCheck.integer({ min: 1, max: 120_000 }) },
    ({ deadline, options }) =>
      Effect.gen(function*() {
        const { attempt, calls } = yield* scripted(() => overloaded)
        const { result } = yield* runForADay(
          attempt.pipe(
            Retry.retry({ ...options, jitter: false }),
            Deadline.within(Duration.millis(deadline), () => deadlinePassed)
          )
        )
        const expected = [0]
        const cap = Duration.toMillis(options.maxDelay)
        for (let retry = 0; retry < options.attempts - 1; retry++) {
          const next = expected[retry]! + Math.min(cap, Duration.toMillis(options.initialDelay) * options.factor ** retry)
          if (next >= deadline) break
          expected.push(next)
        }
        const times = yield* calls
        expect(result).toStrictEqual(Either.left(overloaded))
        expect(times).toHaveLength(expected.length)
        times.forEach((time, i) => expect(time).toBeCloseTo(expected[i]!, 3))
      }),
    { fastCheck: { numRuns: 20 } }
  )

  it.effect("an empty budget stops retries, but the first attempt is made", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ ratio: 0, minPerSecond: 0, capacity: 0 })
      const { attempt, calls } = yield* scripted(() => overloaded)
      const { endedAt, result } = yield* runForADay(attempt.pipe(Retry.retry({}, budget)))
      expect(result).toStrictEqual(Either.left(overloaded))
      expect(yield* calls).toStrictEqual([0])
      expect(endedAt).toBe(0)
    }))

  it.effect("spends a token only on a retry that is made", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ ratio: 0, minPerSecond: 0, capacity: 10 })
      const exhausted = yield* scripted(() => overloaded)
      yield* runForADay(exhausted.attempt.pipe(Retry.retry({ attempts: 3 }, budget)))
      expect(yield* exhausted.calls).toHaveLength(3)
      expect(yield* budget.balance).toBe(8) // two retries, not a third token for the refused one

      const pastDeadline = yield* scripted(() => overloaded)
      yield* runForADay(
        pastDeadline.attempt.pipe(
          Retry.retry({ jitter: false }, budget),
          Deadline.within("3 seconds", () => deadlinePassed)
        )
      )
      expect(yield* pastDeadline.calls).toHaveLength(2)
      expect(yield* budget.balance).toBe(7)
    }))

  it.effect("deposits into the budget once per request", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ ratio: 0.5, minPerSecond: 0, capacity: 10 })
      yield* budget.tryWithdraw.pipe(Effect.repeatN(9))
      const { attempt } = yield* scripted(() => undefined)
      const once: Effect.Effect<"ok", Overloaded> = attempt.pipe(Retry.retry({}, budget))
      yield* once
      yield* once
      expect(yield* budget.balance).toBe(1)
    }))

  it.effect("retryWith runs a prebuilt schedule, data-first and pipeable", () =>
    Effect.gen(function*() {
      const policy = Retry.schedule({ attempts: 3, jitter: false })
      const first = yield* scripted((call) => call < 2 ? overloaded : undefined)
      const second = yield* scripted((call) => call < 2 ? overloaded : undefined)
      // the error type is kept through both forms
      const dataFirst: Effect.Effect<"ok", Overloaded> = Retry.retryWith(first.attempt, policy)
      const pipeable: Effect.Effect<"ok", Overloaded> = second.attempt.pipe(Retry.retryWith(policy))
      const results = yield* runForADay(Effect.zip(dataFirst, pipeable))
      expect(results.result).toStrictEqual(Either.right(["ok", "ok"]))
      expect(yield* first.calls).toStrictEqual([0, 2_000, 6_000])
      expect(yield* second.calls).toStrictEqual([6_000, 8_000, 12_000])
    }))

  it.effect("retryWith makes a lazy schedule only after a first failure, once per run", () =>
    Effect.gen(function*() {
      let made = 0
      const policy = () => {
        made++
        return Retry.schedule({ attempts: 3, jitter: false })
      }
      const succeeds = yield* scripted(() => undefined)
      const failsTwice = yield* scripted((call) => call < 2 ? overloaded : undefined)
      yield* Retry.retryWith(succeeds.attempt, policy)
      expect(made).toBe(0)
      const dataFirst: Effect.Effect<"ok", Overloaded> = Retry.retryWith(failsTwice.attempt, policy)
      const { result } = yield* runForADay(dataFirst)
      expect(result).toStrictEqual(Either.right("ok"))
      expect(made).toBe(1)
      expect(yield* failsTwice.calls).toStrictEqual([0, 2_000, 6_000])
      const again = yield* scripted((call) => call < 1 ? overloaded : undefined)
      yield* runForADay(again.attempt.pipe(Retry.retryWith(policy)))
      expect(made).toBe(2)
    }))

  it.effect("the schedule outputs the delay it waited", () =>
    Effect.gen(function*() {
      const waited = yield* Ref.make<ReadonlyArray<number>>([])
      const policy = Retry.schedule({ attempts: 4, jitter: false }).pipe(
        Schedule.onDecision((delay, decision) =>
          decision._tag === "Continue" ? Ref.update(waited, (all) => [...all, Duration.toMillis(delay)]) : Effect.void
        )
      )
      const limited = rateLimited("30 seconds")
      const { attempt } = yield* scripted((call) => call === 1 ? limited : overloaded)
      yield* runForADay(Effect.retry(attempt, policy))
      expect(yield* waited).toStrictEqual([2_000, 30_000, 8_000])
    }))

  it("exposes the defaults as data", () => {
    expect(Retry.defaults.attempts).toBe(5)
    expect(Duration.toMillis(Retry.defaults.initialDelay)).toBe(2_000)
    expect(Duration.toMillis(Retry.defaults.maxDelay)).toBe(60_000)
    expect(Retry.defaults.factor).toBe(2)
    expect(Retry.defaults.jitter).toBe(true)
  })
})
