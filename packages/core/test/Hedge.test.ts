import { describe, expect, it } from "@effect/vitest"
import { Array as Arr, Clock, Duration, Effect, Either, FastCheck, Fiber, Ref, TestClock } from "effect"
import { Hedge } from "../src/index.js"

/** What happened to the attempts of one call, each as `name@millis`. */
interface Journal {
  readonly started: Ref.Ref<ReadonlyArray<string>>
  readonly interrupted: Ref.Ref<ReadonlyArray<string>>
}

const journal = Effect.all({
  started: Ref.make<ReadonlyArray<string>>([]),
  interrupted: Ref.make<ReadonlyArray<string>>([])
})

const stamp = (ref: Ref.Ref<ReadonlyArray<string>>, name: string) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.update(ref, (all) => [...all, `${name}@${now}`]))

/** An attempt that records its start, takes `latency` ms, then ends with `outcome`; interruption is recorded. */
const attempt = (
  log: Journal,
  name: string,
  latency: number,
  outcome: Either.Either<string, string> = Either.right(name)
) =>
  stamp(log.started, name).pipe(
    Effect.zipRight(Effect.sleep(Duration.millis(latency))),
    Effect.zipRight(Either.match(outcome, { onLeft: Effect.fail, onRight: Effect.succeed })),
    Effect.onInterrupt(() => stamp(log.interrupted, name))
  )

/**
 * Forks `effect`, advances the TestClock a day (the TestClock wakes every sleep
 * in order, waiting for the forked fibers to suspend between them), and
 * returns its result and end time.
 */
const runToEnd = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(Effect.zip(Effect.either(effect), Clock.currentTimeMillis))
    yield* TestClock.adjust("1 day")
    const [result, endedAt] = yield* Fiber.join(fiber)
    return { result, endedAt }
  })

