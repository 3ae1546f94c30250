import { describe, expect, it } from "@effect/vitest"
import { Cause, Clock, DateTime, Deferred, Duration, Effect, Either, Exit, FastCheck, Fiber, Ref } from "effect"
import { VirtualTime } from "../src/index.js"

const hour = 3_600_000

/** The value of a successful exit (fails the test otherwise). */
const valueOf = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isFailure(exit)) throw new Error(`expected success, got ${Cause.pretty(exit.cause)}`)
  return exit.value
}

/** Real timers the process holds (what keeps Node alive). */
const realTimers = () => process.getActiveResourcesInfo().filter((resource) => resource === "Timeout").length

/**
 * Forks one fiber per delay, in order; each sleeps its delay and then logs its
 * index and the time it woke at.
 */
const sleepers = (delays: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const log: Array<readonly [index: number, at: number]> = []
    const fibers = []
    for (const [index, delay] of delays.entries()) {
      fibers.push(
        yield* Effect.fork(
          Effect.zipRight(
            Effect.sleep(delay),
            Effect.map(Clock.currentTimeMillis, (at) => log.push([index, at]))
          )
        )
      )
    }
    yield* Fiber.joinAll(fibers)
    return log
  })

describe("VirtualTime.run", () => {
  it("returns at once for long sleeps, with the Clock exactly where the sleep ends", () => {
    // run is synchronous: had it waited for real, the test would time out.
    const exit = VirtualTime.run(
      Effect.gen(function*() {
        const before = yield* Clock.currentTimeMillis
        yield* Effect.sleep("3 hours")
        return { before, after: yield* Clock.currentTimeMillis, nanos: yield* Clock.currentTimeNanos }
      })
    )
    expect(valueOf(exit)).toStrictEqual({ before: 0, after: 3 * hour, nanos: BigInt(3 * hour) * 1_000_000n })
  })

  it("an hour of one-second sleeps in a loop ends exactly an hour later", () => {
    const exit = VirtualTime.run(Effect.zipRight(Effect.repeatN(Effect.sleep("1 second"), 3_599), Clock.currentTimeMillis))
    expect(valueOf(exit)).toBe(hour)
  })

  it("start sets the epoch the Clock starts from", () => {
    const start = Date.UTC(2026, 1, 19, 9, 30)
    const exit = VirtualTime.run(
      Effect.gen(function*() {
        const first = yield* DateTime.now
        yield* Effect.sleep("90 minutes")
        return [DateTime.toEpochMillis(first), yield* Clock.currentTimeMillis] as const
      }),
      { start }
    )
    expect(valueOf(exit)).toStrictEqual([start, start + 90 * 60_000])
  })

  it("wakes sleepers due at the same instant in the order they went to sleep", () => {
    // c sleeps 10 s from 0; a sleeps 5 s and then 5 s more, so it arrives second at 10 s
    const exit = VirtualTime.run(
      Effect.gen(function*() {
        const log = yield* Ref.make<ReadonlyArray<string>>([])
        const note = (name: string) =>
          Effect.flatMap(Clock.currentTimeMillis, (at) => Ref.update(log, (all) => [...all, `${name}@${at}`]))
        const a = yield* Effect.fork(Effect.zipRight(Effect.sleep(5_000), Effect.zipRight(Effect.sleep(5_000), note("a"))))
        const c = yield* Effect.fork(Effect.zipRight(Effect.sleep(10_000), note("c")))
        const b = yield* Effect.fork(Effect.zipRight(Effect.sleep(7_000), note("b")))
        const zero = yield* Effect.fork(Effect.zipRight(Effect.sleep(0), note("zero")))
        yield* Fiber.joinAll([a, b, c, zero])
        return yield* Ref.get(log)
      })
    )
    expect(valueOf(exit)).toStrictEqual(["zero@0", "b@7000", "c@10000", "a@10000"])
  })

  it.prop(
    "many concurrent sleepers wake by wake time, then by arrival, each at its own time",
    { delays: FastCheck.array(FastCheck.constantFrom(0, 1, 2, 1_000, 60_000, hour), { minLength: 1, maxLength: 200 }) },
    ({ delays }) => {
      const log = valueOf(VirtualTime.run(sleepers(delays)))
      const expected = delays
        .map((delay, index) => [index, delay] as const)
        .sort(([i, a], [j, b]) => a - b || i - j)
      expect(log).toStrictEqual(expected)
    },
    { fastCheck: { numRuns: 100 } }
  )

  it("runs thousands of concurrent sleepers, each waking at its own time", () => {
    const delays = Array.from({ length: 3_000 }, (_, i) => (i * 7_919) % 10_007)
    const log = valueOf(VirtualTime.run(sleepers(delays)))
    expect(log).toHaveLength(3_000)
    expect(log.every(([index, at]) => at === delays[index])).toBe(true)
  })

  it("an interrupted sleeper does not wake, and does not move time", () => {
    const exit = VirtualTime.run(
      Effect.gen(function*() {
        const woke = yield* Ref.make(false)
        const fiber = yield* Effect.fork(Effect.zipRight(Effect.sleep("1 hour"), Ref.set(woke, true)))
        yield* Effect.sleep("1 minute")
        yield* Fiber.interrupt(fiber)
        const interruptedAt = yield* Clock.currentTimeMillis
        yield* Effect.sleep("2 hours")
        return { interruptedAt, woke: yield* Ref.get(woke), end: yield* Clock.currentTimeMillis }
      })
    )
    expect(valueOf(exit)).toStrictEqual({ interruptedAt: 60_000, woke: false, end: 60_000 + 2 * hour })

    // with nobody else sleeping, the cancelled sleeper is skipped: a deadlock, not a wake-up at 1 hour
    const stuck = VirtualTime.run(
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(Effect.sleep("1 hour"))
        yield* Effect.yieldNow()
        yield* Fiber.interrupt(fiber)
        return yield* Effect.never
      })
    )
    expect(Exit.isFailure(stuck) && Cause.isDie(stuck.cause)).toBe(true)
  })

  it("Effect.timeout works on virtual time", () => {
    const timedOut = VirtualTime.run(
      Effect.sleep("1 hour").pipe(Effect.timeout("1 minute"), Effect.either, Effect.zip(Clock.currentTimeMillis))
    )
    const [result, at] = valueOf(timedOut)
    expect(Either.isLeft(result) && Cause.isTimeoutException(result.left)).toBe(true)
    expect(at).toBe(60_000)

    const inTime = VirtualTime.run(
      Effect.as(Effect.sleep("1 minute"), "done").pipe(Effect.timeout("1 hour"), Effect.zip(Clock.currentTimeMillis))
    )
    expect(valueOf(inTime)).toStrictEqual(["done", 60_000])

    const failing = VirtualTime.run(
      Effect.never.pipe(Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => "too late" as const }))
    )
    expect(failing).toStrictEqual(Exit.fail("too late"))
  })

  it("a deadlock returns a die exit instead of hanging, and the stuck fiber is interrupted", () => {
    const timersBefore = realTimers()
    let finalized = false
    const exit = VirtualTime.run(Effect.never.pipe(Effect.ensuring(Effect.sync(() => (finalized = true)))))
    expect(Exit.isFailure(exit)).toBe(true)
    if (Exit.isFailure(exit)) {
      expect(Cause.isDie(exit.cause)).toBe(true)
      expect(String(Cause.squash(exit.cause))).toContain("deadlock")
    }
    expect(finalized).toBe(true)
    // Effect.never holds a real timer; it must not outlive the run (it would keep Node from exiting)
    expect(realTimers()).toBe(timersBefore)

    // waiting on a Deferred nobody completes, after some sleeps, is a deadlock too
    const waiting = VirtualTime.run(
      Effect.gen(function*() {
        const deferred = yield* Deferred.make<void>()
        yield* Effect.sleep("5 minutes")
        yield* Deferred.await(deferred)
      })
    )
    expect(Exit.isFailure(waiting) && Cause.isDie(waiting.cause)).toBe(true)
  })

  it("returns failures and defects as they are", () => {
    expect(VirtualTime.run(Effect.zipRight(Effect.sleep("1 hour"), Effect.fail("boom")))).toStrictEqual(Exit.fail("boom"))
    const died = VirtualTime.run(Effect.dieMessage("bad"))
    expect(Exit.isFailure(died) && Cause.isDie(died.cause)).toBe(true)
  })
})

describe("VirtualTime.runSync", () => {
  it("returns the value or throws the failure", () => {
    expect(VirtualTime.runSync(Effect.as(Effect.sleep(Duration.days(2)), "done"))).toBe("done")
    expect(VirtualTime.runSync(Clock.currentTimeMillis, { start: 1_000 })).toBe(1_000)
    expect(() => VirtualTime.runSync(Effect.fail(new Error("boom")))).toThrow("boom")
    expect(() => VirtualTime.runSync(Effect.never)).toThrow(/deadlock/)
  })
})
