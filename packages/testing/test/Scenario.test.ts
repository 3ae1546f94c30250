import { ChatMessage, ImageRequest, PeakWindows, type Resolution, TextRequest } from "@ballast/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, Option, Random, TestClock } from "effect"
import { type FakeProvider, Scenario } from "../src/index.js"

const minute = 60_000
const hour = 60 * minute

const at = (
  scenario: Scenario.ScenarioName,
  role: Scenario.Role,
  situation: Partial<Scenario.Situation> = {}
): Scenario.Conditions =>
  Scenario.scenarios[scenario].conditions(role, {
    elapsed: 0,
    now: 0,
    resolution: "2K",
    recentRequests: 1,
    ...situation
  })

const rate = (scenario: Scenario.ScenarioName, role: Scenario.Role, situation: Partial<Scenario.Situation> = {}) =>
  at(scenario, role, situation).failureRate

const seeded = <A, E>(effect: Effect.Effect<A, E>) => Effect.withRandom(effect, Random.make("ballast"))

/** Sends `count` requests at the current instant and returns the share that failed. */
const failureShare = (fake: FakeProvider.FakeImage, resolution: Resolution, count: number) =>
  Effect.gen(function*() {
    const request = ImageRequest.make({ prompt: "a fox", resolution })
    let failures = 0
    for (let i = 0; i < count; i++) {
      if (Either.isLeft(yield* Effect.either(fake.service.generate(request)))) failures++
    }
    return failures / count
  })

describe("Scenario lookup", () => {
  it("lists every scenario and finds them by name", () => {
    expect(Scenario.names).toEqual(["steady", "peak-day", "outage-2h", "feb-19", "rate-limited", "total-outage"])
    for (const name of Scenario.names) {
      expect(Scenario.get(name)).toEqual(Either.right(Scenario.scenarios[name]))
      expect(Scenario.scenarios[name].name).toBe(name)
    }
    const unknown = Scenario.get("nope")
    expect(Either.isLeft(unknown) && unknown.left).toContain("steady, peak-day, outage-2h, feb-19")
  })
})

