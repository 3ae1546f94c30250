import { describe, expect, it } from "@effect/vitest"
import {
  Chunk,
  Clock,
  Duration,
  Effect,
  Exit,
  Fiber,
  FastCheck,
  Random,
  Ref,
  Schema,
  Scope,
  Stream,
  TestClock
} from "effect"
import { Overloaded } from "../src/Errors.js"
import type { GenerationError } from "../src/Errors.js"
import { Health } from "../src/index.js"

const route = "gemini-pro"
const overloaded = new Overloaded({ provider: "google", model: "gemini-pro", message: "The model is overloaded" })

/** Every probe every 10 s exactly, so that examples can name the probe times. */
const everyTenSeconds: Partial<Health.Settings> = { interval: "10 seconds", maxInterval: "10 seconds" }

/** A probe that records when it started and fails while `failing(now)` holds. */
const probeRecording = (calls: Ref.Ref<ReadonlyArray<number>>, failing: (now: number) => boolean = () => false) =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    yield* Ref.update(calls, (all) => [...all, now])
    if (failing(now)) return yield* Effect.fail(overloaded)
  })

/** A probe that plays `script` in order (`true` = success), then succeeds. */
const scripted = (script: ReadonlyArray<boolean>) =>
  Effect.map(Ref.make(0), (played): Effect.Effect<void, GenerationError> =>
    Effect.flatMap(Ref.getAndUpdate(played, (n) => n + 1), (n) =>
      (script[n] ?? true) ? Effect.void : Effect.fail(overloaded)))

/** Lets the forked probe fibers run up to their next sleep. */
const settle = TestClock.adjust(0)

const outcome = (success: boolean, at = 0): Health.Outcome => ({ success, at, latencyMs: 1 })

/** Every state reached by playing `outcomes` from a fresh route. */
const play = (outcomes: ReadonlyArray<boolean>, settings: Pick<Health.Settings, "failuresToDown" | "successesToHealthy">) =>
  outcomes.reduce<ReadonlyArray<Health.RouteHealth>>(
    (states, success, i) => [...states, Health.transition(states[states.length - 1]!, outcome(success, i + 1), settings)],
    [Health.initial(route, 0)]
  )

const thresholds = FastCheck.record({
  failuresToDown: FastCheck.integer({ min: 1, max: 5 }),
  successesToHealthy: FastCheck.integer({ min: 1, max: 5 })
})

describe("Health.transition", () => {
  it.prop(
    "is down iff the last failuresToDown outcomes failed",
    [thresholds, FastCheck.array(FastCheck.boolean(), { maxLength: 40 })],
    ([settings, outcomes]) => {
      play(outcomes, settings).forEach((state, n) => {
        const last = outcomes.slice(0, n).slice(-settings.failuresToDown)
        const lastFailed = last.length === settings.failuresToDown && last.every((success) => !success)
        expect(state.status === "down").toBe(lastFailed)
      })
    }
  )

  it.prop(
    "is healthy iff the last successesToHealthy outcomes succeeded, or nothing has failed yet",
    [thresholds, FastCheck.array(FastCheck.boolean(), { maxLength: 40 })],
    ([settings, outcomes]) => {
      play(outcomes, settings).forEach((state, n) => {
        const seen = outcomes.slice(0, n)
        const last = seen.slice(-settings.successesToHealthy)
        const recovered = last.length === settings.successesToHealthy && last.every((success) => success)
        expect(state.status === "healthy").toBe(recovered || seen.every((success) => success))
      })
    }
  )

  it.prop(
    "never jumps between healthy and down in one probe when both thresholds are at least 2",
    [
      FastCheck.integer({ min: 2, max: 5 }),
      FastCheck.integer({ min: 2, max: 5 }),
      FastCheck.array(FastCheck.boolean(), { maxLength: 40 })
    ],
    ([failuresToDown, successesToHealthy, outcomes]) => {
      const states = play(outcomes, { failuresToDown, successesToHealthy })
      for (let i = 1; i < states.length; i++) {
        const pair = [states[i - 1]!.status, states[i]!.status].join("→")
        expect(pair).not.toBe("healthy→down")
        expect(pair).not.toBe("down→healthy")
      }
    }
  )

  it.prop(
    "is healthy after successesToHealthy successes, whatever came before",
    [thresholds, FastCheck.array(FastCheck.boolean(), { maxLength: 40 })],
    ([settings, outcomes]) => {
      const states = play([...outcomes, ...Array(settings.successesToHealthy).fill(true)], settings)
      expect(states[states.length - 1]!.status).toBe("healthy")
    }
  )

  it.prop(
    "keeps the probe's facts, and `since` moves only when the status changes",
    [thresholds, FastCheck.array(FastCheck.boolean(), { maxLength: 40 })],
    ([settings, outcomes]) => {
      const states = play(outcomes, settings)
      states.slice(1).forEach((state, i) => {
        const previous = states[i]!
        expect(state.probes).toBe(i + 1)
        expect(state.lastProbeAt).toBe(i + 1)
        expect(state.lastError === null).toBe(outcomes[i])
        expect(state.since).toBe(state.status === previous.status ? previous.since : i + 1)
        expect(Schema.is(Health.RouteHealth)(state)).toBe(true)
      })
    }
  )

  it("follows the last probe with thresholds of 1", () => {
    const states = play([false, false, true, false, true, true], { failuresToDown: 1, successesToHealthy: 1 })
    expect(states.map((state) => state.status)).toStrictEqual([
      "healthy",
      "down",
      "down",
      "healthy",
      "down",
      "healthy",
      "healthy"
    ])
  })

  it("degrades on one failure, goes down on the second, and needs two successes to be healthy again", () => {
    const states = play([false, true, false, false, false, true, false, true, true], Health.defaults)
    expect(states.map((state) => state.status)).toStrictEqual([
      "healthy",
      "degraded", // one failure
      "degraded", // a success after a failure: not yet healthy, and the failures are reset
      "degraded",
      "down",
      "down",
      "degraded", // one success after down
      "degraded",
      "degraded",
      "healthy"
    ])
  })
})

