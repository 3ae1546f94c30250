import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Either, FastCheck, Fiber, Option, Ref, TestClock } from "effect"
import * as Deadline from "../src/Deadline.js"

class TooLate {
  readonly _tag = "TooLate"
  constructor(readonly which: string) {}
}

const tooLate = (which: string) => () => new TooLate(which)

const remainingMillis = Effect.map(Deadline.remaining, Option.map(Duration.toMillis))

describe("Deadline", () => {
  it.effect("within fails with onTimeout exactly at the budget and interrupts the running effect", () =>
    Effect.gen(function*() {
      const interrupted = yield* Ref.make<number | undefined>(undefined)
      const work = Effect.never.pipe(
        Effect.onInterrupt(() => Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.set(interrupted, now)))
      )
      const fiber = yield* Effect.fork(Effect.either(Deadline.within(work, "30 seconds", tooLate("request"))))
      yield* TestClock.adjust(29_999)
      expect(yield* Fiber.poll(fiber)).toStrictEqual(Option.none())
      expect(yield* Ref.get(interrupted)).toBeUndefined()
      yield* TestClock.adjust(1)
      expect(yield* Fiber.join(fiber)).toStrictEqual(Either.left(new TooLate("request")))
      expect(yield* Ref.get(interrupted)).toBe(30_000)
    }))

  it.effect("an effect that ends in time keeps its own result and error", () =>
    Effect.gen(function*() {
      const succeeds = yield* Effect.fork(Effect.as(Effect.sleep("29 seconds"), "done").pipe(
        Deadline.within("30 seconds", tooLate("request"))
      ))
      const fails = yield* Effect.fork(Effect.either(Effect.zipRight(Effect.sleep("1 second"), Effect.fail("boom")).pipe(
        Deadline.within("30 seconds", tooLate("request"))
      )))
      yield* TestClock.adjust("29 seconds")
      expect(yield* Fiber.join(succeeds)).toBe("done")
      expect(yield* Fiber.join(fails)).toStrictEqual(Either.left("boom"))
    }))

  it.effect.prop(
    "within: property — succeeds when the work is shorter than the budget, times out at the budget otherwise",
    {
      work: FastCheck.integer({ min: 0, max: 60_000 }),
      budget: FastCheck.integer({ min: 1, max: 60_000 })
    },
    ({ budget, work }) =>
      Effect.gen(function*() {
        // at work === budget both timers fire at the same instant; either outcome is fine
        if (work === budget) return
        const fiber = yield* Effect.fork(
          Effect.as(Effect.sleep(work), "done").pipe(
            Deadline.within(budget, tooLate("request")),
            Effect.either,
            Effect.zip(Clock.currentTimeMillis)
          )
        )
        yield* TestClock.adjust(60_001)
        const [result, endedAt] = yield* Fiber.join(fiber)
        expect(result).toStrictEqual(work < budget ? Either.right("done") : Either.left(new TooLate("request")))
        expect(endedAt).toBe(Math.min(work, budget))
      }),
    { fastCheck: { numRuns: 15 } }
  )

  it.effect("remaining and allows read the deadline as time passes", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        Effect.gen(function*() {
          const atStart = yield* remainingMillis
          yield* Effect.sleep("12 seconds")
          return {
            atStart,
            later: yield* remainingMillis,
            allows17: yield* Deadline.allows("17 seconds"),
            allows18: yield* Deadline.allows("18 seconds"), // would land exactly on the deadline
            allows19: yield* Deadline.allows("19 seconds"),
            allowsForever: yield* Deadline.allows(Duration.infinity)
          }
        }).pipe(Deadline.within("30 seconds", tooLate("request")))
      )
      yield* TestClock.adjust("12 seconds")
      expect(yield* Fiber.join(fiber)).toStrictEqual({
        atStart: Option.some(30_000),
        later: Option.some(18_000),
        allows17: true,
        allows18: false,
        allows19: false,
        allowsForever: false
      })
    }))

  it.effect("a nested within keeps the earlier, enclosing deadline", () =>
    Effect.gen(function*() {
      const interrupted = yield* Ref.make(false)
      const fiber = yield* Effect.fork(
        Effect.gen(function*() {
          yield* Effect.sleep("4 seconds")
          const inner = yield* Effect.gen(function*() {
            const remaining = yield* remainingMillis
            yield* Effect.never.pipe(Effect.onInterrupt(() => Ref.set(interrupted, true)))
            return remaining
          }).pipe(Deadline.within("30 seconds", tooLate("step")), Effect.either)
          return inner
        }).pipe(Deadline.within("10 seconds", tooLate("request")), Effect.either, Effect.zip(Clock.currentTimeMillis))
      )
      yield* TestClock.adjust("9999 millis")
      expect(yield* Fiber.poll(fiber)).toStrictEqual(Option.none())
      yield* TestClock.adjust("1 milli")
      const [result, endedAt] = yield* Fiber.join(fiber)
      // the 30 s step budget is cut to the 6 s left of the request: everything stops at 10 s, not 34 s
      expect(endedAt).toBe(10_000)
      expect(yield* Ref.get(interrupted)).toBe(true)
      // whichever timer fires first at that instant, the caller sees a timeout, not a result
      expect(Either.isLeft(result) || Either.isLeft(result.right)).toBe(true)
    }))

  it.effect("a nested within reads the enclosing deadline inside it, and a shorter one only within its scope", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        Effect.gen(function*() {
          yield* Effect.sleep("4 seconds")
          const cappedByRequest = yield* remainingMillis.pipe(Deadline.within("30 seconds", tooLate("step")))
          const ownBudget = yield* remainingMillis.pipe(Deadline.within("2 seconds", tooLate("step")))
          const afterwards = yield* remainingMillis
          return { cappedByRequest, ownBudget, afterwards }
        }).pipe(Deadline.within("10 seconds", tooLate("request")))
      )
      yield* TestClock.adjust("4 seconds")
      expect(yield* Fiber.join(fiber)).toStrictEqual({
        cappedByRequest: Option.some(6_000),
        ownBudget: Option.some(2_000),
        afterwards: Option.some(6_000)
      })
    }))

  it.effect("forked fibers inherit the deadline", () =>
    Effect.gen(function*() {
      const result = yield* Effect.flatMap(Effect.fork(remainingMillis), Fiber.join).pipe(
        Deadline.within("5 seconds", tooLate("request"))
      )
      expect(result).toStrictEqual(Option.some(5_000))
    }))

  it.effect("without a deadline, remaining is None and allows is always true", () =>
    Effect.gen(function*() {
      expect(yield* Deadline.remaining).toStrictEqual(Option.none())
      expect(yield* Deadline.allows("1 day")).toBe(true)
      expect(yield* Deadline.allows(Duration.infinity)).toBe(true)
      // an infinite budget sets no deadline either
      expect(yield* Deadline.remaining.pipe(Deadline.within(Duration.infinity, tooLate("never")))).toStrictEqual(
        Option.none()
      )
      // and the deadline is gone again after a within
      yield* Effect.void.pipe(Deadline.within("1 second", tooLate("request")))
      expect(yield* Deadline.remaining).toStrictEqual(Option.none())
    }))

  it.effect("remaining never goes below zero", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        Effect.locally(
          Effect.zipRight(Effect.sleep("5 seconds"), remainingMillis),
          Deadline.currentDeadline,
          1_000
        )
      )
      yield* TestClock.adjust("5 seconds")
      expect(yield* Fiber.join(fiber)).toStrictEqual(Option.some(0))
    }))
})
