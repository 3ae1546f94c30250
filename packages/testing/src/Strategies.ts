/**
 * The strategies the simulator compares: no resilience, retry-only, the widely
 * copied recipe (retry on 503, one breaker shared by every model, a model
 * list) and Ballast's pipeline — each built on the same simulated providers —
 * and the figures of one simulated run of a scenario per strategy.
 *
 * @since 0.1.0
 */
import {
  CircuitBreaker,
  Errors,
  type GenerationError,
  type ImageGenerator,
  ImageRequest,
  ImageResult,
  Pipeline,
  PipelineConfig,
  Retry,
  type TextGenerator
} from "@ballast/core"
import { Clock, Duration, Effect, Either, Random, Schedule, type Scope } from "effect"
import * as Scenario from "./Scenario.js"
import * as Simulation from "./Simulation.js"
import * as VirtualTime from "./VirtualTime.js"

/**
 * The names of the strategies.
 *
 * @since 0.1.0
 */
export type StrategyName = "none" | "retry-only" | "recipe" | "ballast"

/**
 * Every strategy, in the order the simulator prints them.
 *
 * @since 0.1.0
 */
export const strategyNames: ReadonlyArray<StrategyName> = ["none", "retry-only", "recipe", "ballast"]

/**
 * Whether a string names a strategy.
 *
 * @since 0.1.0
 */
export const isStrategyName = (name: string): name is StrategyName =>
  (strategyNames as ReadonlyArray<string>).includes(name)

/**
 * What a strategy turns the providers into: one generate function.
 *
 * @since 0.1.0
 */
export type Generate = (request: ImageRequest) => Effect.Effect<ImageResult, GenerationError>

/**
 * The providers a strategy is built on, by route name (the shape of
 * `Simulation.SimulatedProviders` and `Pipeline.Providers`).
 *
 * @since 0.1.0
 */
export interface Providers {
  readonly image: Readonly<Record<string, ImageGenerator.Service>>
  readonly text?: Readonly<Record<string, TextGenerator.Service>>
}

/**
 * The primary route of the reference plan, the one `none` and `retry-only` use.
 *
 * @since 0.1.0
 */
export const primaryRoute = "gemini-pro"

/**
 * The recipe's model list, tried in order.
 *
 * @since 0.1.0
 */
export const recipeRoutes: ReadonlyArray<string> = ["gemini-pro", "gemini-flash", "openai", "flux"]

const routeOf = (providers: Providers, name: string): ImageGenerator.Service => {
  const service = providers.image[name]
  if (service === undefined) throw new Error(`Strategies: no image provider for route "${name}"`)
  return service
}

/**
 * Runs `attempt` (given a counted call of a route) for one request, and stamps
 * the answer with the provider calls it made and the request's whole latency.
 */
const counted = (
  request: ImageRequest,
  attempt: (call: (service: ImageGenerator.Service) => Effect.Effect<ImageResult, GenerationError>) => Effect.Effect<
    ImageResult,
    GenerationError
  >
): Effect.Effect<ImageResult, GenerationError> =>
  Effect.flatMap(Clock.currentTimeMillis, (start) => {
    let calls = 0
    const call = (service: ImageGenerator.Service) =>
      Effect.suspend(() => {
        calls++
        return service.generate(request)
      })
    return Effect.flatMap(attempt(call), (result) =>
      Effect.map(Clock.currentTimeMillis, (end) =>
        ImageResult.make({ ...result, attempts: calls, latency: Duration.millis(end - start) }, {
          disableValidation: true
        })))
  })

/**
 * No resilience: the primary route once, at the requested resolution.
 *
 * @since 0.1.0
 */
export const none = (providers: Providers): Generate => {
  const primary = routeOf(providers, primaryRoute)
  return (request) => counted(request, (call) => call(primary))
}

/**
 * Retry-only: the primary route, up to 5 attempts in all, backing off
 * exponentially from 2 s with jitter, retrying every retryable error
 * (`Errors.isRetryable`).
 *
 * @since 0.1.0
 */
