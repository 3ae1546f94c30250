import {
  AllRoutesFailed,
  FailedAttempt,
  type GenerationError,
  ImageRequest,
  ImageResult,
  Overloaded,
  type Resolution,
  Timeout
} from "@ballast/core"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Either, Exit, Random } from "effect"
import { Scenario, Simulation, VirtualTime } from "../src/index.js"

const labels = { provider: "google", model: "gemini-3-pro-image-preview" }

const answer = (
  route: string,
  options: { readonly resolution?: Resolution | "description"; readonly degraded?: boolean; readonly attempts?: number } =
    {}
) =>
  ImageResult.make({
    images: [],
    route,
    ...labels,
    resolution: options.resolution ?? "4K",
    requestedResolution: "4K",
    aspectRatio: "16:9",
    degraded: options.degraded ?? false,
    attempts: options.attempts ?? 1,
    latency: Duration.zero
  })

const allFailed = (steps: number) =>
  new AllRoutesFailed({
    provider: "ballast",
    model: "pipeline",
    message: "every route failed",
    attempts: Array.from({ length: steps }, (_, i) =>
      new FailedAttempt({ route: `route-${i}`, resolution: "4K", error: new Overloaded({ ...labels, message: "busy" }) }))
  })

const outcome = (
  index: number,
  latency: number,
  result: Either.Either<ImageResult, GenerationError>
): Simulation.Outcome => ({ index, sentAt: index * 1_000, latency, result })

/** The value of a successful exit (fails the test otherwise). */
const valueOf = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isFailure(exit)) throw new Error(`expected success, got ${Cause.pretty(exit.cause)}`)
  return exit.value
}

describe("Simulation.summarize", () => {
  it("counts answers, failures, degraded answers, descriptions, calls, routes and errors", () => {
    const outcomes = [
      outcome(0, 30_000, Either.right(answer("gemini-pro"))),
      outcome(1, 45_000, Either.right(answer("gemini-pro", { attempts: 2 }))),
      outcome(2, 50_000, Either.right(answer("gemini-pro", { resolution: "2K", degraded: true, attempts: 3 }))),
      outcome(3, 8_000, Either.right(answer("openai", { degraded: true }))),
      outcome(4, 2_000, Either.right(answer("describe", { resolution: "description", degraded: true, attempts: 1 }))),
      outcome(5, 180_000, Either.left(new Timeout({ ...labels, message: "deadline passed" }))),
      outcome(6, 90_000, Either.left(allFailed(4))),
      outcome(7, 95_000, Either.left(allFailed(2)))
    ]
    const summary = Simulation.summarize(outcomes)
    expect(summary).toMatchObject({
      requests: 8,
      answered: 5,
      failed: 3,
      successRate: 5 / 8,
      degradedShare: 3 / 5,
      descriptions: 1,
      // answers: 1 + 2 + 3 + 1 + 1; failures: Timeout 1, AllRoutesFailed 4 and 2
      providerCalls: 8 + 1 + 6,
      callsPerAnswer: 15 / 5,
      byRoute: { "gemini-pro": 3, "openai": 1, "describe": 1 },
      byError: { Timeout: 1, AllRoutesFailed: 2 }
    })
    // latencies sorted: 2, 8, 30, 45, 50, 90, 95, 180 (s); nearest rank over every request, failed ones included
    expect([summary.p50, summary.p95, summary.p99]).toStrictEqual([45_000, 180_000, 180_000])
  })

  it("percentiles are nearest-rank over the latencies, whatever their order", () => {
    const latencies = Array.from({ length: 100 }, (_, i) => (i * 37) % 100 + 1) // 1..100 shuffled
    const summary = Simulation.summarize(latencies.map((latency, i) => outcome(i, latency, Either.right(answer("a")))))
    expect([summary.p50, summary.p95, summary.p99]).toStrictEqual([50, 95, 99])

    const one = Simulation.summarize([outcome(0, 1_234, Either.right(answer("a")))])
    expect([one.p50, one.p95, one.p99]).toStrictEqual([1_234, 1_234, 1_234])

    const twenty = Simulation.summarize(
      Array.from({ length: 20 }, (_, i) => outcome(i, (i + 1) * 10, Either.right(answer("a"))))
    )
    expect([twenty.p50, twenty.p95, twenty.p99]).toStrictEqual([100, 190, 200])
  })

  it("is well defined with no outcomes and with no answers", () => {
    expect(Simulation.summarize([])).toStrictEqual({
      requests: 0,
      answered: 0,
      failed: 0,
      successRate: 0,
      degradedShare: 0,
      descriptions: 0,
      p50: 0,
      p95: 0,
      p99: 0,
      providerCalls: 0,
      callsPerAnswer: Infinity,
      byRoute: {},
      byError: {}
    })
    const noAnswers = Simulation.summarize([outcome(0, 5, Either.left(allFailed(3)))])
    expect(noAnswers).toMatchObject({ successRate: 0, degradedShare: 0, providerCalls: 3, callsPerAnswer: Infinity })
  })
})

