import { type GenerationError, ImageRequest, type ImageResult, PipelineConfig } from "@ballast/core"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Either } from "effect"
import { Answer, FakeProvider, Scenario, Simulation, Strategies, VirtualTime } from "../src/index.js"

const request = ImageRequest.make({ prompt: "a lighthouse at dusk", resolution: "4K", aspectRatio: "16:9" })

const routes = ["gemini-pro", "gemini-flash", "openai", "flux"] as const
type Route = (typeof routes)[number]

/** Scripted fakes for the four image routes (and the writer); each route healthy unless scripted. */
const fakes = (scripts: Partial<Record<Route, ReadonlyArray<Answer>>>) =>
  Effect.gen(function*() {
    const image: Record<string, FakeProvider.FakeImage> = {}
    for (const route of routes) {
      image[route] = yield* FakeProvider.scripted({
        provider: Simulation.referenceConfig.routes[route].provider,
        model: Simulation.referenceConfig.routes[route].model,
        route,
        answers: scripts[route] ?? [Answer.ok({ latency: "10 seconds" })]
      })
    }
    const writer = yield* FakeProvider.scriptedText({ ...Simulation.referenceConfig.routes.writer, route: "writer", answers: [] })
    const providers = {
      image: Object.fromEntries(routes.map((route) => [route, image[route]!.service])),
      text: { writer: writer.service }
    }
    const counts = Effect.map(
      Effect.all(routes.map((route) => image[route]!.callCount)),
      (counts) => Object.fromEntries(routes.map((route, i) => [route, counts[i]!]))
    )
    return { providers, counts }
  })

/** Sends one request through a strategy, on virtual time; returns its result, latency and the calls per route. */
const play = (
  strategy: Strategies.StrategyName,
  scripts: Partial<Record<Route, ReadonlyArray<Answer>>>,
  requests = 1
) =>
  VirtualTime.runSync(Effect.scoped(Effect.gen(function*() {
    const { counts, providers } = yield* fakes(scripts)
    const generate = yield* Strategies.make(strategy, providers)
    const results: Array<{ readonly result: Either.Either<ImageResult, GenerationError>; readonly took: number }> = []
    for (let i = 0; i < requests; i++) {
      const start = yield* Clock.currentTimeMillis
      const result = yield* Effect.either(generate(request))
      results.push({ result, took: (yield* Clock.currentTimeMillis) - start })
    }
    return { results, counts: yield* counts }
  })))

const answerOf = (result: Either.Either<ImageResult, GenerationError>): ImageResult => {
  if (Either.isLeft(result)) throw new Error(`expected an answer, got ${result.left._tag}`)
  return result.right
}

const errorOf = (result: Either.Either<ImageResult, GenerationError>): GenerationError => {
  if (Either.isRight(result)) throw new Error(`expected a failure, got an answer from ${result.right.route}`)
  return result.left
}

describe("Strategies.none", () => {
  it("calls the primary once at the requested resolution", () => {
    const { counts, results } = play("none", {})
    expect(answerOf(results[0]!.result)).toMatchObject({
      route: "gemini-pro",
      resolution: "4K",
      requestedResolution: "4K",
      degraded: false,
      attempts: 1
    })
    expect(counts).toEqual({ "gemini-pro": 1, "gemini-flash": 0, "openai": 0, "flux": 0 })
  })

  it("fails when the primary is down, without retrying or falling back", () => {
    const { counts, results } = play("none", { "gemini-pro": [Answer.overloaded()] })
    expect(errorOf(results[0]!.result)._tag).toBe("Overloaded")
    expect(counts).toEqual({ "gemini-pro": 1, "gemini-flash": 0, "openai": 0, "flux": 0 })
  })
})