export const retryOnly = (providers: Providers): Generate => {
  const primary = routeOf(providers, primaryRoute)
  const policy = Schedule.exponential("2 seconds").pipe(
    Schedule.jittered,
    Schedule.whileInput(Errors.isRetryable),
    Schedule.intersect(Schedule.recurs(4))
  )
  return (request) => counted(request, (call) => Retry.retryWith(call(primary), policy))
}

/**
 * The widely copied recipe: each model of `recipeRoutes` in turn
 * (`Effect.orElse`), each call retried on 503 (`Overloaded`) only, up to 5
 * attempts, exponentially from 2 s, every call guarded by ONE circuit breaker
 * shared by all the models (`CircuitBreaker.make` defaults). No resolution
 * ladder, no description. Its known flaw: the primary's failures open the
 * shared breaker, which then fails the healthy fallbacks fast too.
 *
 * @since 0.1.0
 */
export const recipe = (providers: Providers): Effect.Effect<Generate> =>
  Effect.map(CircuitBreaker.make({ route: "shared" }), (breaker) => {
    const models = recipeRoutes.map((name) => routeOf(providers, name))
    const policy = Schedule.exponential("2 seconds").pipe(
      Schedule.whileInput((error: GenerationError) => error._tag === "Overloaded"),
      Schedule.intersect(Schedule.recurs(4))
    )
    return (request) =>
      counted(request, (call) => {
        const tryModel = (model: ImageGenerator.Service) => Retry.retryWith(breaker.guard(call(model)), policy)
        const [first, ...rest] = models
        return rest.reduce(
          (chain, model) => Effect.orElse(chain, () => tryModel(model)),
          tryModel(first!)
        )
      })
  })

/**
 * Builds a strategy's generate function from the providers. `"ballast"` is
 * `Pipeline.make(config, providers)` (the reference plan by default); its
 * background work (health probes) lives as long as the surrounding `Scope`.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { ImageRequest, PipelineConfig } from "@ballast/core"
 * import { Scenario, Simulation, Strategies } from "@ballast/testing"
 *
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const config = yield* PipelineConfig.decode(Simulation.referenceConfig)
 *   const providers = yield* Simulation.providers(Scenario.scenarios["outage-2h"], config)
 *   const generate = yield* Strategies.make("recipe", providers)
 *   return yield* Effect.either(generate(ImageRequest.make({ prompt: "a fox", resolution: "4K" })))
 * }))
 */
export const make = (
  name: StrategyName,
  providers: Providers,
  config?: PipelineConfig.PipelineConfig
): Effect.Effect<Generate, PipelineConfig.ConfigError, Scope.Scope> => {
  switch (name) {
    case "none":
      return Effect.sync(() => none(providers))
    case "retry-only":
      return Effect.sync(() => retryOnly(providers))
    case "recipe":
      return recipe(providers)
    case "ballast":
      return Effect.gen(function*() {
        const decoded = config ?? (yield* PipelineConfig.decode(Simulation.referenceConfig))
        const pipeline = yield* Pipeline.make(decoded, providers)
        return pipeline.generate
      })
  }
}

// ---------------------------------------------------------------------------
// Instrumented providers
// ---------------------------------------------------------------------------

/**
 * One provider call, as measured by `instrument`.
 *
 * @since 0.1.0
 */
export interface ProviderCall {
  readonly route: string
  /** Clock milliseconds when the call started. */
  readonly at: number
  /** How long it took, in milliseconds. */
  readonly duration: number
  readonly success: boolean
}

/**
 * Providers wrapped to measure every generation call (route, start, duration,
 * success) and count health probes apart.
 *
 * @since 0.1.0
 */
export interface Instrumented {
  readonly providers: {
    readonly image: Record<string, ImageGenerator.Service>
    readonly text: Record<string, TextGenerator.Service>
  }
  /** Generation calls that have ended, in the order they ended. */
  readonly calls: ReadonlyArray<ProviderCall>
  /** Generation calls started so far (probes excluded). */
  readonly started: () => number
  /** Health probes made so far. */
  readonly probes: () => number
}