describe("Health.make", () => {
  it.effect("probes every route at once", () =>
    Effect.gen(function*() {
      const calls = yield* Ref.make<ReadonlyArray<number>>([])
      const health = yield* Health.make({ probes: { [route]: probeRecording(calls) } })
      yield* settle
      expect(yield* Ref.get(calls)).toStrictEqual([0])
      const [state] = yield* health.snapshot
      expect(state).toMatchObject({ route, status: "healthy", probes: 1, lastProbeAt: 0, lastLatencyMs: 0 })
    }).pipe(Effect.scoped))

  it.effect.prop(
    "probes again after a delay drawn from [15 s, 30 s)",
    { seed: FastCheck.integer() },
    ({ seed }) =>
      Effect.gen(function*() {
        const calls = yield* Ref.make<ReadonlyArray<number>>([])
        yield* Health.make({ probes: { [route]: probeRecording(calls) } })
        yield* TestClock.adjust("30 minutes")
        const times = yield* Ref.get(calls)
        const gaps = times.slice(1).map((time, i) => time - times[i]!)
        expect(times[0]).toBe(0)
        expect(gaps.length).toBeGreaterThanOrEqual(59)
        for (const gap of gaps) {
          expect(gap).toBeGreaterThanOrEqual(15_000)
          expect(gap).toBeLessThan(30_000)
        }
        // drawn, not fixed
        expect(new Set(gaps).size).toBeGreaterThan(1)
      }).pipe(Effect.scoped, Effect.withRandom(Random.make(seed))),
    { fastCheck: { numRuns: 5 } }
  )

  it.effect("counts a probe slower than the timeout as failed, and interrupts it", () =>
    Effect.gen(function*() {
      const interruptedAt = yield* Ref.make<ReadonlyArray<number>>([])
      const hanging = Effect.never.pipe(
        Effect.onInterrupt(() =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.update(interruptedAt, (all) => [...all, now]))
        )
      )
      const health = yield* Health.make({ probes: { [route]: hanging }, settings: everyTenSeconds })
      yield* TestClock.adjust("9999 millis")
      expect(health.unsafeStatus(route)).toBe("healthy")
      yield* TestClock.adjust("1 millis")
      expect(yield* Ref.get(interruptedAt)).toStrictEqual([10_000])
      const [state] = yield* health.snapshot
      expect(state).toMatchObject({ status: "degraded", lastLatencyMs: 10_000, lastError: "probe timed out after 10s" })
      // the next probe starts 10 s after the timeout, and times out 10 s later
      yield* TestClock.adjust("20 seconds")
      expect(yield* Ref.get(interruptedAt)).toStrictEqual([10_000, 30_000])
      expect(health.unsafeStatus(route)).toBe("down")
    }).pipe(Effect.scoped))

  it.effect("moves through degraded to down and back with hysteresis", () =>
    Effect.gen(function*() {
      const probe = yield* scripted([false, false, false, true, true])
      const health = yield* Health.make({ probes: { [route]: probe }, settings: everyTenSeconds })
      const statuses: Array<Health.Status> = []
      for (let probes = 0; probes < 6; probes++) {
        yield* TestClock.adjust(probes === 0 ? 0 : "10 seconds")
        statuses.push(yield* health.status(route))
      }
      expect(statuses).toStrictEqual(["degraded", "down", "down", "degraded", "healthy", "healthy"])
      const [state] = yield* health.snapshot
      expect(state).toMatchObject({ probes: 6, consecutiveSuccesses: 3, consecutiveFailures: 0, since: 40_000 })
    }).pipe(Effect.scoped))

  it.effect("publishes status changes only", () =>
    Effect.gen(function*() {
      // the first probe succeeds: it runs before the consumer below has subscribed
      const probe = yield* scripted([true, false, false, false, true, true, true, false])
      const health = yield* Health.make({ probes: { [route]: probe }, settings: everyTenSeconds })
      const changes = yield* Effect.fork(Stream.runCollect(Stream.take(health.changes, 5)))
      yield* TestClock.adjust("90 seconds")
      const published = Chunk.toReadonlyArray(yield* Fiber.join(changes))
      expect(published.map((change) => [change.status, change.since])).toStrictEqual([
        ["degraded", 10_000],
        ["down", 20_000],
        ["degraded", 40_000],
        ["healthy", 50_000],
        ["degraded", 70_000]
      ])
    }).pipe(Effect.scoped))

  it.effect("stops probing when its scope closes, and ends the changes streams", () =>
    Effect.gen(function*() {
      const calls = yield* Ref.make<ReadonlyArray<number>>([])
      const scope = yield* Scope.make()
      const health = yield* Scope.extend(Health.make({ probes: { [route]: probeRecording(calls) } }), scope)
      const changes = yield* Effect.fork(Stream.runDrain(health.changes))
      yield* TestClock.adjust("1 minute")
      const before = (yield* Ref.get(calls)).length
      expect(before).toBeGreaterThanOrEqual(2)
      yield* Scope.close(scope, Exit.void)
      yield* TestClock.adjust("10 minutes")
      expect(yield* Ref.get(calls)).toHaveLength(before)
      expect(yield* Fiber.await(changes)).toStrictEqual(Exit.void)
    }))

  it.effect("probeNow runs one probe at once and reports it to onProbe", () =>
    Effect.gen(function*() {
      const reported = yield* Ref.make<ReadonlyArray<string>>([])
      const health = yield* Health.make({
        probes: { [route]: Effect.fail(overloaded), "dall-e": Effect.void },
        settings: { ...everyTenSeconds, failuresToDown: 3 },
        onProbe: (name, { success }) => Ref.update(reported, (all) => [...all, `${name}:${success}`])
      })
      yield* settle
      const state = yield* health.probeNow(route)
      expect(state).toMatchObject({
        route,
        status: "degraded",
        probes: 2,
        consecutiveFailures: 2,
        lastError: "Overloaded: The model is overloaded"
      })
      expect(yield* health.probeNow("no-such-route")).toBeUndefined()
      expect([...(yield* Ref.get(reported))].sort()).toStrictEqual([
        "dall-e:true",
        `${route}:false`,
        `${route}:false`
      ])
    }).pipe(Effect.scoped))

  it.effect("calls routes without a probe healthy and snapshots probed routes by name, as JSON", () =>
    Effect.gen(function*() {
      const health = yield* Health.make({
        probes: { [route]: Effect.fail(overloaded), "dall-e": Effect.void },
        settings: { failuresToDown: 1 }
      })
      yield* settle
      expect(health.unsafeStatus("no-probe")).toBe("healthy")
      expect(health.unsafeStatus(route)).toBe("down")
      const snapshot = yield* health.snapshot
      expect(snapshot.map((state) => [state.route, state.status])).toStrictEqual([
        ["dall-e", "healthy"],
        [route, "down"]
      ])
      const json = JSON.parse(JSON.stringify(snapshot))
      expect(Schema.decodeUnknownSync(Schema.Array(Health.RouteHealth))(json)).toStrictEqual(snapshot)
    }).pipe(Effect.scoped))

  it.effect.prop(
    "detects an outage within one probe interval, and notices the recovery just as fast",
    {
      seed: FastCheck.integer(),
      outageStart: FastCheck.integer({ min: 0, max: 300_000 }),
      // long enough for two failed probes in a row, so that the route goes down
      outageLength: FastCheck.integer({ min: 60_001, max: 300_000 })
    },
    ({ outageLength, outageStart, seed }) =>
      Effect.gen(function*() {
        const outageEnd = outageStart + outageLength
        const calls = yield* Ref.make<ReadonlyArray<number>>([])
        const probe = probeRecording(calls, (now) => now >= outageStart && now < outageEnd)
        const health = yield* Health.make({ probes: { [route]: probe } })
        const maxInterval = Duration.toMillis(Health.defaults.maxInterval)
        const until = (time: number) => Effect.flatMap(Clock.currentTimeMillis, (now) => TestClock.adjust(time - now))

        if (outageStart > 0) {
          yield* until(outageStart - 1)
          expect(health.unsafeStatus(route)).toBe("healthy")
        }
        yield* until(outageStart + maxInterval)
        expect(health.unsafeStatus(route)).not.toBe("healthy")
        yield* until(outageEnd - 1)
        expect(health.unsafeStatus(route)).toBe("down")
        yield* until(outageEnd + maxInterval)
        expect(health.unsafeStatus(route)).not.toBe("down")
      }).pipe(Effect.scoped, Effect.withRandom(Random.make(seed))),
    { fastCheck: { numRuns: 25 } }
  )
})
