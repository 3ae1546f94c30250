import { describe, expect, it } from "@effect/vitest"
import {
  Chunk,
  Clock,
  DateTime,
  Deferred,
  Duration,
  Effect,
  Either,
  Fiber,
  FastCheck,
  Option,
  Ref,
  Schema,
  Stream,
  TestClock
} from "effect"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import { BadRequest, CircuitOpen, ContentRejected, Overloaded } from "../src/Errors.js"

const route = "google/gemini-3-pro-image-preview"
const overloaded = new Overloaded({ provider: "google", model: "gemini", message: "The model is overloaded" })
const badRequest = new BadRequest({ provider: "google", model: "gemini", message: "invalid argument" })
const rejected = new ContentRejected({ provider: "google", model: "gemini", message: "IMAGE_SAFETY" })

/** A breaker that opens after `threshold` consecutive failures, for 10 s growing to 40 s. */
const consecutive = (threshold: number, options: Partial<CircuitBreaker.Options> = {}) =>
  CircuitBreaker.make({
    route,
    strategies: [CircuitBreaker.consecutiveFailures(threshold)],
    openDuration: "10 seconds",
    maxOpenDuration: "40 seconds",
    ...options
  })

/** Runs one call through the breaker, returning whether the call ran and how it ended. */
const call = <E>(breaker: CircuitBreaker.CircuitBreaker, outcome: Effect.Effect<void, E>) =>
  Effect.gen(function* () {
    const ran = yield* Ref.make(false)
    const result = yield* Effect.either(breaker.guard(Effect.zipRight(Ref.set(ran, true), outcome)))
    return { ran: yield* Ref.get(ran), result }
  })

const fail = (breaker: CircuitBreaker.CircuitBreaker, times = 1) =>
  Effect.replicateEffect(call(breaker, Effect.fail(overloaded)), times, { discard: true })

const succeed = (breaker: CircuitBreaker.CircuitBreaker) => call(breaker, Effect.void)

const tagOf = (breaker: CircuitBreaker.CircuitBreaker) => Effect.map(breaker.state, (state) => state._tag)

const circuitOpenOf = <E>(result: Either.Either<void, E | CircuitOpen>): CircuitOpen => {
  if (Either.isLeft(result) && result.left instanceof CircuitOpen) return result.left
  throw new Error(`expected CircuitOpen, got ${String(result)}`)
}

/**
 * Lets a forked consumer of `transitions` subscribe: `TestClock.adjust` returns
 * only once every forked fiber is suspended, i.e. waiting for a transition.
 */
const listening = TestClock.adjust(0)

/**
 * A clock moved by hand, for the failure-ratio property: it takes thousands of
 * steps, and each `TestClock.adjust` waits for a real timer tick (to see every
 * fiber suspended), as does setting up the test services of an `it.effect` run,
 * which would make it take seconds. The breaker is synchronous, so each run is
 * one `Effect.runSync`.
 */
const manualClock = (start: number): Clock.Clock & { readonly advance: (millis: number) => number } => {
  let now = start
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    advance: (millis) => now += millis,
    unsafeCurrentTimeMillis: () => now,
    unsafeCurrentTimeNanos: () => BigInt(Math.round(now * 1_000_000)),
    currentTimeMillis: Effect.sync(() => now),
    currentTimeNanos: Effect.sync(() => BigInt(Math.round(now * 1_000_000))),
    sleep: () => Effect.never
  }
}