describe("Strategies.retryOnly", () => {
  it("makes 5 attempts in all on a down primary, backing off exponentially from 2 s with jitter", () => {
    const { counts, results } = play("retry-only", { "gemini-pro": [Answer.overloaded()] })
    expect(errorOf(results[0]!.result)._tag).toBe("Overloaded")
    expect(counts["gemini-pro"]).toBe(5)
    expect(counts["gemini-flash"]).toBe(0)
    // 2 + 4 + 8 + 16 = 30 s of backoff, each jittered by [0.8, 1.2)
    expect(results[0]!.took).toBeGreaterThanOrEqual(24_000)
    expect(results[0]!.took).toBeLessThan(36_000)
  })

  it("retries every retryable error, counts the calls in attempts, and never retries a BadRequest", () => {
    const recovered = play("retry-only", {
      "gemini-pro": [Answer.overloaded(), Answer.rateLimited(), Answer.timeout(), Answer.ok()]
    })
    expect(answerOf(recovered.results[0]!.result)).toMatchObject({ route: "gemini-pro", attempts: 4, degraded: false })
    const refused = play("retry-only", { "gemini-pro": [Answer.badRequest("request")] })
    expect(errorOf(refused.results[0]!.result)._tag).toBe("BadRequest")
    expect(refused.counts["gemini-pro"]).toBe(1)
  })
})

describe("Strategies.recipe", () => {
  it("retries 503s only, then falls back along the model list", () => {
    const overloaded = play("recipe", { "gemini-pro": [Answer.overloaded(), Answer.overloaded(), Answer.ok()] })
    expect(answerOf(overloaded.results[0]!.result)).toMatchObject({ route: "gemini-pro", attempts: 3 })
    const unavailable = play("recipe", { "gemini-pro": [Answer.unavailable()] })
    expect(answerOf(unavailable.results[0]!.result)).toMatchObject({
      route: "gemini-flash",
      resolution: "4K",
      requestedResolution: "4K",
      degraded: false,
      attempts: 2
    })
    expect(unavailable.counts).toEqual({ "gemini-pro": 1, "gemini-flash": 1, "openai": 0, "flux": 0 })
  })

  it("opens its one shared breaker on the primary's failures and then fails the healthy fallbacks fast", () => {
    const { counts, results } = play("recipe", { "gemini-pro": [Answer.overloaded()] }, 3)
    // The five 503s of the first request open the breaker the fallbacks share.
    for (const { result, took } of results) {
      expect(errorOf(result)._tag).toBe("CircuitOpen")
      expect(took).toBeLessThan(60_000)
    }
    expect(counts).toEqual({ "gemini-pro": 5, "gemini-flash": 0, "openai": 0, "flux": 0 })
    expect(results[1]!.took).toBe(0)
  })
})

describe("Strategies.make", () => {
  it("lists the strategies, and builds Ballast's pipeline for \"ballast\"", () => {
    expect(Strategies.strategyNames).toEqual(["none", "retry-only", "recipe", "ballast"])
    expect(Strategies.isStrategyName("recipe")).toBe(true)
    expect(Strategies.isStrategyName("yolo")).toBe(false)
    const { results } = play("ballast", { "gemini-pro": [Answer.badRequest("route")] })
    const answer = answerOf(results[0]!.result)
    expect(answer.route).not.toBe("gemini-pro")
    expect(answer.requestedResolution).toBe("4K")
  })
})

describe("Strategies.instrument", () => {
  it("times every generation call and counts probes apart", () =>
    VirtualTime.runSync(Effect.gen(function*() {
      const config = yield* PipelineConfig.decode(Simulation.referenceConfig)
      const simulated = yield* Simulation.providers(Scenario.scenarios.steady, config)
      const instrumented = Strategies.instrument(simulated)
      const openai = instrumented.providers.image["openai"]!
      yield* Effect.either(openai.generate(request))
      yield* Effect.either(openai.probe!)
      yield* Effect.either(openai.probe!)
      expect(instrumented.started()).toBe(1)
      expect(instrumented.probes()).toBe(2)
      expect(instrumented.calls).toHaveLength(1)
      expect(instrumented.calls[0]!.route).toBe("openai")
      expect(instrumented.calls[0]!.duration).toBeGreaterThan(0)
      expect(yield* simulated.providerCalls).toBe(1)
    })))
})