/**
 * Wraps providers in a small timing layer: each generation call is recorded
 * with its provider-side duration, each probe counted. Read the figures after
 * the run.
 *
 * @since 0.1.0
 */
export const instrument = (providers: Providers): Instrumented => {
  const calls: Array<ProviderCall> = []
  let started = 0
  let probes = 0
  const timed = <A>(route: string, effect: Effect.Effect<A, GenerationError>) =>
    Effect.flatMap(Clock.currentTimeMillis, (at) => {
      started++
      return Effect.onExit(effect, (exit) =>
        Effect.map(Clock.currentTimeMillis, (end) => {
          calls.push({ route, at, duration: end - at, success: exit._tag === "Success" })
        }))
    })
  const countedProbe = (probe: Effect.Effect<void, GenerationError> | undefined) =>
    probe === undefined ? {} : {
      probe: Effect.suspend(() => {
        probes++
        return probe
      })
    }
  const image: Record<string, ImageGenerator.Service> = {}
  for (const [name, service] of Object.entries(providers.image)) {
    image[name] = {
      ...service,
      ...countedProbe(service.probe),
      generate: (request) => timed(name, service.generate(request))
    }
  }
  const text: Record<string, TextGenerator.Service> = {}
  for (const [name, service] of Object.entries(providers.text ?? {})) {
    text[name] = {
      ...service,
      ...countedProbe(service.probe),
      generate: (request) => timed(name, service.generate(request))
    }
  }
  return { providers: { image, text }, calls, started: () => started, probes: () => probes }
}

// ---------------------------------------------------------------------------
// The simulator's rows
// ---------------------------------------------------------------------------

/**
 * How often the primary must fail for the simulator to call it "in trouble":
 * more than the failure ratio at which a breaker opens by default (25%).
 *
 * @since 0.1.0
 */
export const troubleThreshold: number = CircuitBreaker.defaults.failureRatio

/**
 * The period in which a scenario's primary is in trouble, as `[from, to)`
 * milliseconds since the scenario started: the first stretch, sampled every
 * minute at 4K, in which the primary fails more than `troubleThreshold` of its
 * calls (the outage of `outage-2h`, the six hours of `feb-19`, the first peak
 * window of `peak-day`). `undefined` when it never does (`steady`,
 * `rate-limited`).
 *
 * @since 0.1.0
 */
export const troublePeriod = (
  scenario: Scenario.Scenario,
  start = 0
): readonly [from: number, to: number] | undefined => {
  const total = Duration.toMillis(scenario.duration)
  const inTrouble = (elapsed: number) =>
    scenario.conditions("primary", { elapsed, now: start + elapsed, resolution: "4K", recentRequests: 0 })
      .failureRate > troubleThreshold
  let from: number | undefined
  for (let elapsed = 0; elapsed < total; elapsed += 60_000) {
    if (from === undefined && inTrouble(elapsed)) from = elapsed
    else if (from !== undefined && !inTrouble(elapsed)) return [from, elapsed]
  }
  return from === undefined ? undefined : [from, total]
}

/**
 * One strategy's figures over a simulated run of a scenario. Latencies are
 * seconds; `null` where a figure does not apply.
 *
 * @since 0.1.0
 */
