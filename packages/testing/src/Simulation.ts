/**
 * Plays a stream of requests through a pipeline under a named scenario. Run it
 * on `VirtualTime`, where hours of simulated outage take a fraction of a second.
 *
 * @since 0.1.0
 */
import {
  type GenerationError,
  type ImageGenerator,
  ImageRequest,
  type ImageResult,
  Pipeline,
  PipelineConfig,
  type TextGenerator
} from "@ballast/core"
import { Array as Arr, Clock, Duration, Effect, type Either, Fiber } from "effect"
import * as Scenario from "./Scenario.js"

/**
 * The reference plan of DESIGN.md, served by simulated providers: Gemini 3 Pro
 * Image at 4K then 2K, Gemini 3.1 Flash Image, OpenAI GPT image, a Flux server
 * behind an OpenAI-compatible endpoint, and a text description as the last rung.
 *
 * @since 0.1.0
 */
export const referenceConfig = {
  routes: {
    "gemini-pro": { provider: "google", model: "gemini-3-pro-image-preview" },
    "gemini-flash": { provider: "google", model: "gemini-3.1-flash-image-preview" },
    "openai": { provider: "openai", model: "gpt-image-2" },
    "flux": { provider: "openai-compatible", model: "flux-1.1-pro" },
    "writer": { provider: "openai", model: "gpt-5.2" }
  },
  plan: [
    { route: "gemini-pro", resolutions: ["4K", "2K"] },
    { route: "gemini-flash" },
    { route: "openai" },
    { route: "flux" },
    { describe: "writer" }
  ]
} as const

/**
 * The role each route of `referenceConfig` plays in a scenario.
 *
 * @since 0.1.0
 */
export const referenceRoles: Readonly<Record<string, Scenario.Role>> = {
  "gemini-pro": "primary",
  "gemini-flash": "flash",
  "openai": "openai",
  "flux": "compatible",
  "writer": "text"
}

/**
 * The simulated providers of every route, and how many calls they received.
 *
 * @since 0.1.0
 */
export interface SimulatedProviders {
  readonly image: Record<string, ImageGenerator.Service>
  readonly text: Record<string, TextGenerator.Service>
  /** Every call the providers received so far, across all routes. */
  readonly providerCalls: Effect.Effect<number>
}

/**
 * Simulated providers for every route of a configuration, each playing its
 * role in the scenario (routes without a role play `"openai"`).
 *
 * @since 0.1.0
 */
export const providers = (
  scenario: Scenario.Scenario,
  config: PipelineConfig.PipelineConfig,
  roles: Readonly<Record<string, Scenario.Role>> = referenceRoles
): Effect.Effect<SimulatedProviders> =>
  Effect.gen(function*() {
    const image: Record<string, ImageGenerator.Service> = {}
    const text: Record<string, TextGenerator.Service> = {}
    const counters: Array<Effect.Effect<number>> = []
    for (const [name, route] of Object.entries(config.routes)) {
      const role = roles[name] ?? "openai"
      const options = { model: route.model, provider: route.provider, route: name }
      if (role === "text") {
        const fake = yield* Scenario.fakeText(scenario, role, options)
        text[name] = fake.service
        counters.push(fake.callCount)
      } else {
        const fake = yield* Scenario.fakeImage(scenario, role, options)
        image[name] = fake.service
        counters.push(fake.callCount)
      }
    }
    const providerCalls = Effect.map(Effect.all(counters), (counts) => counts.reduce((a, b) => a + b, 0))
    return { image, text, providerCalls }
  })

/**
 * What happened to one simulated request.
 *
 * @since 0.1.0
 */
export interface Outcome {
  readonly index: number
  /** When it was sent, in ms since the simulation started. */
  readonly sentAt: number
  /** How long it took, in ms. */
  readonly latency: number
  readonly result: Either.Either<ImageResult, GenerationError>
}

/**
 * Figures over a simulation's outcomes.
 *
 * @since 0.1.0
 */