describe("Strategies.troublePeriod", () => {
  it("is the first stretch in which the primary fails more than 25% of its calls", () => {
    const minute = 60_000
    expect(Strategies.troublePeriod(Scenario.scenarios["outage-2h"])).toEqual([0, 120 * minute])
    expect(Strategies.troublePeriod(Scenario.scenarios["feb-19"])).toEqual([0, 360 * minute])
    expect(Strategies.troublePeriod(Scenario.scenarios["total-outage"])).toEqual([0, 30 * minute])
    expect(Strategies.troublePeriod(Scenario.scenarios.steady)).toBeUndefined()
    expect(Strategies.troublePeriod(Scenario.scenarios["rate-limited"])).toBeUndefined()
    // midnight PT: the first peak window opens at 09:00 PT
    expect(Strategies.troublePeriod(Scenario.scenarios["peak-day"], Strategies.defaultStart)).toEqual([
      9 * 60 * minute,
      11 * 60 * minute
    ])
  })
})

describe("Strategies.simulate", () => {
  const scenario = Scenario.scenarios["outage-2h"]
  // 150 minutes: the two-hour outage and half an hour of recovery, at 2 requests a minute.
  const rowOf = (strategy: Strategies.StrategyName, seed = 7) =>
    Strategies.simulate({ scenario, strategy, requestsPerMinute: 2, seed, duration: "150 minutes" })

  it("shows the baselines failing through outage-2h and Ballast failing over", () => {
    const none = rowOf("none")
    const retryOnly = rowOf("retry-only")
    const recipe = rowOf("recipe")
    const ballast = rowOf("ballast")
    for (const row of [none, retryOnly, recipe, ballast]) expect(row.requests).toBe(300)
    // Only the last half hour has a primary to answer for the single-route baselines.
    expect(none.successRate).toBeLessThan(0.25)
    expect(retryOnly.successRate).toBeLessThan(ballast.successRate)
    expect(recipe.successRate).toBeLessThan(ballast.successRate)
    expect(ballast.successRate).toBeGreaterThan(0.99)
    // Retry amplification: retry-only spends many calls per answer, Ballast about one.
    expect(retryOnly.callsPerSuccess!).toBeGreaterThan(3 * ballast.callsPerSuccess!)
    expect(ballast.callsPerSuccess!).toBeLessThan(1.5)
    // Only Ballast fails over: the recipe's shared breaker keeps its fallbacks shut.
    expect([none.timeToFailover, retryOnly.timeToFailover, recipe.timeToFailover]).toEqual([null, null, null])
    expect(ballast.timeToFailover).not.toBeNull()
    // Within one probe interval (at most 30 s) of the outage.
    expect(ballast.timeToFailover!).toBeLessThanOrEqual(30)
    expect(ballast.fallbackRoute).not.toBe("gemini-pro")
    // After the failover, requests cost no more than the fallback costs on its own, give or take a second
    // (simulated seconds, not wall-clock; Ballast can do better by routing around the fallback's own blips).
    expect(ballast.fallbackP95).not.toBeNull()
    expect(ballast.p95AfterFailover! - ballast.fallbackP95!).toBeLessThanOrEqual(1)
    // Probes are counted apart from the calls; the baselines send none.
    expect([none.probes, retryOnly.probes, recipe.probes]).toEqual([0, 0, 0])
    expect(ballast.providerCalls).toBeGreaterThanOrEqual(300 * ballast.successRate)
  })

  it("is deterministic for a seed", () => {
    expect(rowOf("recipe", 3)).toEqual(rowOf("recipe", 3))
    expect(rowOf("none", 3)).not.toEqual(rowOf("none", 4))
  })
})