describe("Scenario conditions", () => {
  it("steady: primary 5% 503s, fallbacks 1%, field latencies", () => {
    expect(at("steady", "primary")).toMatchObject({ failureRate: 0.05, failure: "Overloaded" })
    for (const role of ["flash", "openai", "compatible", "text"] as const) expect(rate("steady", role)).toBe(0.01)
    const seconds = (role: Scenario.Role) => {
      const { max, min } = at("steady", role).latency
      return [Duration.toSeconds(min), Duration.toSeconds(max)]
    }
    expect(seconds("primary")).toEqual([20, 60])
    expect(seconds("flash")).toEqual([20, 60])
    expect(seconds("openai")).toEqual([2, 25])
    expect(seconds("compatible")).toEqual([5, 15])
    expect(seconds("text")).toEqual([1, 3])
  })

  it("outage-2h: primary down for two hours, flash blips at 30–40 and 80–90 minutes", () => {
    expect(rate("outage-2h", "primary", { elapsed: 0 })).toBe(1)
    expect(rate("outage-2h", "primary", { elapsed: 119 * minute })).toBe(1)
    expect(rate("outage-2h", "primary", { elapsed: 121 * minute })).toBe(0.05)
    const flash = [29, 30, 35, 39, 40, 45, 79, 80, 85, 89, 90, 150].map((m) =>
      rate("outage-2h", "flash", { elapsed: m * minute })
    )
    expect(flash).toEqual([0.01, 0.5, 0.5, 0.5, 0.01, 0.01, 0.01, 0.5, 0.5, 0.5, 0.01, 0.01])
    expect(rate("outage-2h", "openai", { elapsed: 30 * minute })).toBe(0.01)
  })

  it("peak windows are core's default PeakWindows schedule", () => {
    expect(Scenario.peakWindows).toEqual([[9, 11], [13, 15], [18, 22]])
    for (const iso of ["2026-03-08T16:30:00Z", "2026-03-08T18:30:00Z", "2026-11-01T16:30:00Z", "2026-11-01T17:30:00Z"]) {
      const now = Date.parse(iso)
      expect(Scenario.isPeak(now)).toBe(PeakWindows.contains(PeakWindows.defaults.peak, now))
    }
  })

  it("peak-day: 35% in the PT peak windows, across both DST changes of 2026", () => {
    const primary = (iso: string, resolution: Resolution = "2K") =>
      rate("peak-day", "primary", { now: Date.parse(iso), resolution })
    // 2026-03-08, the first day of PDT (UTC−7): 09:30 and 21:59 are peak, 08:30 and 11:30 are not
    expect(primary("2026-03-08T16:30:00Z")).toBe(0.35)
    expect(primary("2026-03-09T04:59:00Z")).toBe(0.35)
    expect(primary("2026-03-08T15:30:00Z")).toBe(0.07)
    expect(primary("2026-03-08T18:30:00Z")).toBe(0.07) // 10:30 if the offset were still PST
    // 2026-11-01, the first day of PST again (UTC−8)
    expect(primary("2026-11-01T17:30:00Z")).toBe(0.35)
    expect(primary("2026-11-01T16:30:00Z")).toBe(0.07) // 09:30 if the offset were still PDT
    expect(primary("2026-11-01T21:00:00Z")).toBe(0.35) // 13:00
    expect(primary("2026-11-01T23:00:00Z")).toBe(0.07) // 15:00, the window is over
    expect(primary("2026-11-02T02:00:00Z")).toBe(0.35) // 18:00
    expect(primary("2026-11-02T06:00:00Z")).toBe(0.07) // 22:00
    // 4K fails twice as often as 2K in peak
    expect(primary("2026-11-01T17:30:00Z", "4K")).toBe(0.7)
    expect(primary("2026-11-01T17:30:00Z", "1K")).toBe(0.35)
    expect(rate("peak-day", "flash", { now: Date.parse("2026-11-01T17:30:00Z") })).toBe(0.05)
    expect(rate("peak-day", "openai", { now: Date.parse("2026-11-01T17:30:00Z") })).toBe(0.01)
  })

  it("feb-19: primary 45% and flash 10% for six hours, OpenAI healthy", () => {
    expect(rate("feb-19", "primary", { elapsed: 3 * hour })).toBe(0.45)
    expect(rate("feb-19", "flash", { elapsed: 3 * hour })).toBe(0.1)
    expect(rate("feb-19", "openai", { elapsed: 3 * hour })).toBe(0.01)
    expect(rate("feb-19", "primary", { elapsed: 6 * hour })).toBe(0.05)
  })

  it("rate-limited: OpenAI answers 429 with retry-after 20 s above 150 requests a minute", () => {
    expect(rate("rate-limited", "openai", { recentRequests: 150 })).toBe(0.01)
    expect(at("rate-limited", "openai", { recentRequests: 151 })).toMatchObject({
      failureRate: 1,
      failure: "RateLimited",
      retryAfter: Duration.seconds(20)
    })
    expect(rate("rate-limited", "primary", { recentRequests: 500 })).toBe(0.05)
  })

  it("total-outage: every image role down for 30 minutes, text healthy", () => {
    for (const role of ["primary", "flash", "openai", "compatible"] as const) {
      expect(at("total-outage", role, { elapsed: 29 * minute })).toMatchObject({
        failureRate: 1,
        failure: "ProviderUnavailable"
      })
      expect(rate("total-outage", role, { elapsed: 30 * minute })).toBeLessThanOrEqual(0.05)
    }
    expect(rate("total-outage", "text", { elapsed: 10 * minute, resolution: "description" })).toBe(0.01)
  })
})