export interface Row {
  readonly strategy: StrategyName
  readonly scenario: Scenario.ScenarioName
  readonly requests: number
  /** Answered / sent. */
  readonly successRate: number
  /** Answers at a lower resolution, another aspect ratio or as a description, / answers. */
  readonly degradedShare: number
  /** Request latency percentiles (answers and failures), in seconds. */
  readonly p50: number
  readonly p95: number
  readonly p99: number
  /** Generation calls to providers (health probes excluded). */
  readonly providerCalls: number
  /** Provider calls ÷ answers: retry amplification. `null` with no answer. */
  readonly callsPerSuccess: number | null
  /** Health probes sent (not in `providerCalls`). */
  readonly probes: number
  /**
   * Seconds from the start of the primary's trouble (`troublePeriod`) to the
   * first request answered by a fallback with a single provider call (no call
   * to the primary); `null` ("never") without such a request or trouble.
   */
  readonly timeToFailover: number | null
  /** p95 latency (s) of requests sent after the failover and while the primary is still in trouble. */
  readonly p95AfterFailover: number | null
  /** The route that answered most of those requests. */
  readonly fallbackRoute: string | null
  /**
   * The fallback's own p95 (s): the latency of the same requests sent in the
   * same period straight to `fallbackRoute` alone (a plan of that one route,
   * with the same retries), in a separate run — what the fallback costs
   * without any failover. Filled in by `simulate`.
   */
  readonly fallbackP95: number | null
}

/**
 * @since 0.1.0
 */
export interface SimulateOptions {
  readonly scenario: Scenario.Scenario
  readonly strategy: StrategyName
  /** Requests sent per minute (4K, 16:9). Default 6. */
  readonly requestsPerMinute?: number
  /** Seeds `Random`: the same seed gives the same row. Default 1. */
  readonly seed?: number
  /** Epoch ms at which the simulated run starts. Default `defaultStart`. */
  readonly start?: number
  /** How long requests keep arriving. Default: the scenario's `duration`. */
  readonly duration?: Duration.DurationInput
}

/**
 * When simulated runs start: midnight in America/Los_Angeles on 2026-02-19
 * (08:00 UTC), so that `peak-day` sees a whole PT day.
 *
 * @since 0.1.0
 */
export const defaultStart = Date.UTC(2026, 1, 19, 8)

const percentile = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

const seconds = (millis: number): number => millis / 1000

const request = (index: number) =>
  ImageRequest.make({ prompt: `product shot #${index}`, resolution: "4K", aspectRatio: "16:9" })

/**
 * Computes a row from a run's outcomes and its provider calls (all times in
 * milliseconds since the run started).
 */
const rowOf = (
  options: { readonly strategy: StrategyName; readonly scenario: Scenario.Scenario; readonly start: number },
  outcomes: ReadonlyArray<Simulation.Outcome>,
  calls: ReadonlyArray<ProviderCall>,
  probes: number
): Row => {
  const providerCalls = calls.length
  const summary = Simulation.summarize(outcomes, { providerCalls })
  const trouble = troublePeriod(options.scenario, options.start)
  const sorted = [...outcomes].sort((a, b) => a.sentAt - b.sentAt)
  const failover = trouble === undefined ? undefined : sorted.find((o) =>
    o.sentAt >= trouble[0] && o.sentAt < trouble[1] && Either.isRight(o.result) &&
    o.result.right.route !== primaryRoute && o.result.right.attempts === 1
  )
  let p95AfterFailover: number | null = null
  let fallbackRoute: string | null = null
  let fallbackP95: number | null = null
  if (trouble !== undefined && failover !== undefined) {
    const after = sorted.filter((o) => o.sentAt >= failover.sentAt && o.sentAt < trouble[1])
    p95AfterFailover = seconds(percentile(after.map((o) => o.latency), 95))
    const byRoute = new Map<string, number>()
    for (const o of after) {
      if (Either.isRight(o.result)) byRoute.set(o.result.right.route, (byRoute.get(o.result.right.route) ?? 0) + 1)
    }
    let most = 0
    for (const [route, count] of byRoute) {
      if (count > most) [fallbackRoute, most] = [route, count]
    }
  }
  return {
    strategy: options.strategy,
    scenario: options.scenario.name,
    requests: summary.requests,
    successRate: summary.successRate,
    degradedShare: summary.degradedShare,
    p50: seconds(summary.p50),
    p95: seconds(summary.p95),
    p99: seconds(summary.p99),
    providerCalls,
    callsPerSuccess: summary.answered === 0 ? null : providerCalls / summary.answered,
    probes,
    timeToFailover: trouble === undefined || failover === undefined ? null : seconds(failover.sentAt - trouble[0]),
    p95AfterFailover,
    fallbackRoute,
    fallbackP95
  }
}