export interface Summary {
  readonly requests: number
  readonly answered: number
  readonly failed: number
  /** Answered requests / requests. */
  readonly successRate: number
  /** Answered at a lower resolution, another aspect ratio, or as a description, / answered. */
  readonly degradedShare: number
  readonly descriptions: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  /**
   * Provider calls made (as counted by the providers when given to
   * `summarize`, else estimated from the outcomes), and per answered request.
   */
  readonly providerCalls: number
  readonly callsPerAnswer: number
  /** Answers per route. */
  readonly byRoute: Readonly<Record<string, number>>
  /** Failures per error tag. */
  readonly byError: Readonly<Record<string, number>>
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

/**
 * Summarizes outcomes. Pass `providerCalls` as counted by the providers for an
 * exact figure; without it, each answer counts its `attempts` and each failure
 * one call per step it failed on (an estimate: retries within a failed step
 * are not visible in the error).
 *
 * @since 0.1.0
 */
export const summarize = (outcomes: ReadonlyArray<Outcome>, options?: { readonly providerCalls?: number }): Summary => {
  const answers = Arr.getRights(outcomes.map((o) => o.result))
  const failures = Arr.getLefts(outcomes.map((o) => o.result))
  const latencies = outcomes.map((o) => o.latency).sort((a, b) => a - b)
  const byRoute: Record<string, number> = {}
  for (const answer of answers) byRoute[answer.route] = (byRoute[answer.route] ?? 0) + 1
  const byError: Record<string, number> = {}
  for (const failure of failures) byError[failure._tag] = (byError[failure._tag] ?? 0) + 1
  const providerCalls = options?.providerCalls ?? answers.reduce((n, a) => n + a.attempts, 0) +
    failures.reduce((n, f) => n + (f._tag === "AllRoutesFailed" ? f.attempts.length : 1), 0)
  return {
    requests: outcomes.length,
    answered: answers.length,
    failed: failures.length,
    successRate: outcomes.length === 0 ? 0 : answers.length / outcomes.length,
    degradedShare: answers.length === 0 ? 0 : answers.filter((a) => a.degraded).length / answers.length,
    descriptions: answers.filter((a) => a.resolution === "description").length,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    providerCalls,
    callsPerAnswer: answers.length === 0 ? Infinity : providerCalls / answers.length,
    byRoute,
    byError
  }
}

/**
 * @since 0.1.0
 */
export interface RunOptions {
  /** The generator under test, e.g. a pipeline's `generate`. */
  readonly generate: (request: ImageRequest) => Effect.Effect<ImageResult, GenerationError>
  /** How long requests keep arriving. */
  readonly duration: Duration.DurationInput
  /** The time between two requests. */
  readonly interval: Duration.DurationInput
  /** The request to send as the `index`th; defaults to a 4K 16:9 image. */
  readonly request?: (index: number) => ImageRequest
  /** Called with each outcome as it completes (for progress output). */
  readonly onOutcome?: (outcome: Outcome) => Effect.Effect<void>
}

const defaultRequest = (index: number) =>
  ImageRequest.make({ prompt: `product shot #${index}`, resolution: "4K", aspectRatio: "16:9" })

/**
 * Sends a request every `interval` for `duration`, each on its own fiber, and
 * waits for all of them. Meant to run on virtual time (`VirtualTime.run`),
 * where three simulated hours take a fraction of a second.
 *
 * @since 0.1.0
 */
export const run = (options: RunOptions): Effect.Effect<ReadonlyArray<Outcome>> =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const interval = Duration.decode(options.interval)
    if (!Duration.greaterThan(interval, Duration.zero)) {
      return yield* Effect.dieMessage(`Simulation.run: interval must be positive, got ${Duration.format(interval)}`)
    }
    const count = Math.max(1, Math.floor(Duration.toMillis(options.duration) / Duration.toMillis(interval)))
    const makeRequest = options.request ?? defaultRequest
    const fibers: Array<Fiber.RuntimeFiber<Outcome>> = []
    for (let index = 0; index < count; index++) {
      if (index > 0) yield* Effect.sleep(interval)
      const sentAt = (yield* Clock.currentTimeMillis) - start
      fibers.push(
        yield* Effect.fork(
          options.generate(makeRequest(index)).pipe(
            Effect.either,
            Effect.flatMap((result) =>
              Effect.map(Clock.currentTimeMillis, (now): Outcome => ({
                index,
                sentAt,
                latency: now - start - sentAt,
                result
              }))
            ),
            Effect.tap((outcome) => (options.onOutcome ? options.onOutcome(outcome) : Effect.void))
          )
        )
      )
    }
    return yield* Fiber.joinAll(fibers)
  })

/**
 * A simulation's outcomes and their summary (with the provider calls counted
 * by the providers themselves).
 *
 * @since 0.1.0
 */
export interface Report {
  readonly outcomes: ReadonlyArray<Outcome>
  readonly summary: Summary
}

/**
 * Builds the reference pipeline (or `config`) on simulated providers playing
 * `scenario`, plays requests through it, and reports.
 *
 * @since 0.1.0
 */
export const runReference = (
  scenario: Scenario.Scenario,
  options: Omit<RunOptions, "generate"> & { readonly config?: unknown }
): Effect.Effect<Report, PipelineConfig.ConfigError> =>
  Effect.scoped(Effect.gen(function*() {
    const config = yield* PipelineConfig.decode(options.config ?? referenceConfig)
    const simulated = yield* providers(scenario, config)
    const pipeline = yield* Pipeline.make(config, simulated)
    const outcomes = yield* run({ ...options, generate: pipeline.generate })
    return { outcomes, summary: summarize(outcomes, { providerCalls: yield* simulated.providerCalls }) }
  }))