describe("Hedge.race", () => {
  it.effect("starts no hedge when the primary answers before the delay", () =>
    Effect.gen(function*() {
      const log = yield* journal
      const fiber = yield* Effect.fork(
        attempt(log, "primary", 99).pipe(Hedge.race([attempt(log, "secondary", 10)], { delay: "100 millis" }))
      )
      yield* TestClock.adjust("99 millis")
      expect(yield* Fiber.join(fiber)).toBe("primary")
      yield* TestClock.adjust("1 second")
      expect(yield* Ref.get(log.started)).toStrictEqual(["primary@0"])
      expect(yield* Ref.get(log.interrupted)).toStrictEqual([])
    }))

  it.effect("starts the hedge exactly at the delay", () =>
    Effect.gen(function*() {
      const log = yield* journal
      const fiber = yield* Effect.fork(
        Hedge.race(attempt(log, "primary", 1_000), [attempt(log, "secondary", 1_000)], { delay: "100 millis" })
      )
      yield* TestClock.adjust("99 millis")
      expect(yield* Ref.get(log.started)).toStrictEqual(["primary@0"])
      yield* TestClock.adjust("1 millis")
      expect(yield* Ref.get(log.started)).toStrictEqual(["primary@0", "secondary@100"])
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("lets the first success win and interrupts the loser before answering", () =>
    Effect.gen(function*() {
      const log = yield* journal
      const { endedAt, result } = yield* runToEnd(
        Hedge.race(attempt(log, "primary", 1_000), [attempt(log, "secondary", 50)], { delay: "100 millis" })
      )
      expect(result).toStrictEqual(Either.right("secondary"))
      expect(endedAt).toBe(150)
      expect(yield* Ref.get(log.interrupted)).toStrictEqual(["primary@150"])
    }))

  it.effect("does not let a failure win: the other attempt keeps running", () =>
    Effect.gen(function*() {
      const log = yield* journal
      const { endedAt, result } = yield* runToEnd(
        Hedge.race(
          attempt(log, "primary", 300),
          [attempt(log, "secondary", 50, Either.left("overloaded"))],
          { delay: "100 millis" }
        )
      )
      expect(result).toStrictEqual(Either.right("primary"))
      expect(endedAt).toBe(300)
      expect(yield* Ref.get(log.interrupted)).toStrictEqual([])
    }))

  it.effect("fails with the error of the last attempt to fail when all have failed", () =>
    Effect.gen(function*() {
      const log = yield* journal
      const { result } = yield* runToEnd(
        Hedge.race(
          attempt(log, "primary", 300, Either.left("primary failed")),
          [attempt(log, "secondary", 50, Either.left("secondary failed"))],
          { delay: "100 millis" }
        )
      )
      expect(result).toStrictEqual(Either.left("primary failed"))
    }))

  it.effect("starts the next attempt at once, as a fallback, when the primary fails before the delay", () =>
    Effect.gen(function*() {
      const log = yield* journal
      const hedger = yield* Hedge.make({ delay: "100 millis" })
      const { endedAt, result } = yield* runToEnd(
        hedger.run([attempt(log, "primary", 20, Either.left("overloaded")), attempt(log, "secondary", 30)])
      )
      expect(result).toStrictEqual(Either.right("secondary"))
      expect(endedAt).toBe(50)
      expect(yield* Ref.get(log.started)).toStrictEqual(["primary@0", "secondary@20"])
      // a fallback is not a hedge
      expect(yield* hedger.stats).toStrictEqual({ calls: 1, hedged: 0, hedgeWins: 0 })
    }))

  it.effect("caps the extra attempts at maxHedges, each started another delay later", () =>
    Effect.gen(function*() {
      const log = yield* journal
      const slow = (name: string) => attempt(log, name, 10_000)
      const { result } = yield* runToEnd(
        Hedge.race(slow("a"), [slow("b"), slow("c"), slow("d"), slow("e")], { delay: "100 millis", maxHedges: 2 })
      )
      expect(result).toStrictEqual(Either.right("a"))
      expect(yield* Ref.get(log.started)).toStrictEqual(["a@0", "b@100", "c@200"])
      expect(yield* Ref.get(log.interrupted)).toStrictEqual(["b@10000", "c@10000"])
    }))

  it.effect("never hedges with maxHedges 0", () =>
    Effect.gen(function*() {
      const log = yield* journal
      const { result } = yield* runToEnd(
        Hedge.race(attempt(log, "a", 1_000, Either.left("down")), [attempt(log, "b", 1)], {
          delay: "1 millis",
          maxHedges: 0
        })
      )
      expect(result).toStrictEqual(Either.left("down"))
      expect(yield* Ref.get(log.started)).toStrictEqual(["a@0"])
    }))

  it.effect("reads an effectful delay at every start", () =>
    Effect.gen(function*() {
      const log = yield* journal
      const p95 = yield* Ref.make(Duration.millis(250))
      const delay = Ref.getAndUpdate(p95, () => Duration.millis(40))
      const slow = (name: string) => attempt(log, name, 10_000)
      const fiber = yield* Effect.fork(Hedge.race(slow("a"), [slow("b"), slow("c")], { delay, maxHedges: 2 }))
      yield* TestClock.adjust("249 millis")
      expect(yield* Ref.get(log.started)).toStrictEqual(["a@0"])
      yield* TestClock.adjust("1 millis")
      yield* TestClock.adjust("40 millis")
      expect(yield* Ref.get(log.started)).toStrictEqual(["a@0", "b@250", "c@290"])
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("interrupts every attempt when the call is interrupted", () =>
    Effect.gen(function*() {
      const log = yield* journal
      const fiber = yield* Effect.fork(
        Hedge.race(attempt(log, "a", 10_000), [attempt(log, "b", 10_000)], { delay: "100 millis" })
      )
      yield* TestClock.adjust("150 millis")
      yield* Fiber.interrupt(fiber)
      expect([...(yield* Ref.get(log.interrupted))].sort()).toStrictEqual(["a@150", "b@150"])
    }))
})

describe("Hedge.make", () => {
  it.effect("counts calls, hedged calls and hedge wins", () =>
    Effect.gen(function*() {
      const log = yield* journal
      const hedger = yield* Hedge.make({ delay: "100 millis" })
      // not hedged
      yield* runToEnd(hedger.run([attempt(log, "a", 10), attempt(log, "b", 10)]))
      // hedged, the primary wins
      yield* runToEnd(hedger.run([attempt(log, "a", 120), attempt(log, "b", 100)]))
      // hedged, the hedge wins
      yield* runToEnd(hedger.run([attempt(log, "a", 500), attempt(log, "b", 10)]))
      // hedged, both fail
      yield* runToEnd(
        hedger.run([attempt(log, "a", 500, Either.left("x")), attempt(log, "b", 10, Either.left("y"))])
      )
      expect(yield* hedger.stats).toStrictEqual({ calls: 4, hedged: 3, hedgeWins: 1 })
    }))

  it.effect("counts an interrupted call", () =>
    Effect.gen(function*() {
      const log = yield* journal
      const hedger = yield* Hedge.make({ delay: "100 millis" })
      const fiber = yield* Effect.fork(hedger.run([attempt(log, "a", 10_000), attempt(log, "b", 10_000)]))
      yield* TestClock.adjust("150 millis")
      yield* Fiber.interrupt(fiber)
      expect(yield* hedger.stats).toStrictEqual({ calls: 1, hedged: 1, hedgeWins: 0 })
    }))
})

describe("Hedge.defaults", () => {
  it("is off for images and on for text after the p95", () => {
    expect(Hedge.defaults).toStrictEqual({ image: { enabled: false }, text: { enabled: true, delay: "p95" } })
  })
})

interface Plan {
  readonly latency: number
  readonly ok: boolean
}

/**
 * The reference model: when each attempt starts, and which successes finish
 * first. `undefined` when two events fall on the same millisecond (their order
 * is then a matter of scheduling, not of the rule).
 */
const model = (plans: Arr.NonEmptyReadonlyArray<Plan>, delay: number, maxHedges: number) => {
  const limit = Math.min(plans.length, 1 + maxHedges)
  const starts: Array<number> = [0]
  const settled = new Set<number>()
  let hedgeAt = delay
  while (true) {
    const running = starts.map((start, i) => ({ i, end: start + plans[i]!.latency })).filter(({ i }) => !settled.has(i))
    const times = [...running.map(({ end }) => end), ...(starts.length < limit ? [hedgeAt] : [])]
    const now = Math.min(...times)
    if (times.filter((t) => t === now).length > 1) return undefined
    if (starts.length < limit && hedgeAt === now) {
      starts.push(now)
      hedgeAt = now + delay
      continue
    }
    const { i } = running.find(({ end }) => end === now)!
    if (plans[i]!.ok) return { starts, result: Either.right(`#${i}`), endedAt: now }
    settled.add(i)
    if (settled.size < starts.length) continue
    if (starts.length < limit) {
      starts.push(now)
      hedgeAt = now + delay
      continue
    }
    return { starts, result: Either.left(`#${i}`), endedAt: now }
  }
}

describe("Hedge properties", () => {
  it.effect.prop(
    "the earliest success to finish wins, and at most 1 + maxHedges attempts start",
    {
      plans: FastCheck.array(
        FastCheck.record({ latency: FastCheck.integer({ min: 1, max: 60 }), ok: FastCheck.boolean() }),
        { minLength: 1, maxLength: 5 }
      ),
      delay: FastCheck.integer({ min: 1, max: 40 }),
      maxHedges: FastCheck.integer({ min: 0, max: 4 })
    },
    ({ delay, maxHedges, plans }) =>
      Effect.gen(function*() {
        if (!Arr.isNonEmptyReadonlyArray(plans)) return
        const expected = model(plans, delay, maxHedges)
        const log = yield* journal
        const attempts = Arr.map(plans, ({ latency, ok }, i) =>
          attempt(log, `#${i}`, latency, ok ? Either.right(`#${i}`) : Either.left(`#${i}`)))
        const { endedAt, result } = yield* runToEnd(Hedge.race(attempts[0], attempts.slice(1), { delay, maxHedges }))
        const started = yield* Ref.get(log.started)
        expect(started.length).toBeLessThanOrEqual(1 + maxHedges)
        if (expected === undefined) return
        expect(result).toStrictEqual(expected.result)
        expect(endedAt).toBe(expected.endedAt)
        expect(started).toStrictEqual(expected.starts.map((at, i) => `#${i}@${at}`))
        if (Either.isRight(result)) {
          // every other attempt still running was interrupted
          const finished = expected.starts
            .map((at, i) => ({ i, end: at + plans[i]!.latency }))
            .filter(({ end }) => end < expected.endedAt)
            .map(({ i }) => i)
          const losers = expected.starts.map((_, i) => i).filter((i) => !finished.includes(i) && `#${i}` !== result.right)
          expect([...(yield* Ref.get(log.interrupted))].sort()).toStrictEqual(
            losers.map((i) => `#${i}@${expected.endedAt}`).sort()
          )
        }
      }),
    { fastCheck: { numRuns: 50 } }
  )

})