/**
 * Simulates one strategy through a scenario, as an effect to run on virtual
 * time: fresh simulated providers for the reference plan (instrumented), a
 * 4K 16:9 request every `60 / requestsPerMinute` seconds for the scenario's
 * duration, then the row. Randomness comes from `Random` (seed it with
 * `Effect.withRandom`); `simulate` does both.
 *
 * @since 0.1.0
 */
export const simulateEffect = (
  options: Omit<SimulateOptions, "seed" | "start">
): Effect.Effect<Row, PipelineConfig.ConfigError> =>
  Effect.scoped(Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const config = yield* PipelineConfig.decode(Simulation.referenceConfig)
    const simulated = yield* Simulation.providers(options.scenario, config)
    const instrumented = instrument(simulated)
    const generate = yield* make(options.strategy, instrumented.providers, config)
    const perMinute = options.requestsPerMinute ?? 6
    const outcomes = yield* Simulation.run({
      generate,
      duration: options.duration ?? options.scenario.duration,
      interval: Duration.millis(60_000 / perMinute),
      request
    })
    return rowOf(
      { strategy: options.strategy, scenario: options.scenario, start },
      outcomes,
      instrumented.calls,
      instrumented.probes()
    )
  }))

/**
 * Simulates one strategy through a scenario on virtual time (a simulated day
 * takes seconds) with a seeded `Random`: the same options give the same row.
 *
 * @since 0.1.0
 * @example
 * import { Scenario, Strategies } from "@ballast/testing"
 *
 * const row = Strategies.simulate({ scenario: Scenario.scenarios["outage-2h"], strategy: "recipe", seed: 7 })
 * console.log(row.successRate, row.timeToFailover)
 */
export const simulate = (options: SimulateOptions): Row => {
  const start = options.start ?? defaultStart
  const seeded = <A, E>(effect: Effect.Effect<A, E>) => effect.pipe(Effect.withRandom(Random.make(options.seed ?? 1)))
  const row = VirtualTime.runSync(seeded(simulateEffect(options)), { start })
  const trouble = troublePeriod(options.scenario, start)
  // Only an image route can be asked for the same requests alone (a description is not an image).
  const imageRoute = row.fallbackRoute !== null && Simulation.referenceRoles[row.fallbackRoute] !== "text"
  if (!imageRoute || row.timeToFailover === null || trouble === undefined) return row
  const from = trouble[0] + row.timeToFailover * 1000
  const alone = VirtualTime.runSync(
    seeded(fallbackAlone({ ...options, route: row.fallbackRoute!, from, to: trouble[1] })),
    { start }
  )
  return { ...row, fallbackP95: alone }
}

// The p95 latency (s) of requests sent from `from` to `to` (ms into the scenario) to `route` alone: a plan of
// that one route with the reference settings, on fresh simulated providers created when the scenario starts.
const fallbackAlone = (
  options: Omit<SimulateOptions, "seed" | "start"> & { readonly route: string; readonly from: number; readonly to: number }
): Effect.Effect<number, PipelineConfig.ConfigError> =>
  Effect.scoped(Effect.gen(function*() {
    const config = yield* PipelineConfig.decode({
      routes: { [options.route]: Simulation.referenceConfig.routes[options.route as keyof typeof Simulation.referenceConfig.routes] },
      plan: [{ route: options.route }]
    })
    const simulated = yield* Simulation.providers(options.scenario, config)
    const pipeline = yield* Pipeline.make(config, simulated)
    yield* Effect.sleep(Duration.millis(options.from))
    const outcomes = yield* Simulation.run({
      generate: pipeline.generate,
      duration: Duration.millis(options.to - options.from),
      interval: Duration.millis(60_000 / (options.requestsPerMinute ?? 6)),
      request
    })
    return seconds(percentile(outcomes.map((o) => o.latency), 95))
  }))
