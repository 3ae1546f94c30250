import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Either, Exit, Fiber, FiberRef, Option } from "effect"
import * as Deadline from "../src/Deadline.js"

// `Deadline.within` arms a plain timer of its own under the live clock (the
// TestClock path is covered by Deadline.test.ts): these run on real time, with
// budgets of tens of milliseconds.

class TooLate {
  readonly _tag = "TooLate"
  constructor(readonly which: string) {}
}

const tooLate = (which: string) => () => new TooLate(which)

const remainingMillis = Effect.map(Deadline.remaining, Option.map(Duration.toMillis))

describe("Deadline on the live clock", () => {
  it.live("an effect that ends in time keeps its own result and error", () =>
    Effect.gen(function*() {
      expect(yield* Effect.succeed("done").pipe(Deadline.within("1 second", tooLate("request")))).toBe("done")
      expect(
        yield* Effect.as(Effect.sleep("5 millis"), "later").pipe(Deadline.within("1 second", tooLate("request")))
      ).toBe("later")
      const failed = yield* Effect.fail("boom").pipe(Deadline.within("1 second", tooLate("request")), Effect.either)
      expect(failed).toStrictEqual(Either.left("boom"))
      const died = yield* Effect.dieMessage("defect").pipe(Deadline.within("1 second", tooLate("request")), Effect.exit)
      expect(Exit.isFailure(died) && Exit.isFailure(died) && died.cause._tag).toBe("Die")
    }))

  it.live("fails with onTimeout at the budget, after the running effect was interrupted", () =>
    Effect.gen(function*() {
      const interrupted = yield* Deferred.make<void>()
      let interruptedBeforeTimeout = false
      const start = Date.now()
      const result = yield* Effect.never.pipe(
        Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)),
        Deadline.within("30 millis", () => {
          interruptedBeforeTimeout = Effect.runSync(Deferred.isDone(interrupted))
          return new TooLate("request")
        }),
        Effect.either
      )
      expect(result).toStrictEqual(Either.left(new TooLate("request")))
      expect(interruptedBeforeTimeout).toBe(true)
      expect(Date.now() - start).toBeGreaterThanOrEqual(29)
    }))

  it.live("the deadline is read inside, capped by an enclosing one, and gone afterwards", () =>
    Effect.gen(function*() {
      const inside = yield* remainingMillis.pipe(Deadline.within("10 seconds", tooLate("request")))
      expect(Option.getOrThrow(inside)).toBeGreaterThan(9_000)
      expect(Option.getOrThrow(inside)).toBeLessThanOrEqual(10_000)
      const nested = yield* remainingMillis.pipe(
        Deadline.within("1 minute", tooLate("step")),
        Deadline.within("5 seconds", tooLate("request"))
      )
      expect(Option.getOrThrow(nested)).toBeLessThanOrEqual(5_000)
      expect(yield* Deadline.remaining).toStrictEqual(Option.none())
    }))

  it.live("a nested within times out at the enclosing deadline", () =>
    Effect.gen(function*() {
      const start = Date.now()
      const result = yield* Effect.never.pipe(
        Deadline.within("1 minute", tooLate("step")),
        Effect.either,
        Deadline.within("30 millis", tooLate("request")),
        Effect.either
      )
      // whichever timer fires first at that instant, the caller sees a timeout, not a result
      expect(Either.isLeft(result) || Either.isLeft(result.right)).toBe(true)
      expect(Date.now() - start).toBeLessThan(5_000)
    }))

  it.live("fiber refs set by the effect are kept when it succeeds, the deadline is not", () =>
    Effect.gen(function*() {
      const annotation = FiberRef.unsafeMake("none")
      const value = yield* FiberRef.set(annotation, "set inside").pipe(
        Effect.zipRight(FiberRef.set(Deadline.currentDeadline, 0)),
        Deadline.within("1 second", tooLate("request"))
      )
      expect(value).toBeUndefined()
      expect(yield* FiberRef.get(annotation)).toBe("set inside")
      expect(yield* Deadline.remaining).toStrictEqual(Option.none())
    }))

  it.live("interrupting the caller interrupts the running effect", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        Deferred.succeed(started, undefined).pipe(
          Effect.zipRight(Effect.never),
          Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)),
          Deadline.within("1 minute", tooLate("request"))
        )
      )
      yield* Deferred.await(started)
      yield* Fiber.interrupt(fiber)
      expect(yield* Deferred.isDone(interrupted)).toBe(true)
    }))

  it.live("a budget longer than a timer can hold still lets the effect finish", () =>
    Effect.gen(function*() {
      expect(yield* Effect.succeed(1).pipe(Deadline.within("60 days", tooLate("request")))).toBe(1)
    }))
})
