import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Either, FastCheck, Option, Random, TestClock } from "effect"
import { type CircuitBreaker, CircuitOpen, type GenerationError, type Pipeline, type Router } from "../src/index.js"
import {
  allRoutesFailedOf,
  always,
  fail,
  fakeImage,
  makePipeline,
  models,
  ok,
  type Reply,
  request,
  runFor,
  runForADay,
  runVirtual,
  successOf
} from "./support/pipelineFakes.js"
import { overloaded, rateLimited, timedOut, unauthorized, unavailable } from "./support/pipelineFakes.js"

// Tests of the pipeline composing its routing features (router, health, adaptive degradation,
// hedging, peak cap, limits, slow calls, canaries), each through `Pipeline.make(...).generate`,
// with the fakes of support/pipelineFakes.ts.

/** Two routes a and b, both answering at once, planned in that order, with these `routing` settings. */
const twoRoutes = (routing: Record<string, unknown>, options?: Pipeline.Pipeline.Options) =>
  Effect.gen(function*() {
    const a = always(models.flash, ok())
    const b = always(models.flash, ok())
    const pipeline = yield* makePipeline({ image: { a, b }, plan: [{ route: "a" }, { route: "b" }], routing }, options)
    return { a, b, pipeline }
  })

// ---------------------------------------------------------------------------