describe("Scenario.fakeImage", () => {
  it.effect("fails at about the configured rate", () =>
    seeded(Effect.gen(function*() {
      const fake = yield* Scenario.fakeImage(Scenario.scenarios.steady, "primary", { model: "pro", latency: 0 })
      expect(Math.abs((yield* failureShare(fake, "2K", 2000)) - 0.05)).toBeLessThan(0.02)
      expect((yield* fake.calls).every((call) => call.outcome === "success" || call.outcome === "Overloaded"))
        .toBe(true)
    })))

  it.effect("fails 4K twice as often as 2K in a peak window", () =>
    seeded(Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2026-03-08T16:30:00Z")) // 09:30 PDT
      const fake = yield* Scenario.fakeImage(Scenario.scenarios["peak-day"], "primary", { model: "pro", latency: 0 })
      const twoK = yield* failureShare(fake, "2K", 2000)
      const fourK = yield* failureShare(fake, "4K", 2000)
      expect(Math.abs(twoK - 0.35)).toBeLessThan(0.04)
      expect(Math.abs(fourK - 0.7)).toBeLessThan(0.04)
    })))

  it.effect("counts the outage from the fake's creation", () =>
    seeded(Effect.gen(function*() {
      yield* TestClock.adjust("5 hours")
      const fake = yield* Scenario.fakeImage(Scenario.scenarios["outage-2h"], "primary", {
        model: "gemini-3-pro-image-preview",
        latency: 0
      })
      expect(yield* failureShare(fake, "4K", 100)).toBe(1)
      yield* TestClock.adjust("119 minutes")
      expect(yield* failureShare(fake, "4K", 100)).toBe(1)
      yield* TestClock.adjust("2 minutes")
      expect(yield* failureShare(fake, "4K", 100)).toBeLessThan(0.2)
    })))

  it.effect("draws latency from the scenario's range, and failures come back sooner", () =>
    Effect.gen(function*() {
      const fake = yield* Scenario.fakeImage(Scenario.scenarios.steady, "primary", {
        model: "gemini-3-pro-image-preview"
      })
      // first draw 0.5 ≥ 5%: success, latency 20 s + 0.5 × 40 s
      const ok = yield* Effect.fork(fake.service.generate(ImageRequest.make({ prompt: "a fox" })))
      yield* TestClock.adjust("39 seconds")
      expect(Option.isNone(yield* Fiber.poll(ok))).toBe(true)
      yield* TestClock.adjust("1 second")
      expect(Duration.toSeconds((yield* Fiber.join(ok)).latency)).toBe(40)
      // then 0.01 < 5%: failure, latency 0.5 × 20 s
      const failed = yield* Effect.fork(Effect.flip(fake.service.generate(ImageRequest.make({ prompt: "a fox" }))))
      yield* TestClock.adjust("9 seconds")
      expect(Option.isNone(yield* Fiber.poll(failed))).toBe(true)
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(failed))._tag).toBe("Overloaded")
      expect(fake.service.provider).toBe("google")
    }).pipe(Effect.withRandom(Random.fixed([0.5, 0.5, 0.01, 0.5]))))

  it.effect("scales or replaces the scenario's latency", () =>
    Effect.gen(function*() {
      const scaled = yield* Scenario.fakeImage(Scenario.scenarios.steady, "openai", { model: "gpt-image-2", latency: 2 })
      const slow = yield* Effect.fork(scaled.service.generate(ImageRequest.make({ prompt: "a fox" })))
      yield* TestClock.adjust("1 minute")
      expect(Duration.toSeconds((yield* Fiber.join(slow)).latency)).toBe(4) // 2 × (2 s + 0 × 23 s)
      const fixed = yield* Scenario.fakeImage(Scenario.scenarios.steady, "openai", {
        model: "gpt-image-2",
        latency: { min: "7 seconds", max: "7 seconds" }
      })
      const seven = yield* Effect.fork(fixed.service.generate(ImageRequest.make({ prompt: "a fox" })))
      yield* TestClock.adjust("1 minute")
      expect(Duration.toSeconds((yield* Fiber.join(seven)).latency)).toBe(7)
    }).pipe(Effect.withRandom(Random.fixed([0.5, 0]))))

  it.effect("rate-limited: requests above 150 in a minute get 429 with retry-after 20 s", () =>
    seeded(Effect.gen(function*() {
      const fake = yield* Scenario.fakeImage(Scenario.scenarios["rate-limited"], "openai", {
        model: "gpt-image-2",
        latency: 0
      })
      const request = ImageRequest.make({ prompt: "a fox" })
      const errors: Array<string> = []
      for (let i = 0; i < 200; i++) {
        const result = yield* Effect.either(fake.service.generate(request))
        errors.push(Either.isLeft(result) ? result.left._tag : "success")
        if (i === 199) {
          expect(Either.isLeft(result) && result.left._tag === "RateLimited" && result.left.retryAfter).toEqual(
            Option.some(Duration.seconds(20))
          )
        }
        if (i % 10 === 9) yield* TestClock.adjust("2500 millis")
      }
      expect(errors.slice(0, 150)).not.toContain("RateLimited")
      expect(errors.slice(150).every((tag) => tag === "RateLimited")).toBe(true)
      // once the minute has passed the window is empty again
      yield* TestClock.adjust("1 minute")
      expect(yield* Effect.either(fake.service.generate(request))).toSatisfy(Either.isRight)
    })))
})

describe("Scenario.fakeText", () => {
  it.effect("stays healthy through a total outage while images are down", () =>
    seeded(Effect.gen(function*() {
      const scenario = Scenario.scenarios["total-outage"]
      const text = yield* Scenario.fakeText(scenario, "text", { model: "gpt-5-mini", latency: 0 })
      const image = yield* Scenario.fakeImage(scenario, "compatible", { model: "flux", latency: 0 })
      const request = TextRequest.make({ messages: [ChatMessage.make({ role: "user", content: "Describe a fox." })] })
      let textFailures = 0
      for (let i = 0; i < 200; i++) {
        if (Either.isLeft(yield* Effect.either(text.service.generate(request)))) textFailures++
      }
      expect(textFailures).toBeLessThan(10)
      expect(yield* failureShare(image, "1K", 50)).toBe(1)
      expect((yield* image.calls)[0]?.outcome).toBe("ProviderUnavailable")
      expect(text.service.route).toBe("text/gpt-5-mini")
    })))
})