describe("Simulation.run", () => {
  it("sends duration/interval requests, one every interval, each on its own fiber", () => {
    const seen: Array<ImageRequest> = []
    const completed: Array<number> = []
    // request i takes (6 - i) × 7 s, so later requests finish first
    const latencyOf = (index: number) => (6 - index) * 7_000
    const exit = VirtualTime.run(
      Simulation.run({
        duration: "1 minute",
        interval: "10 seconds",
        generate: (request) =>
          Effect.suspend(() => {
            seen.push(request)
            const index = seen.length - 1
            return Effect.as(Effect.sleep(latencyOf(index)), answer(`route-${index}`))
          }),
        onOutcome: (o) => Effect.sync(() => completed.push(o.index))
      }),
      { start: Date.UTC(2026, 1, 19, 12) }
    )
    const outcomes = valueOf(exit)
    expect(outcomes.map((o) => [o.index, o.sentAt, o.latency])).toStrictEqual(
      [0, 1, 2, 3, 4, 5].map((i) => [i, i * 10_000, latencyOf(i)])
    )
    expect(outcomes.map((o) => Either.isRight(o.result) && o.result.right.route)).toStrictEqual(
      [0, 1, 2, 3, 4, 5].map((i) => `route-${i}`)
    )
    // the default request: a 4K 16:9 product shot, numbered
    expect(seen.map((r) => [r.prompt, r.resolution, r.aspectRatio])).toStrictEqual(
      [0, 1, 2, 3, 4, 5].map((i) => [`product shot #${i}`, "4K", "16:9"])
    )
    // ends: 0 → 42 s, 1 → 45 s, 2 → 48 s, 3 → 51 s, 4 → 54 s, 5 → 57 s
    expect(completed).toStrictEqual([0, 1, 2, 3, 4, 5])
  })

  it("keeps failures as outcomes, uses the request function, and sends at least one request", () => {
    const exit = VirtualTime.run(
      Simulation.run({
        duration: "30 seconds",
        interval: "10 seconds",
        request: (index) => ImageRequest.make({ prompt: `icon ${index}`, resolution: "1K" }),
        generate: (request) =>
          request.prompt === "icon 1"
            ? Effect.zipRight(Effect.sleep("3 seconds"), Effect.fail(new Timeout({ ...labels, message: "slow" })))
            : Effect.succeed(answer(request.prompt, { resolution: request.resolution }))
      })
    )
    const outcomes = valueOf(exit)
    expect(outcomes.map((o) => [o.sentAt, o.latency, Either.isRight(o.result)])).toStrictEqual([
      [0, 0, true],
      [10_000, 3_000, false],
      [20_000, 0, true]
    ])
    expect(Either.getOrThrow(outcomes[2]!.result)).toMatchObject({ route: "icon 2", resolution: "1K" })

    // floor(duration / interval) requests: 25 s at 10 s intervals is two, at 0 and 10 s
    const partial = valueOf(
      VirtualTime.run(Simulation.run({ duration: "25 seconds", interval: "10 seconds", generate: () => Effect.succeed(answer("a")) }))
    )
    expect(partial.map((o) => o.sentAt)).toStrictEqual([0, 10_000])
    const single = valueOf(
      VirtualTime.run(Simulation.run({ duration: "1 second", interval: "1 minute", generate: () => Effect.succeed(answer("a")) }))
    )
    expect(single.map((o) => o.sentAt)).toStrictEqual([0])
  })
})

describe("Simulation.runReference", () => {
  it("answers at least 99% of an hour of steady traffic through the reference plan", () => {
    const exit = VirtualTime.run(
      Simulation.runReference(Scenario.scenarios.steady, { duration: "1 hour", interval: "15 seconds" }).pipe(
        Effect.withRandom(Random.make("steady"))
      )
    )
    const { outcomes, summary } = valueOf(exit)
    expect(summary.requests).toBe(240)
    expect(outcomes.map((o) => o.sentAt)).toStrictEqual(Array.from({ length: 240 }, (_, i) => i * 15_000))
    expect(summary.successRate).toBeGreaterThanOrEqual(0.99)
    // steady: the primary answers nearly everything, without a retry storm
    expect(summary.byRoute["gemini-pro"]! / summary.answered).toBeGreaterThan(0.9)
    expect(summary.callsPerAnswer).toBeLessThan(1.3)
    expect(summary.p99).toBeLessThanOrEqual(180_000)
  })

  it("rejects an invalid configuration with a ConfigError", () => {
    const exit = VirtualTime.run(
      Simulation.runReference(Scenario.scenarios.steady, { duration: "1 minute", interval: "10 seconds", config: { routes: {} } })
    )
    expect(Exit.isFailure(exit) && Cause.isFailType(exit.cause)).toBe(true)
  })
})