describe("Pipeline routing", () => {
  describe("property", () => {
    const replyArbitrary = FastCheck.oneof(
      { weight: 2, arbitrary: FastCheck.integer({ min: 0, max: 5_000 }).map((latency) => ok({ latency })) },
      {
        weight: 3,
        arbitrary: FastCheck.tuple(
          FastCheck.constantFrom<GenerationError>(overloaded, unavailable, timedOut, rateLimited(), unauthorized),
          FastCheck.integer({ min: 0, max: 5_000 })
        ).map(([error, latency]) => fail(error, latency))
      }
    )
    const stepArbitrary = FastCheck.record({
      gap: FastCheck.integer({ min: 0, max: 40_000 }),
      deadline: FastCheck.integer({ min: 1_000, max: 120_000 }),
      action: FastCheck.oneof(
        { weight: 8, arbitrary: FastCheck.constant<"none" | "isolate" | "reset">("none") },
        { weight: 1, arbitrary: FastCheck.constantFrom<"none" | "isolate" | "reset">("isolate", "reset") }
      ),
      target: FastCheck.integer({ min: 0, max: 2 })
    })

    it.prop(
      "never a call to a route whose breaker is open (unless it is the half-open probe)",
      {
        scripts: FastCheck.array(FastCheck.array(replyArbitrary, { minLength: 1, maxLength: 8 }), {
          minLength: 2,
          maxLength: 3
        }),
        breaker: FastCheck.record({
          consecutiveFailures: FastCheck.integer({ min: 1, max: 4 }),
          minimumCalls: FastCheck.integer({ min: 1, max: 10 }),
          failureRatio: FastCheck.constantFrom(0.25, 0.5, 1),
          openDuration: FastCheck.integer({ min: 1, max: 60_000 }),
          slowCallThreshold: FastCheck.option(FastCheck.integer({ min: 1, max: 5_000 }), { nil: undefined })
        }),
        retry: FastCheck.record({
          attempts: FastCheck.integer({ min: 1, max: 3 }),
          initialDelay: FastCheck.integer({ min: 0, max: 5_000 }),
          jitter: FastCheck.boolean()
        }),
        hedge: FastCheck.option(FastCheck.integer({ min: 1, max: 5_000 }), { nil: undefined }),
        waitForHalfOpen: FastCheck.boolean(),
        steps: FastCheck.array(stepArbitrary, { minLength: 1, maxLength: 15 }),
        seed: FastCheck.integer()
      },
      ({ breaker, hedge, retry, scripts, seed, steps, waitForHalfOpen }) => {
        const violations: Array<string> = []
        let breakers: ReadonlyMap<string, CircuitBreaker.CircuitBreaker> = new Map()
        // At every provider call, the state of that route's breaker: never open before `until`, never
        // isolated, and half-open only with the probe in flight (this call).
        const check = (route: string) =>
          Effect.flatMap(Effect.suspend(() => breakers.get(route)!.state), (state) =>
            Effect.map(Clock.currentTimeMillis, (now) => {
              const bad = (state._tag === "Open" && state.until > now) || state._tag === "Isolated" ||
                (state._tag === "HalfOpen" && !state.inFlight)
              if (bad) violations.push(`${route} called at ${now} while ${JSON.stringify(state)}`)
            }))
        const fakes = Object.fromEntries(scripts.map((script, i) => {
          const route = `r${i}`
          return [route, fakeImage(models.flash, (call) => script[call % script.length]!, { onCall: check(route) })]
        }))
        const { slowCallThreshold, ...breakerRest } = breaker
        runVirtual(
          Effect.gen(function*() {
            const pipeline = yield* makePipeline({
              image: fakes,
              plan: scripts.map((_, i) => ({ route: `r${i}` })),
              retry: { ...retry, maxDelay: retry.initialDelay + 10_000 },
              breaker: {
                ...breakerRest,
                maxOpenDuration: breaker.openDuration * 2,
                ...(slowCallThreshold !== undefined ? { slowCallThreshold } : {})
              },
              routing: { canary: 0, waitForHalfOpen },
              hedge: hedge !== undefined ? { enabled: true, delay: hedge } : { enabled: false },
              adaptive: { enabled: false }
            })
            breakers = pipeline.breakers
            for (const step of steps) {
              if (step.gap > 0) yield* Effect.sleep(Duration.millis(step.gap))
              const target = pipeline.breakers.get(`r${step.target % scripts.length}`)!
              if (step.action === "isolate") yield* target.isolate
              if (step.action === "reset") yield* target.reset
              yield* Effect.either(pipeline.generate(request("1K", { deadline: step.deadline })))
            }
          }),
          seed
        )
        expect(violations).toStrictEqual([])
      },
      { fastCheck: { numRuns: 50 } }
    )
  })

  describe("waitForHalfOpen", () => {
    const openSetup = (waitForHalfOpen?: boolean) => {
      // two failures open the breaker for 30 s; then the route answers
      const a = fakeImage(models.flash, (call) => call < 2 ? fail(overloaded) : ok())
      const pipeline = makePipeline({
        image: { a },
        plan: [{ route: "a" }],
        breaker: { consecutiveFailures: 2, openDuration: "30 seconds", maxOpenDuration: "60 seconds" },
        routing: { canary: 0, ...(waitForHalfOpen !== undefined ? { waitForHalfOpen } : {}) },
        adaptive: { enabled: false }
      })
      return { a, pipeline }
    }

    it.scoped("a request with time to spare waits for the half-open probe; a short deadline fails at once", () =>
      Effect.gen(function*() {
        const setup = openSetup()
        const pipeline = yield* setup.pipeline
        yield* Effect.either(pipeline.generate(request()))
        yield* Effect.either(pipeline.generate(request()))
        const state = yield* pipeline.breakers.get("a")!.state
        expect(state).toStrictEqual({ _tag: "Open", openedAt: 0, until: 30_000, attempt: 1 })

        // 10 s: no time to wait for the half-open at 30 s
        const short = yield* runFor(pipeline.generate(request("1K", { deadline: "10 seconds" })), "10 seconds")
        expect(short.elapsed).toBe(0)
        const failed = allRoutesFailedOf(short.result)
        expect(failed.attempts.map((a) => a.error._tag)).toStrictEqual(["CircuitOpen"])
        expect(failed.attempts[0]!.error).toBeInstanceOf(CircuitOpen)
        expect(setup.a.calls).toHaveLength(2)

        // 2 minutes: waits until 30 s, where the half-open probe answers
        const start = yield* Clock.currentTimeMillis
        const long = yield* runForADay(pipeline.generate(request("1K", { deadline: "2 minutes" })))
        const result = successOf(long.result)
        expect(result.route).toBe("a")
        expect(start).toBe(10_000)
        expect(setup.a.calls.map((c) => c.at)).toStrictEqual([0, 0, 30_000])
        expect(start + long.elapsed).toBe(30_000)
        expect(Duration.toMillis(result.latency)).toBe(30_000 - start)
        expect((yield* pipeline.breakers.get("a")!.state)._tag).toBe("Closed")
      }))

    it.scoped("with waitForHalfOpen: false a request fails at once, however long its deadline", () =>
      Effect.gen(function*() {
        const setup = openSetup(false)
        const pipeline = yield* setup.pipeline
        yield* Effect.either(pipeline.generate(request()))
        yield* Effect.either(pipeline.generate(request()))
        const { elapsed, result } = yield* runForADay(pipeline.generate(request("1K", { deadline: "2 minutes" })))
        expect(elapsed).toBe(0)
        expect(allRoutesFailedOf(result).attempts.map((a) => a.error._tag)).toStrictEqual(["CircuitOpen"])
        expect(setup.a.calls).toHaveLength(2)
      }))
  })

  describe("health", () => {
    it.scoped("a route whose probes fail is skipped once down, within maxInterval, and used again once they succeed", () =>
      Effect.gen(function*() {
        let probeOk = false
        const a = fakeImage(models.flash, () => ok(), { probe: () => probeOk })
        const b = always(models.flash, ok())
        const pipeline = yield* makePipeline({
          image: { a, b },
          plan: [{ route: "a" }, { route: "b" }],
          health: {
            enabled: true,
            interval: "15 seconds",
            maxInterval: "30 seconds",
            failuresToDown: 2,
            successesToHealthy: 2
          },
          adaptive: { enabled: false }
        })
        const health = Option.getOrThrow(pipeline.health)
        // the first probe runs at once, and fails: one failure is not enough to go down
        yield* TestClock.adjust("1 millis")
        expect(a.probes).toStrictEqual([0])
        expect(health.unsafeStatus("a")).toBe("degraded")
        expect((yield* pipeline.generate(request())).route).toBe("a")
        expect(a.calls).toHaveLength(1)

        // the outage is noticed within maxInterval of the first failed probe
        const firstFailure = a.probes[0]!
        for (let i = 0; i < 30 && a.probes.length < 2; i++) yield* TestClock.adjust("1 second")
        expect(a.probes).toHaveLength(2)
        expect(a.probes[1]! - firstFailure).toBeLessThanOrEqual(30_000)
        expect(a.probes[1]! - firstFailure).toBeGreaterThanOrEqual(15_000)
        expect(health.unsafeStatus("a")).toBe("down")
        const skipped = yield* pipeline.generate(request())
        expect(skipped.route).toBe("b")
        expect(a.calls).toHaveLength(1) // its generate was not called

        // it recovers: after successesToHealthy good probes it is first again
        probeOk = true
        for (let i = 0; i < 120 && health.unsafeStatus("a") !== "healthy"; i++) {
          yield* TestClock.adjust("1 second")
          if (health.unsafeStatus("a") === "down") expect((yield* pipeline.generate(request())).route).toBe("b")
        }
        expect(health.unsafeStatus("a")).toBe("healthy")
        expect(a.calls).toHaveLength(1)
        expect((yield* pipeline.generate(request())).route).toBe("a")
        expect(a.calls).toHaveLength(2)
      }).pipe(Effect.withRandom(Random.make(7))))
  })

  describe("adaptive degradation", () => {
    /** Adaptive degradation on two calls, with a trial every 30 s; the breaker stays out of it (failures alternate with successes). */
    const adaptiveSettings = {
      breaker: { consecutiveFailures: 10, failureRatio: 1 },
      adaptive: {
        enabled: true,
        stepDownBelow: 0.5,
        stepUpAt: 0.8,
        sample: 2,
        minimumCalls: 2,
        trialInterval: "30 seconds",
        trialsToStepUp: 2
      }
    }

    it.scoped("a failing 4K is skipped after minimumCalls failures, tried once per trialInterval, and restored", () =>
      Effect.gen(function*() {
        let fourKWorks = false
        const pro = fakeImage(models.pro, (_, req) => req.resolution === "4K" && !fourKWorks ? fail(overloaded) : ok())
        const pipeline = yield* makePipeline({
          image: { pro },
          plan: [{ route: "pro", resolutions: ["4K", "2K"] }],
          ...adaptiveSettings
        })
        const results: Array<{ at: number; resolution: string }> = []
        const ask = Effect.gen(function*() {
          const at = yield* Clock.currentTimeMillis
          const result = yield* pipeline.generate(request("4K"))
          results.push({ at, resolution: result.resolution })
          return result
        })
        // t = 0: two requests fail at 4K (answered at 2K) and step the route down; a third starts at 2K
        yield* ask
        yield* ask
        const third = yield* ask
        expect([third.resolution, third.degraded, third.requestedResolution]).toStrictEqual(["2K", true, "4K"])
        // one request every 10 s: a 4K trial every 30 s, failing until 65 s, succeeding after
        for (let t = 10_000; t <= 150_000; t += 10_000) {
          yield* TestClock.adjust("10 seconds")
          if (t === 70_000) fourKWorks = true
          yield* ask
        }
        const fourK = pro.calls.filter((c) => c.resolution === "4K").map((c) => c.at)
        // trials at 30, 60 (failing), 90, 120 (succeeding: trialsToStepUp = 2), then every request at 4K
        expect(fourK).toStrictEqual([0, 0, 30_000, 60_000, 90_000, 120_000, 130_000, 140_000, 150_000])
        expect(results.filter((r) => r.resolution === "4K").map((r) => r.at)).toStrictEqual([
          90_000,
          120_000,
          130_000,
          140_000,
          150_000
        ])
        const degradation = Option.getOrThrow(pipeline.degradation)
        const status = (yield* degradation.snapshot).find((s) => s.resolution === "4K")
        expect(status?.level).toBe("full")
      }))

    it.scoped("a fallback route's trial goes to the first request that reaches it, not to one that never does", () =>
      Effect.gen(function*() {
        let aFails = true
        const a = fakeImage(models.flash, () => aFails ? fail(overloaded) : ok())
        const pro = fakeImage(models.pro, (_, req) => req.resolution === "4K" ? fail(overloaded) : ok())
        const pipeline = yield* makePipeline({
          image: { a, pro },
          plan: [{ route: "a" }, { route: "pro", resolutions: ["4K", "2K"] }],
          ...adaptiveSettings
        })
        // t = 0: a fails, pro@4K fails twice: pro steps down to 2K
        yield* pipeline.generate(request("4K"))
        yield* pipeline.generate(request("4K"))
        // t = 30 s: a answers; the request never reaches pro, so it is no trial of pro@4K
        yield* TestClock.adjust("30 seconds")
        aFails = false
        expect((yield* pipeline.generate(request("4K"))).route).toBe("a")
        // t = 31 s: a fails again; this is the first request to reach pro since the interval passed
        yield* TestClock.adjust("1 second")
        aFails = true
        expect((yield* pipeline.generate(request("4K"))).route).toBe("pro")
        // t = 32 s: one trial per interval, no more
        yield* TestClock.adjust("1 second")
        yield* pipeline.generate(request("4K"))
        expect(pro.calls.filter((c) => c.resolution === "4K").map((c) => c.at)).toStrictEqual([0, 0, 31_000])
      }))
  })

  describe("peak cap", () => {
    // 2026-11-20, Pacific Standard Time (UTC−8): 10:00 is inside 09:00–11:00, 12:00 outside
    const inside = Date.UTC(2026, 10, 20, 18, 0)
    const outside = Date.UTC(2026, 10, 20, 20, 0)

    it.scoped("inside a peak window a 4K request is asked at the cap and reported degraded; outside it asks 4K", () =>
      Effect.gen(function*() {
        const pro = always(models.pro, ok())
        const pipeline = yield* makePipeline({
          image: { pro },
          plan: [{ route: "pro" }],
          peak: { enabled: true, schedule: { timeZone: "America/Los_Angeles", windows: ["09:00-11:00"] }, cap: "2K" }
        })
        yield* TestClock.setTime(inside)
        const peak = yield* pipeline.generate(request("4K"))
        expect(pro.calls.map((c) => c.resolution)).toStrictEqual(["2K"])
        expect([peak.resolution, peak.requestedResolution, peak.degraded]).toStrictEqual(["2K", "4K", true])

        yield* TestClock.setTime(outside)
        const offPeak = yield* pipeline.generate(request("4K"))
        expect(pro.calls.map((c) => c.resolution)).toStrictEqual(["2K", "4K"])
        expect([offPeak.resolution, offPeak.requestedResolution, offPeak.degraded]).toStrictEqual(["4K", "4K", false])
      }))

    it.scoped("with peak disabled (the default) the window changes nothing", () =>
      Effect.gen(function*() {
        const pro = always(models.pro, ok())
        const pipeline = yield* makePipeline({ image: { pro }, plan: [{ route: "pro" }] })
        yield* TestClock.setTime(inside)
        const result = yield* pipeline.generate(request("4K"))
        expect([result.resolution, result.degraded]).toStrictEqual(["4K", false])
      }))
  })

  describe("hedging", () => {
    /** Routes a (60 s) and b (1 s), hedged after 5 s when `enabled`; runs one request and returns the counters. */
    const hedgeRun = (enabled: boolean) =>
      Effect.gen(function*() {
        const a = always(models.flash, ok({ latency: 60_000 }))
        const b = always(models.flash, ok({ latency: 1_000 }))
        const pipeline = yield* makePipeline({
          image: { a, b },
          plan: [{ route: "a" }, { route: "b" }],
          hedge: { enabled, delay: "5 seconds" }
        })
        const { elapsed, result } = yield* runForADay(pipeline.generate(request()))
        return { a, b, elapsed, result, hedges: yield* pipeline.hedges }
      })

    it.scoped("a slow first route is hedged after the delay: the second answers, the first is interrupted", () =>
      Effect.gen(function*() {
        const { a, b, elapsed, hedges, result } = yield* hedgeRun(true)
        expect(successOf(result).route).toBe("b")
        expect(elapsed).toBe(6_000)
        expect(a.calls.map((c) => [c.at, c.outcome])).toStrictEqual([[0, "interrupted"]])
        expect(b.calls.map((c) => [c.at, c.outcome])).toStrictEqual([[5_000, "ok"]])
        expect(hedges).toStrictEqual({ calls: 1, hedged: 1, hedgeWins: 1 })
      }))

    it.scoped("without hedging the same request waits for the slow route", () =>
      Effect.gen(function*() {
        const { a, b, elapsed, hedges, result } = yield* hedgeRun(false)
        expect(successOf(result).route).toBe("a")
        expect(elapsed).toBe(60_000)
        expect(a.calls.map((c) => c.outcome)).toStrictEqual(["ok"])
        expect(b.calls).toHaveLength(0)
        expect(hedges).toStrictEqual({ calls: 0, hedged: 0, hedgeWins: 0 })
      }))
  })

  describe("limits", () => {
    /** Three concurrent requests to one route with `limits`; returns the start times of its calls, sorted. */
    const threeConcurrentStarts = (reply: Reply, limits: Record<string, unknown>) =>
      Effect.gen(function*() {
        const a = always(models.flash, reply)
        const pipeline = yield* makePipeline({ image: { a }, plan: [{ route: "a" }], routeExtras: { a: { limits } } })
        const { result } = yield* runForADay(
          Effect.all(Array.from({ length: 3 }, () => pipeline.generate(request())), { concurrency: "unbounded" })
        )
        expect(Either.isRight(result)).toBe(true)
        return a.calls.map((c) => c.at).sort((x, y) => x - y)
      })

    it.scoped("requestsPerMinute: 2 — of three concurrent requests the third call waits for the rate window", () =>
      Effect.gen(function*() {
        const starts = yield* threeConcurrentStarts(ok(), { requestsPerMinute: 2 })
        expect(starts).toHaveLength(3)
        expect(starts.slice(0, 2)).toStrictEqual([0, 0])
        // a token bucket of 2 a minute refills one every 30 s; a fixed window would open at 60 s
        expect(starts[2]!).toBeGreaterThanOrEqual(30_000)
        expect(starts[2]!).toBeLessThanOrEqual(60_000)
      }))

    it.scoped("concurrency: 1 — concurrent requests call the route one after the other", () =>
      Effect.gen(function*() {
        const starts = yield* threeConcurrentStarts(ok({ latency: 10_000 }), { concurrency: 1 })
        expect(starts).toStrictEqual([0, 10_000, 20_000])
      }))
  })

  describe("prompt classes", () => {
    const classSetup = (options?: Pipeline.Pipeline.Options) =>
      twoRoutes({ canary: 0, classes: { photo: { keywords: ["photo"], routes: ["b"] } } }, options)

    it.scoped("a prompt of a class goes first to the class's routes, another prompt in plan order", () =>
      Effect.gen(function*() {
        const { a, b, pipeline } = yield* classSetup()
        expect((yield* pipeline.generate(request("1K", { prompt: "a photo of a red bicycle" }))).route).toBe("b")
        expect((yield* pipeline.generate(request("1K", { prompt: "a watercolour of a red bicycle" }))).route).toBe("a")
        // a whole word only
        expect((yield* pipeline.generate(request("1K", { prompt: "photosynthesis, illustrated" }))).route).toBe("a")
        expect(a.calls.map((c) => c.prompt)).toStrictEqual(["a watercolour of a red bicycle", "photosynthesis, illustrated"])
        expect(b.calls.map((c) => c.prompt)).toStrictEqual(["a photo of a red bicycle"])
      }))

    it.scoped("options.classify overrides the keyword rules", () =>
      Effect.gen(function*() {
        const classify: Router.Classifier = (prompt) => prompt.includes("bicycle") ? Option.none() : Option.some("photo")
        const { pipeline } = yield* classSetup({ classify })
        expect((yield* pipeline.generate(request("1K", { prompt: "a photo of a red bicycle" }))).route).toBe("a")
        expect((yield* pipeline.generate(request("1K", { prompt: "a watercolour of a lighthouse" }))).route).toBe("b")
      }))
  })

  describe("slow calls", () => {
    it.scoped("successes slower than slowCallThreshold are answered but open the breaker", () =>
      Effect.gen(function*() {
        const a = always(models.flash, ok({ latency: 20_000 }))
        const b = always(models.flash, ok())
        const pipeline = yield* makePipeline({
          image: { a, b },
          plan: [{ route: "a" }, { route: "b" }],
          breaker: { slowCallThreshold: "10 seconds", consecutiveFailures: 2 }
        })
        const first = yield* runFor(pipeline.generate(request()), "20 seconds")
        expect(successOf(first.result).route).toBe("a")
        expect((yield* pipeline.breakers.get("a")!.state)._tag).toBe("Closed")
        const second = yield* runFor(pipeline.generate(request()), "20 seconds")
        expect(successOf(second.result).route).toBe("a")
        expect(second.elapsed).toBe(20_000)
        expect(yield* pipeline.breakers.get("a")!.state).toStrictEqual({
          _tag: "Open",
          openedAt: 40_000,
          until: 70_000,
          attempt: 1
        })
        // the next request skips the slow route
        const third = yield* pipeline.generate(request())
        expect(third.route).toBe("b")
        expect(a.calls).toHaveLength(2)
      }))
  })

  describe("canary", () => {
    const canaryRun = (canary: number, n: number) =>
      Effect.gen(function*() {
        const { a, b, pipeline } = yield* twoRoutes({ canary })
        for (let i = 0; i < n; i++) yield* pipeline.generate(request())
        const stats = yield* pipeline.router.stats
        return { a, b, canaries: stats.find((s) => s.route === "b")?.canaries }
      }).pipe(Effect.withRandom(Random.make(2026)))

    it.scoped("with canary 0.05 the warm fallback gets about 5% of first calls", () =>
      Effect.gen(function*() {
        const n = 1_000
        const share = 0.05
        const { a, b, canaries } = yield* canaryRun(share, n)
        // four standard deviations of a binomial(n, share)
        const tolerance = 4 * Math.sqrt(n * share * (1 - share))
        expect(Math.abs(b.calls.length - n * share)).toBeLessThanOrEqual(tolerance)
        expect(b.calls.length).toBeGreaterThan(0)
        expect(a.calls.length + b.calls.length).toBe(n) // every route answers: one call per request
        expect(canaries).toBe(b.calls.length)
      }))

    it.scoped("with canary 0 the fallback gets no first call", () =>
      Effect.gen(function*() {
        const { b, canaries } = yield* canaryRun(0, 200)
        expect(b.calls).toHaveLength(0)
        expect(canaries).toBe(0)
      }))
  })
})