describe("CircuitBreaker", () => {
  describe("consecutive failures", () => {
    it.effect("opens after exactly N consecutive counted failures, not N-1", () =>
      Effect.gen(function* () {
        const breaker = yield* consecutive(3)
        yield* fail(breaker, 2)
        expect(yield* tagOf(breaker)).toBe("Closed")
        yield* TestClock.adjust("1 second")
        yield* fail(breaker)
        expect(yield* breaker.state).toEqual({ _tag: "Open", openedAt: 1000, until: 11_000, attempt: 1 })
        const next = yield* succeed(breaker)
        expect(next.ran).toBe(false)
        expect(circuitOpenOf(next.result).route).toBe(route)
      }))

    it.effect("a success in between starts the count again", () =>
      Effect.gen(function* () {
        const breaker = yield* consecutive(3)
        yield* fail(breaker, 2)
        yield* succeed(breaker)
        yield* fail(breaker, 2)
        expect(yield* tagOf(breaker)).toBe("Closed")
        yield* fail(breaker)
        expect(yield* tagOf(breaker)).toBe("Open")
      }))

    it.effect("a non-counted error is neither a success nor a failure", () =>
      Effect.gen(function* () {
        const breaker = yield* consecutive(3)
        yield* fail(breaker, 2)
        const result = yield* call(breaker, Effect.fail(rejected))
        expect(result.result).toEqual(Either.left(rejected))
        expect(yield* tagOf(breaker)).toBe("Closed")
        yield* fail(breaker)
        expect(yield* tagOf(breaker)).toBe("Open")
      }))

    it.effect("the defaults open after 5 consecutive failures", () =>
      Effect.gen(function* () {
        const breaker = yield* CircuitBreaker.make({ route })
        yield* fail(breaker, 4)
        expect(yield* tagOf(breaker)).toBe("Closed")
        yield* fail(breaker)
        expect(yield* breaker.state).toEqual({ _tag: "Open", openedAt: 0, until: 30_000, attempt: 1 })
      }))
  })

  describe("failure ratio", () => {
    it.effect("needs the minimum number of calls, and forgets calls older than the window", () =>
      Effect.gen(function* () {
        const breaker = yield* CircuitBreaker.make({
          route,
          strategies: [CircuitBreaker.failureRatio({ threshold: 0.25, window: "60 seconds", minimumCalls: 10 })]
        })
        yield* fail(breaker, 9)
        expect(yield* tagOf(breaker)).toBe("Closed")
        yield* TestClock.adjust("60 seconds")
        yield* fail(breaker)
        expect(yield* tagOf(breaker)).toBe("Closed")
        yield* Effect.replicateEffect(succeed(breaker), 7, { discard: true })
        yield* fail(breaker)
        // 2 failures in 9 calls: too few calls; a 10th call, failing, makes 3/10 > 25%
        expect(yield* tagOf(breaker)).toBe("Closed")
        yield* fail(breaker)
        expect(yield* tagOf(breaker)).toBe("Open")
      }))

    it.prop(
      "opens on exactly the call where failures/calls > threshold with calls >= minimumCalls in the window",
      {
        window: FastCheck.integer({ min: 1_000, max: 20_000 }),
        buckets: FastCheck.integer({ min: 1, max: 20 }),
        threshold: FastCheck.constantFrom(0.1, 0.25, 0.5, 0.75),
        minimumCalls: FastCheck.integer({ min: 1, max: 12 }),
        start: FastCheck.integer({ min: 0, max: 100_000 }),
        calls: FastCheck.array(
          FastCheck.record({ delay: FastCheck.integer({ min: 0, max: 3_000 }), failure: FastCheck.boolean() }),
          { maxLength: 60 }
        )
      },
      ({ buckets, calls, minimumCalls, start, threshold, window }) => {
        const clock = manualClock(start)
        const check = Effect.gen(function* () {
          const breaker = yield* CircuitBreaker.make({
            route,
            strategies: [
              CircuitBreaker.failureRatio({ threshold, window: Duration.millis(window), minimumCalls, buckets })
            ],
            openDuration: "1 day",
            maxOpenDuration: "1 day"
          })
          // The model: a call at t is in the window at `now` iff ⌊t·B/W⌋ > ⌊now·B/W⌋ − B.
          const bucketOf = (t: number) => Math.floor(t * buckets / window)
          const history: Array<{ readonly at: number; readonly failure: boolean }> = []
          for (const { delay, failure } of calls) {
            const now = clock.advance(delay)
            yield* call(breaker, failure ? Effect.fail(overloaded) : Effect.void)
            history.push({ at: now, failure })
            const inWindow = history.filter((entry) => bucketOf(entry.at) > bucketOf(now) - buckets)
            const failures = inWindow.filter((entry) => entry.failure).length
            const shouldOpen = failure && inWindow.length >= minimumCalls && failures / inWindow.length > threshold
            expect(yield* tagOf(breaker)).toBe(shouldOpen ? "Open" : "Closed")
            if (shouldOpen) break
          }
        })
        Effect.runSync(Effect.withClock(check, clock))
      },
      { fastCheck: { numRuns: 200 } }
    )
  })

  describe("which errors count", () => {
    it.effect("BadRequest never counts, even when configured as counted", () =>
      Effect.gen(function* () {
        for (
          const isFailure of [CircuitBreaker.countingTags(["BadRequest", "Overloaded"]), (_: unknown) => true]
        ) {
          const breaker = yield* consecutive(1, { isFailure })
          yield* Effect.replicateEffect(call(breaker, Effect.fail(badRequest)), 10, { discard: true })
          expect(yield* tagOf(breaker)).toBe("Closed")
          yield* fail(breaker)
          expect(yield* tagOf(breaker)).toBe("Open")
        }
      }))

    it.effect("countingTags counts only the listed tags", () =>
      Effect.gen(function* () {
        const breaker = yield* consecutive(1, { isFailure: CircuitBreaker.countingTags(["ContentRejected"]) })
        yield* fail(breaker, 3)
        expect(yield* tagOf(breaker)).toBe("Closed")
        yield* call(breaker, Effect.fail(rejected))
        expect(yield* tagOf(breaker)).toBe("Open")
      }))

    it.effect("defects and interruptions in Closed are not counted", () =>
      Effect.gen(function* () {
        const breaker = yield* consecutive(1)
        yield* Effect.exit(breaker.guard(Effect.die("boom")))
        yield* Effect.exit(breaker.guard(Effect.interrupt))
        expect(yield* tagOf(breaker)).toBe("Closed")
      }))
  })

  describe("open and half-open", () => {
    it.effect("fails fast until `until`, then probes once; failed probes double the open duration up to the cap", () =>
      Effect.gen(function* () {
        const breaker = yield* consecutive(1)
        yield* fail(breaker)
        expect(yield* breaker.state).toEqual({ _tag: "Open", openedAt: 0, until: 10_000, attempt: 1 })

        yield* TestClock.adjust("9999 millis")
        const early = yield* succeed(breaker)
        expect(early.ran).toBe(false)
        expect(circuitOpenOf(early.result).retryAt).toEqual(Option.some(DateTime.unsafeMake(10_000)))

        // every failing probe reopens for 10 s × 2^(attempt-1), capped at 40 s
        let now = 10_000
        for (const [attempt, duration] of [[2, 20_000], [3, 40_000], [4, 40_000]] as const) {
          yield* TestClock.adjust("1 millis")
          const probe = yield* fail(breaker).pipe(Effect.zipRight(breaker.state))
          expect(probe).toEqual({ _tag: "Open", openedAt: now, until: now + duration, attempt })
          yield* TestClock.adjust(Duration.millis(duration - 1))
          const turnedAway = yield* succeed(breaker)
          expect(turnedAway.ran).toBe(false)
          expect(circuitOpenOf(turnedAway.result).retryAt).toEqual(Option.some(DateTime.unsafeMake(now + duration)))
          now += duration
        }

        yield* TestClock.adjust("1 millis")
        const probe = yield* succeed(breaker)
        expect(probe.ran).toBe(true)
        expect(yield* breaker.state).toEqual({ _tag: "Closed" })
        // closed again from clean statistics: the next failure opens for the base duration
        yield* fail(breaker)
        expect(yield* breaker.state).toEqual({ _tag: "Open", openedAt: now, until: now + 10_000, attempt: 1 })
      }))

    it.effect("a probe that ends in a non-counted error closes the breaker", () =>
      Effect.gen(function* () {
        const breaker = yield* consecutive(1)
        yield* fail(breaker)
        yield* TestClock.adjust("10 seconds")
        const probe = yield* call(breaker, Effect.fail(badRequest))
        expect(probe.ran).toBe(true)
        expect(probe.result).toEqual(Either.left(badRequest))
        expect(yield* tagOf(breaker)).toBe("Closed")
      }))

    it.effect.prop(
      "half-open admits exactly one call among many concurrent callers",
      { callers: FastCheck.oneof(FastCheck.constant(100), FastCheck.integer({ min: 2, max: 100 })) },
      ({ callers }) =>
        Effect.gen(function* () {
          const breaker = yield* consecutive(1)
          // open, and due to half-open: the first caller to arrive takes the probe
          yield* breaker.restore({ state: { _tag: "Open", openedAt: 0, until: 0, attempt: 1 }, statistics: [] })
          const gate = yield* Deferred.make<void>()
          const ran = yield* Ref.make(0)
          const finished = yield* Ref.make(0)
          const fibers = yield* Effect.forEach(Array.from({ length: callers }), () =>
            breaker.guard(Effect.zipRight(Ref.update(ran, (n) => n + 1), Deferred.await(gate))).pipe(
              Effect.either,
              Effect.zipLeft(Ref.update(finished, (n) => n + 1)),
              Effect.fork
            ))
          // wait until every caller has either been turned away or started running
          while ((yield* Ref.get(ran)) + (yield* Ref.get(finished)) < callers) yield* Effect.yieldNow()
          expect(yield* Ref.get(ran)).toBe(1)
          expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", inFlight: true, attempt: 1 })

          yield* Deferred.succeed(gate, undefined)
          const results = yield* Effect.forEach(fibers, Fiber.join)
          const turnedAway = results.filter(Either.isLeft).map((result) => result.left)
          expect(results.filter(Either.isRight)).toHaveLength(1)
          expect(turnedAway).toHaveLength(callers - 1)
          for (const error of turnedAway) {
            expect(error).toBeInstanceOf(CircuitOpen)
            // when it reopens depends on the probe: no time is promised
            expect(error.retryAt).toEqual(Option.none())
          }
          expect(yield* tagOf(breaker)).toBe("Closed")
        }),
      { fastCheck: { numRuns: 10 } }
    )

    it.effect("an interrupted probe frees the slot for the next caller", () =>
      Effect.gen(function* () {
        const breaker = yield* consecutive(1)
        yield* fail(breaker)
        yield* TestClock.adjust("10 seconds")
        const started = yield* Deferred.make<void>()
        const probe = yield* Effect.fork(
          breaker.guard(Effect.zipRight(Deferred.succeed(started, undefined), Effect.never))
        )
        yield* Deferred.await(started)
        expect((yield* succeed(breaker)).ran).toBe(false)

        yield* Fiber.interrupt(probe)
        expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", inFlight: false, attempt: 1 })
        const next = yield* succeed(breaker)
        expect(next.ran).toBe(true)
        expect(yield* tagOf(breaker)).toBe("Closed")
      }))

    it.effect("a probe that dies frees the slot without a verdict", () =>
      Effect.gen(function* () {
        const breaker = yield* consecutive(1)
        yield* fail(breaker)
        yield* TestClock.adjust("10 seconds")
        yield* Effect.exit(breaker.guard(Effect.die("bug")))
        expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", inFlight: false, attempt: 1 })
        yield* fail(breaker)
        expect(yield* breaker.state).toEqual({ _tag: "Open", openedAt: 10_000, until: 30_000, attempt: 2 })
      }))
  })

  describe("isolate and reset", () => {
    it.effect("an isolated breaker fails fast with no retryAt until reset, which clears the statistics", () =>
      Effect.gen(function* () {
        const breaker = yield* consecutive(3, { provider: "google", model: "gemini-3-pro-image-preview" })
        yield* fail(breaker, 2)
        yield* breaker.isolate
        yield* TestClock.adjust("1 day")
        const isolated = yield* succeed(breaker)
        expect(isolated.ran).toBe(false)
        const error = circuitOpenOf(isolated.result)
        expect(error.route).toBe(route)
        expect(error.provider).toBe("google")
        expect(error.model).toBe("gemini-3-pro-image-preview")
        expect(error.retryAt).toEqual(Option.none())
        expect(yield* tagOf(breaker)).toBe("Isolated")

        yield* breaker.reset
        expect((yield* succeed(breaker)).ran).toBe(true)
        yield* fail(breaker, 2)
        expect(yield* tagOf(breaker)).toBe("Closed")
      }))

    it.effect("a reset during a call wins over its outcome", () =>
      Effect.gen(function* () {
        const breaker = yield* consecutive(1)
        const gate = yield* Deferred.make<void>()
        const slow = yield* Effect.fork(breaker.guard(Effect.zipRight(Deferred.await(gate), Effect.fail(overloaded))))
        yield* TestClock.adjust(0) // the slow call is admitted and waiting
        yield* breaker.reset
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.await(slow)
        expect(yield* tagOf(breaker)).toBe("Closed")
      }))
  })

  describe("transitions", () => {
    it.effect("the stream yields Closed→Open→HalfOpen→Closed in order", () =>
      Effect.gen(function* () {
        const breaker = yield* consecutive(1)
        const collected = yield* breaker.transitions.pipe(Stream.take(3), Stream.runCollect, Effect.fork)
        yield* listening
        yield* fail(breaker)
        yield* TestClock.adjust("10 seconds")
        yield* succeed(breaker)
        expect(Chunk.toReadonlyArray(yield* Fiber.join(collected))).toEqual([
          { route, from: "Closed", to: "Open", at: 0 },
          { route, from: "Open", to: "HalfOpen", at: 10_000 },
          { route, from: "HalfOpen", to: "Closed", at: 10_000 }
        ])
      }))

    it.effect("a failed probe publishes HalfOpen→Open; isolate and reset publish too; nothing else does", () =>
      Effect.gen(function* () {
        const breaker = yield* consecutive(1)
        const collected = yield* breaker.transitions.pipe(
          Stream.map((transition) => `${transition.from}→${transition.to}`),
          Stream.take(5),
          Stream.runCollect,
          Effect.fork
        )
        yield* listening
        yield* fail(breaker)
        yield* succeed(breaker) // fails fast: no transition
        yield* TestClock.adjust("10 seconds")
        yield* fail(breaker)
        yield* breaker.isolate
        yield* breaker.isolate // already isolated: no transition
        yield* breaker.reset
        expect(Chunk.toReadonlyArray(yield* Fiber.join(collected))).toEqual([
          "Closed→Open",
          "Open→HalfOpen",
          "HalfOpen→Open",
          "Open→Isolated",
          "Isolated→Closed"
        ])
      }))
  })

  describe("snapshot", () => {
    const throughJson = (snapshot: CircuitBreaker.Snapshot) =>
      Effect.gen(function* () {
        const json = JSON.stringify(yield* Schema.encode(CircuitBreaker.Snapshot)(snapshot))
        return yield* Schema.decodeUnknown(CircuitBreaker.Snapshot)(JSON.parse(json))
      })

    it.effect("statistics survive encode → JSON → decode → restore", () =>
      Effect.gen(function* () {
        const strategies = [
          CircuitBreaker.consecutiveFailures(5),
          CircuitBreaker.failureRatio({ threshold: 0.5, window: "60 seconds", minimumCalls: 4 })
        ]
        const original = yield* CircuitBreaker.make({ route, strategies })
        yield* succeed(original)
        yield* fail(original, 2)
        const snapshot = yield* throughJson(yield* original.snapshot)
        expect(snapshot).toEqual(yield* original.snapshot)

        const restored = yield* CircuitBreaker.make({ route, strategies })
        const fresh = yield* CircuitBreaker.make({ route, strategies })
        yield* restored.restore(snapshot)
        expect(yield* restored.snapshot).toEqual(snapshot)
        // 2 failures in 3 calls remembered: one more failure makes 3/4 > 50%
        for (const breaker of [original, restored, fresh]) yield* fail(breaker)
        expect(yield* original.state).toEqual({ _tag: "Open", openedAt: 0, until: 30_000, attempt: 1 })
        expect(yield* restored.state).toEqual(yield* original.state)
        expect(yield* tagOf(fresh)).toBe("Closed")
      }))

    it.effect("an open breaker restores open until the same time, then probes", () =>
      Effect.gen(function* () {
        const original = yield* consecutive(1)
        yield* fail(original)
        yield* TestClock.adjust("10 seconds")
        yield* fail(original) // failed probe: attempt 2, open until 30 s
        const snapshot = yield* throughJson(yield* original.snapshot)

        const restored = yield* consecutive(1)
        yield* restored.restore(snapshot)
        expect(yield* restored.state).toEqual({ _tag: "Open", openedAt: 10_000, until: 30_000, attempt: 2 })
        yield* TestClock.adjust("19999 millis")
        expect((yield* succeed(restored)).ran).toBe(false)
        yield* TestClock.adjust("1 millis")
        yield* fail(restored)
        expect(yield* restored.state).toEqual({ _tag: "Open", openedAt: 30_000, until: 70_000, attempt: 3 })
      }))

    it.effect("a snapshot taken during a probe restores without one in flight; foreign statistics are dropped", () =>
      Effect.gen(function* () {
        const breaker = yield* consecutive(2)
        yield* breaker.restore({
          state: { _tag: "HalfOpen", inFlight: true, attempt: 1 },
          statistics: [{ strategy: "consecutiveFailures(5)", values: [4] }]
        })
        expect(yield* breaker.snapshot).toEqual({
          state: { _tag: "HalfOpen", inFlight: false, attempt: 1 },
          statistics: [{ strategy: "consecutiveFailures(2)", values: [0] }]
        })
        expect((yield* succeed(breaker)).ran).toBe(true)
        expect(yield* tagOf(breaker)).toBe("Closed")
      }))
  })

  describe("slow calls", () => {
    /** Runs one call that succeeds with "image" after `millis`, moving the TestClock to let it finish. */
    const slowly = (breaker: CircuitBreaker.CircuitBreaker, millis: number) =>
      Effect.gen(function* () {
        const fiber = yield* Effect.fork(breaker.guard(Effect.as(Effect.sleep(millis), "image")))
        yield* TestClock.adjust(millis)
        return yield* Fiber.join(fiber)
      })

    it.effect("successes taking at least slowCallThreshold open the breaker, yet return their value", () =>
      Effect.gen(function* () {
        const breaker = yield* consecutive(3, { slowCallThreshold: "5 seconds" })
        expect(yield* slowly(breaker, 5_000)).toBe("image")
        expect(yield* slowly(breaker, 170_000)).toBe("image")
        expect(yield* tagOf(breaker)).toBe("Closed")
        expect(yield* slowly(breaker, 6_000)).toBe("image")
        expect(yield* breaker.state).toEqual({ _tag: "Open", openedAt: 181_000, until: 191_000, attempt: 1 })
      }))

    it.effect("successes faster than the threshold count as successes and start the count again", () =>
      Effect.gen(function* () {
        const breaker = yield* consecutive(3, { slowCallThreshold: "5 seconds" })
        yield* slowly(breaker, 5_000)
        yield* slowly(breaker, 5_000)
        expect(yield* slowly(breaker, 4_999)).toBe("image")
        yield* slowly(breaker, 5_000)
        yield* slowly(breaker, 5_000)
        expect(yield* tagOf(breaker)).toBe("Closed")
        for (let i = 0; i < 5; i++) yield* slowly(breaker, 4_999)
        expect(yield* tagOf(breaker)).toBe("Closed")
      }))

    it.effect("without a threshold no success is too slow", () =>
      Effect.gen(function* () {
        const breaker = yield* consecutive(1)
        expect(yield* slowly(breaker, 170_000)).toBe("image")
        expect(yield* tagOf(breaker)).toBe("Closed")
      }))

    it.effect("a slow half-open probe re-opens the breaker for longer; a fast one closes it", () =>
      Effect.gen(function* () {
        const breaker = yield* consecutive(1, { slowCallThreshold: "5 seconds" })
        yield* slowly(breaker, 5_000)
        expect(yield* breaker.state).toEqual({ _tag: "Open", openedAt: 5_000, until: 15_000, attempt: 1 })
        yield* TestClock.adjust("10 seconds")
        expect(yield* slowly(breaker, 5_000)).toBe("image")
        expect(yield* breaker.state).toEqual({ _tag: "Open", openedAt: 20_000, until: 40_000, attempt: 2 })
        yield* TestClock.adjust("20 seconds")
        expect(yield* slowly(breaker, 4_999)).toBe("image")
        expect(yield* tagOf(breaker)).toBe("Closed")
      }))

    it.effect("a slow call that ends in a non-counted error is still not counted", () =>
      Effect.gen(function* () {
        const breaker = yield* consecutive(1, { slowCallThreshold: "5 seconds" })
        const fiber = yield* Effect.fork(call(breaker, Effect.zipRight(Effect.sleep("6 seconds"), Effect.fail(rejected))))
        yield* TestClock.adjust("6 seconds")
        expect((yield* Fiber.join(fiber)).result).toEqual(Either.left(rejected))
        expect(yield* tagOf(breaker)).toBe("Closed")
      }))
  })

  it.effect("withBreaker is data-first and pipeable", () =>
    Effect.gen(function* () {
      const breaker = yield* consecutive(1)
      expect(yield* CircuitBreaker.withBreaker(Effect.succeed(1), breaker)).toBe(1)
      expect(yield* Effect.succeed(2).pipe(CircuitBreaker.withBreaker(breaker))).toBe(2)
      yield* breaker.isolate
      const error = yield* Effect.flip(Effect.succeed(3).pipe(CircuitBreaker.withBreaker(breaker)))
      expect(error._tag).toBe("CircuitOpen")
    }))
})
