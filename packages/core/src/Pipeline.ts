/**
 * The resilient `ImageGenerator`: the plan's steps, ordered for each request
 * by the `Router` (breakers, health probes, prompt classes, weights, success
 * rates, canaries, regions), each behind its route's limits, circuit breaker
 * and retry policy, chained as fallbacks — or hedged — under one deadline,
 * with adaptive degradation and peak-window caps choosing where a request
 * starts on a route's resolution ladder.
 *
 * @since 0.1.0
 */
import type { FileSystem } from "@effect/platform"
import {
  Array as Arr,
  Cause,
  type Config,
  type ConfigError as EffectConfigError,
  Context,
  DateTime,
  Duration,
  Effect,
  Exit,
  FiberRef,
  Layer,
  Metric,
  Option,
  Ref,
  type Scope
} from "effect"
import * as Capabilities from "./Capabilities.js"
import * as CircuitBreaker from "./CircuitBreaker.js"
import * as Deadline from "./Deadline.js"
import * as Degradation from "./Degradation.js"
import {
  AllRoutesFailed,
  BadRequest,
  CircuitOpen,
  FailedAttempt,
  type GenerationError,
  ProviderUnavailable,
  Timeout
} from "./Errors.js"
import * as Fallback from "./Fallback.js"
import * as Health from "./Health.js"
import * as Hedge from "./Hedge.js"
import * as Metrics from "./Metrics.js"
import { ImageRequest, ImageResult } from "./Image.js"
import { ImageGenerator } from "./ImageGenerator.js"
import { type ConfigError, configError, type ConfigIssue, type PipelineConfig } from "./PipelineConfig.js"
import * as PipelineConfigModule from "./PipelineConfig.js"
import { type AspectRatio, isBelow, type Resolution } from "./Resolution.js"
import * as Retry from "./Retry.js"
import * as RetryBudget from "./RetryBudget.js"
import * as Spans from "./internal/spans.js"
import * as PeakWindows from "./PeakWindows.js"
import * as Router from "./Router.js"
import { TextRequest, TextResult } from "./Text.js"
import { TextGenerator } from "./TextGenerator.js"

/**
 * The pipeline itself, for code that needs more than `ImageGenerator`: its
 * configuration, the breaker and retry budget of every route, and the steps a
 * request would be tried on.
 *
 * @since 0.1.0
 */
export class Pipeline extends Context.Tag("@ballast/core/Pipeline")<Pipeline, Pipeline.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace Pipeline {
  /**
   * @since 0.1.0
   */
  export interface Service extends ImageGenerator.Service {
    readonly config: PipelineConfig
    /** One breaker per route used by the plan. */
    readonly breakers: ReadonlyMap<string, CircuitBreaker.CircuitBreaker>
    /** One retry budget per route used by the plan. */
    readonly budgets: ReadonlyMap<string, RetryBudget.RetryBudget>
    /**
     * The plan's steps for a request of this resolution and aspect ratio, in
     * plan order, after capability mapping — before the router orders them.
     */
    readonly stepsFor: (request: Pick<ImageRequest, "resolution" | "aspectRatio">) => ReadonlyArray<PlannedStep>
    /** The router: each route's success rate, latency EWMA and p95, canaries. */
    readonly router: Router.Router
    /** Background health probes, when `health.enabled` and a route's provider can be probed. */
    readonly health: Option.Option<Health.Health>
    /** Adaptive degradation per route and resolution, when `adaptive.enabled`. */
    readonly degradation: Option.Option<Degradation.Degradation>
    /** What hedging has done (all zero while `hedge.enabled` is false). */
    readonly hedges: Effect.Effect<Hedge.Stats>
  }

  /**
   * Options beyond the configuration.
   *
   * @since 0.1.0
   */
  export interface Options {
    /** Tells a prompt's class for `routing.classes`; defaults to the classes' keyword rules. */
    readonly classify?: Router.Classifier
  }

  /**
   * The provider services a pipeline calls, by route name.
   *
   * @since 0.1.0
   */
  export interface Providers {
    readonly image: Readonly<Record<string, ImageGenerator.Service>>
    readonly text?: Readonly<Record<string, TextGenerator.Service>>
  }
}

/**
 * A step of the plan for one request: a route at the resolution and aspect
 * ratio that route will be asked for, or the text-description rung.
 *
 * @since 0.1.0
 */
export type PlannedStep =
  | { readonly _tag: "Image"; readonly route: string; readonly resolution: Resolution; readonly aspectRatio: AspectRatio }
  | { readonly _tag: "Describe"; readonly route: string }

/**
 * Who a pipeline's own errors (`AllRoutesFailed`, `Timeout`) say they come
 * from: provider `"ballast"`, and the model of the plan's first image route —
 * the model the caller asked for, in effect.
 *
 * @since 0.1.0
 */
export const labelsOf = (config: PipelineConfig): { readonly provider: string; readonly model: string } => {
  const first = config.plan.find((entry) => "route" in entry)
  return {
    provider: "ballast",
    model: first !== undefined && "route" in first ? config.routes[first.route]?.model ?? "pipeline" : "pipeline"
  }
}

/**
 * The instruction the text rung is given, followed by the prompt.
 *
 * @since 0.1.0
 */
export const describeInstruction =
  "The image for the prompt below could not be generated right now. Describe, in one vivid paragraph, " +
  "the image that would have been made, so it can stand in for it."

interface Policies {
  readonly route: string
  readonly breaker: CircuitBreaker.CircuitBreaker
  readonly budget: RetryBudget.RetryBudget
}

interface ImageRoute extends Policies {
  readonly name: string
  readonly service: ImageGenerator.Service
  readonly capabilities: Capabilities.ModelCapabilities
}

interface TextRoute extends Policies {
  readonly name: string
  readonly service: TextGenerator.Service
}

// An image plan's steps are image routes and its describe entry a text route; a text plan's steps are text routes.
const routeNamesOf = (config: PipelineConfig) => {
  const steps = Arr.dedupe(config.plan.flatMap((entry) => ("route" in entry ? [entry.route] : [])))
  const describe = Arr.dedupe(config.plan.flatMap((entry) => ("describe" in entry ? [entry.describe] : [])))
  return config.kind === "text"
    ? { imageRouteNames: [], textRouteNames: steps }
    : { imageRouteNames: steps, textRouteNames: describe }
}

/**
 * The routes of a plan that have no provider (an image provider for an image
 * step, a text provider for the describe step), one issue per route, so that a
 * caller holding provider Layers can refuse the configuration before building
 * anything. Empty when every route is served.
 *
 * @since 0.1.0
 */
export const missingProviders = (
  config: PipelineConfig,
  providers: {
    readonly image: Readonly<Record<string, unknown>>
    readonly text?: Readonly<Record<string, unknown>> | undefined
  }
): ReadonlyArray<ConfigIssue> => {
  const { imageRouteNames, textRouteNames } = routeNamesOf(config)
  const text = providers.text ?? {}
  return [
    ...imageRouteNames.filter((name) => !Object.hasOwn(providers.image, name)).map((name) => ({
      path: `routes.${name}`,
      message: `no image provider was given for route "${name}"`
    })),
    ...textRouteNames.filter((name) => !Object.hasOwn(text, name)).map((name) => ({
      path: `routes.${name}`,
      message: `no text provider was given for route "${name}"`
    }))
  ]
}

// Everything an image or a text pipeline is made of: the routes' policies, the router, health, degradation,
// hedging and metrics, and a `generate` for each kind (only the one of the configuration's kind is exposed).
const build = (config: PipelineConfig, providers: Pipeline.Providers, options: Pipeline.Options | undefined) =>
  Effect.gen(function*() {
    const { imageRouteNames, textRouteNames } = routeNamesOf(config)
    const missing = missingProviders(config, providers)
    if (missing.length > 0) return yield* Effect.fail(configError(missing))

    const breakers = new Map<string, CircuitBreaker.CircuitBreaker>()
    const budgets = new Map<string, RetryBudget.RetryBudget>()
    const policies = new Map<string, Policies>()
    const settings = config.breaker
    const counted = CircuitBreaker.countingTags(settings.countedErrors)
    // A route used both for images and for the description is one endpoint: one breaker and one budget.
    const policiesFor = (name: string, provider: string, model: string) =>
      Effect.gen(function*() {
        const existing = policies.get(name)
        if (existing !== undefined) return existing
        const breaker = yield* CircuitBreaker.make({
          route: name,
          provider,
          model,
          strategies: [
            CircuitBreaker.consecutiveFailures(settings.consecutiveFailures),
            CircuitBreaker.failureRatio({
              threshold: settings.failureRatio,
              window: settings.window,
              minimumCalls: settings.minimumCalls
            })
          ],
          openDuration: settings.openDuration,
          maxOpenDuration: settings.maxOpenDuration,
          isFailure: counted,
          ...(settings.slowCallThreshold !== undefined ? { slowCallThreshold: settings.slowCallThreshold } : {})
        })
        const budget = yield* RetryBudget.make(config.retryBudget)
        breakers.set(name, breaker)
        budgets.set(name, budget)
        const made: Policies = { route: name, breaker, budget }
        policies.set(name, made)
        return made
      })

    // The capability table is read for the configured model: a provider serving another one is a
    // configuration mistake worth saying out loud (but not fatal: an alias may be on purpose).
    for (const [name, service] of [...Object.entries(providers.image), ...Object.entries(providers.text ?? {})]) {
      const configured = config.routes[name]
      if (configured !== undefined && configured.model !== service.model) {
        yield* Effect.logWarning(
          `route "${name}" is configured for model "${configured.model}" but its provider serves "${service.model}"`
        )
      }
    }

    const imageRoutes = new Map<string, ImageRoute>()
    for (const name of imageRouteNames) {
      const service = providers.image[name]!
      imageRoutes.set(name, {
        name,
        service,
        capabilities: PipelineConfigModule.capabilitiesOf(config, name),
        ...(yield* policiesFor(name, service.provider, service.model))
      })
    }
    const textRoutes = new Map<string, TextRoute>()
    for (const name of textRouteNames) {
      const service = providers.text![name]!
      textRoutes.set(name, { name, service, ...(yield* policiesFor(name, service.provider, service.model)) })
    }

    const routing = config.routing
    const router = yield* Router.make({
      routes: Arr.dedupe([...imageRouteNames, ...textRouteNames]).map((name) => {
        const route = config.routes[name]!
        return {
          name,
          provider: route.provider,
          model: route.model,
          region: route.region,
          concurrency: route.limits?.concurrency,
          requestsPerMinute: route.limits?.requestsPerMinute
        }
      }),
      settings: {
        canary: routing.canary,
        weights: routing.weights,
        order: routing.order,
        demoteBelow: routing.demoteBelow,
        restoreAt: routing.restoreAt,
        window: routing.window,
        minimumCalls: routing.minimumCalls,
        regionFailover: routing.regionFailover,
        preferRegion: Option.fromNullable(routing.preferRegion),
        classes: Object.entries(routing.classes).map(([name, rule]) => ({ name, ...rule }))
      },
      ...(options?.classify !== undefined ? { classify: options.classify } : {})
    })

    // Probes count towards a route's success rate, so a route nobody calls (demoted, or a fallback) stays known.
    const probes: Record<string, Effect.Effect<void, GenerationError>> = {}
    for (const route of [...imageRoutes.values(), ...textRoutes.values()]) {
      if (route.service.probe !== undefined) probes[route.name] = route.service.probe
    }
    const health = config.health.enabled && Object.keys(probes).length > 0
      ? Option.some(
        yield* Health.make({
          probes,
          settings: config.health,
          onProbe: (route, outcome) => router.record(route, outcome)
        })
      )
      : Option.none<Health.Health>()
    const isDown = Option.match(health, {
      onNone: () => () => false,
      onSome: (health) => (route: string) => health.unsafeStatus(route) === "down"
    })

    const degradation = config.adaptive.enabled
      ? Option.some(yield* Degradation.make(config.adaptive))
      : Option.none<Degradation.Degradation>()

    const hedgeStats = yield* Ref.make(Hedge.noStats)

    // The live gauges (breaker states, health, retry budgets) are read when the metrics are rendered.
    const breakerStates = ["Closed", "Open", "HalfOpen", "Isolated"]
    const healthStates = ["healthy", "degraded", "down"]
    const removeCollector = yield* Metrics.addCollector(Effect.gen(function*() {
      for (const [route, breaker] of breakers) {
        yield* Metrics.setOneHot(Metrics.breakerState, { route }, "state", breakerStates, (yield* breaker.state)._tag)
      }
      for (const [route, budget] of budgets) {
        yield* Metric.set(Metric.tagged(Metrics.retryBudget, "route", route), yield* budget.balance)
      }
      if (Option.isSome(health)) {
        for (const route of yield* health.value.snapshot) {
          yield* Metrics.setOneHot(Metrics.routeHealth, { route: route.route }, "status", healthStates, route.status)
        }
      }
    }))
    yield* Effect.addFinalizer(() => removeCollector)

    const labels = labelsOf(config)

    const expand = (resolution: Resolution, aspectRatio: AspectRatio): ReadonlyArray<PlannedStep> => {
      const steps: Array<PlannedStep> = []
      const seen = new Set<string>()
      for (const entry of config.plan) {
        if ("describe" in entry) {
          steps.push({ _tag: "Describe", route: entry.describe })
          continue
        }
        const route = imageRoutes.get(entry.route)!
        for (const wanted of entry.resolutions ?? [resolution]) {
          const capped = isBelow(resolution, wanted) ? resolution : wanted
          const adapted = Capabilities.adapt(route.capabilities, { resolution: capped, aspectRatio })
          if (Option.isNone(adapted)) continue
          const key = `${route.name}\u0000${adapted.value.resolution}`
          if (seen.has(key)) continue
          seen.add(key)
          steps.push({ _tag: "Image", route: route.name, ...adapted.value })
        }
      }
      return steps
    }
    // A request's steps depend only on its resolution and aspect ratio: compute each combination once.
    const stepCache = new Map<string, ReadonlyArray<PlannedStep>>()
    const stepsFor = (request: Pick<ImageRequest, "resolution" | "aspectRatio">) => {
      const key = `${request.resolution}|${request.aspectRatio}`
      let steps = stepCache.get(key)
      if (steps === undefined) {
        steps = expand(request.resolution, request.aspectRatio)
        stepCache.set(key, steps)
      }
      return steps
    }

    // Whether an outcome says something about the route's health: a success, or an error its breaker counts
    // (not a refused prompt, not the breaker's own fast failure).
    const observe = (
      route: string,
      step: { readonly resolution: string; readonly adaptive: boolean },
      exit: Exit.Exit<unknown, GenerationError>,
      latencyMs: number
    ) => {
      const success = Exit.isSuccess(exit)
      const error = success ? Option.none<GenerationError>() : Cause.failureOption(exit.cause)
      // An interrupted call (a hedge's loser, a deadline, a caller gone) says nothing about the route.
      if (!success && Option.isNone(error)) return Effect.void
      const metered = Metrics.recordCall({
        route,
        outcome: Option.match(error, { onNone: () => "success", onSome: (e) => e._tag }),
        seconds: latencyMs / 1000
      })
      if (Option.isSome(error) && !counted(error.value)) return metered
      const recorded = Effect.zipRight(metered, router.record(route, { success, latencyMs }))
      // Only a rung with a lower one after it can be stepped down from, so only its outcomes are kept.
      return step.adaptive && Option.isSome(degradation)
        ? Effect.zipRight(recorded, degradation.value.record(route, step.resolution, success))
        : recorded
    }

    // One step on one route: every attempt through the route's limits and breaker, the attempts driven by the
    // retry schedule. Another attempt is made only if the breaker will let it through, health probes have not
    // found the route down, and it would end (judged by the previous attempt's duration, or the route's usual
    // latency) before the deadline, leaving the reserve for the steps after this one. The route's budget is
    // credited once per request that reaches it; every failed attempt is recorded, and so is the time spent in
    // provider calls and between them (backoff, the route's limits). The retry schedule is made only when a
    // first attempt has failed: most requests never need it.
    const guarded = <A>(
      policies: Policies,
      step: { readonly resolution: string; readonly last: boolean; readonly adaptive: boolean },
      counter: Counter,
      call: () => Effect.Effect<A, GenerationError>
    ) =>
      Effect.clockWith((clock) => {
        let previous = 0
        // When this step's last attempt ended (the time until the next one starts was spent waiting).
        let ended: number | undefined
        const kept = step.last ? 0 : counter.reserve
        const admit = (delay: Duration.Duration) =>
          Effect.zipWith(
            policies.breaker.state,
            Deadline.allows(Duration.toMillis(delay) + Math.max(previous, router.unsafeLatency(policies.route)) + kept),
            // A route health probes found down since the step started gets no more retries either.
            (state, fits) =>
              fits && CircuitBreaker.isAvailable(state, clock.unsafeCurrentTimeMillis() + Duration.toMillis(delay)) &&
              !isDown(policies.route)
          )
        const attempt = router.limit(
          policies.route,
          policies.breaker.guard(Effect.flatMap(Deadline.allows(0), (open) => {
            // A call never starts at the deadline itself (a failure that ends exactly then could otherwise
            // start the next step's call before the deadline interrupts): wait for the deadline to fire.
            if (!open) return Effect.never
            counter.attempts++
            const started = clock.unsafeCurrentTimeMillis()
            if (ended !== undefined) counter.waitedMillis += started - ended
            const made = counter.reached.has(policies.route)
              ? call()
              : (counter.reached.add(policies.route), Effect.zipRight(policies.budget.deposit, call()))
            // One span per provider call, with its route, rung, number within the request and outcome.
            return Effect.onExit(made, (exit) => {
              ended = clock.unsafeCurrentTimeMillis()
              previous = ended - started
              counter.providerMillis += previous
              return Effect.zipRight(
                Effect.annotateCurrentSpan("ballast.outcome", outcomeOf(exit)),
                observe(policies.route, step, exit, previous)
              )
            }).pipe(
              // No call-site stack trace: capturing one (an `Error().stack`) per call cost more than the rest of the
              // pipeline together; the spans' names and attributes say where they come from. No span at all under
              // Effect's native tracer, which shows spans to nobody.
              Spans.withSpan("ballast.attempt", {
                kind: "client",
                captureStackTrace: false,
                attributes: {
                  "ballast.route": policies.route,
                  "ballast.resolution": step.resolution,
                  "ballast.attempt": counter.attempts
                }
              })
            )
          }))
        ).pipe(
          Effect.tapError((error) =>
            Effect.sync(() => {
              if (error._tag === "AllRoutesFailed") counter.failures.push(...error.attempts)
              else counter.failures.push(new FailedAttempt({ route: policies.route, resolution: step.resolution, error }))
            })
          )
        )
        return Retry.retryWith(attempt, () => Retry.schedule(config.retry, policies.budget, admit))
      })

    const step = <A>(
      run: Effect.Effect<A, GenerationError>,
      route: string,
      resolution: string,
      onSuccess: (a: A) => StepResult
    ): Fallback.Step<StepResult> => Fallback.step(route, resolution, Effect.map(run, onSuccess))

    const toStep = (
      planned: PlannedStep,
      next: PlannedStep | undefined,
      request: ImageRequest,
      counter: Counter
    ): Fallback.Step<StepResult> => {
      const last = next === undefined
      if (planned._tag === "Describe") {
        const route = textRoutes.get(planned.route)!
        const textRequest = TextRequest.make({
          messages: [
            { role: "system", content: describeInstruction },
            { role: "user", content: request.prompt }
          ]
        }, { disableValidation: true })
        return step(
          guarded(route, { resolution: "description", last, adaptive: false }, counter, () =>
            route.service.generate(textRequest)),
          route.name,
          "description",
          (text) => ({
            images: [],
            description: text.text,
            route: route.name,
            provider: text.provider,
            model: text.model,
            resolution: "description",
            requestedResolution: request.resolution,
            aspectRatio: request.aspectRatio,
            degraded: true,
            attempts: 0,
            latency: Duration.zero
          })
        )
      }
      const route = imageRoutes.get(planned.route)!
      const routed = planned.resolution === request.resolution && planned.aspectRatio === request.aspectRatio
        ? request
        : ImageRequest.make({ ...request, resolution: planned.resolution, aspectRatio: planned.aspectRatio }, {
          disableValidation: true
        })
      // A rung with a lower one after it on the same route is skipped while adaptive degradation has stepped it
      // down. Asked only when the request reaches the rung: a "no" starts the rung's trial, which a request
      // answered earlier must not use up. The skip is not an attempt and is not recorded as one.
      const skippable = Option.isSome(degradation) && next?._tag === "Image" && next.route === planned.route
      const run = guarded(route, { resolution: planned.resolution, last, adaptive: skippable }, counter, () =>
        route.service.generate(routed))
      return step(
        skippable
          ? Effect.flatMap(degradation.value.shouldSkip(route.name, planned.resolution), (skip) =>
            skip
              ? Effect.fail(
                new ProviderUnavailable({
                  provider: route.service.provider,
                  model: route.service.model,
                  message: `skipped: route "${route.name}" is stepped down from ${planned.resolution}`
                })
              )
              : run)
          : run,
        route.name,
        planned.resolution,
        (result) => ({
          ...result,
          route: route.name,
          requestedResolution: request.resolution,
          degraded: result.resolution === "description" ||
            isBelow(result.resolution, request.resolution) ||
            result.aspectRatio !== request.aspectRatio
        })
      )
    }

    // Every route by name, image or text.
    const routeInfo = new Map<string, ImageRoute | TextRoute>([...imageRoutes, ...textRoutes])

    // The breakers' states of `names` now, for the router.
    const availability = (names: ReadonlyArray<string>) =>
      Effect.clockWith((clock) =>
      Effect.map(
        Effect.forEach(names, (name) => routeInfo.get(name)!.breaker.state),
        (states) => {
          const now = clock.unsafeCurrentTimeMillis()
          const byRoute = new Map(names.map((name, i) => [name, states[i]!]))
          return {
            byRoute,
            conditions: {
              isAvailable: (route: string) => CircuitBreaker.isAvailable(byRoute.get(route)!, now),
              isDown
            } satisfies Router.Conditions
          }
        }
      )
      )

    // What a request skipped is part of its story: a `CircuitOpen` for an open breaker, `ProviderUnavailable`
    // for a route health probes report down. Neither is a provider call.
    const skippedAttempt = (
      skipped: { readonly route: string; readonly reason: "open" | "down" },
      state: CircuitBreaker.State | undefined
    ) => {
      const route = routeInfo.get(skipped.route)!
      const identity = { provider: route.service.provider, model: route.service.model }
      const error = skipped.reason === "open"
        ? new CircuitOpen({
          ...identity,
          route: route.name,
          message: `skipped: the circuit breaker of route "${route.name}" is open`,
          retryAt: state?._tag === "Open" ? Option.some(DateTime.unsafeMake(state.until)) : Option.none()
        })
        : new ProviderUnavailable({ ...identity, message: `skipped: health probes report route "${route.name}" down` })
      return new FailedAttempt({ route: route.name, resolution: "skipped", error })
    }

    // The routes of one request in the order the router chose. When every route is open and `canWait`, a caller
    // with time to spare waits for the earliest half-open instead of failing at once. What was skipped is
    // recorded as the request's first failures.
    const orderRoutes = (
      names: ReadonlyArray<string>,
      prompt: string,
      counter: Counter,
      options: { readonly canWait: boolean; readonly canCanary?: (route: string) => boolean }
    ) =>
      Effect.gen(function*() {
        const withCanary = (current: Effect.Effect.Success<ReturnType<typeof availability>>) =>
          options.canCanary === undefined
            ? current
            : { byRoute: current.byRoute, conditions: { ...current.conditions, canCanary: options.canCanary } }
        let { byRoute, conditions } = withCanary(yield* availability(names))
        let ordered = yield* router.order(names, prompt, conditions)
        if (ordered.routes.length === 0 && routing.waitForHalfOpen && options.canWait) {
          const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
          const earliest = Arr.reduce(ordered.skipped, Option.none<{ route: string; at: number }>(), (best, s) => {
            const state = byRoute.get(s.route)
            if (state?._tag !== "Open") return best
            return Option.isSome(best) && best.value.at <= state.until ? best : Option.some({ route: s.route, at: state.until })
          })
          if (
            Option.isSome(earliest) &&
            (yield* Deadline.allows(earliest.value.at - now + router.unsafeLatency(earliest.value.route)))
          ) {
            const wait = Math.max(0, earliest.value.at - now)
            yield* Effect.sleep(Duration.millis(wait))
            counter.waitedMillis += wait
            ;({ byRoute, conditions } = withCanary(yield* availability(names)))
            ordered = yield* router.order(names, prompt, conditions)
          }
        }
        for (const skipped of ordered.skipped) counter.failures.push(skippedAttempt(skipped, byRoute.get(skipped.route)))
        return ordered.routes
      })

    // The steps of one image request, in the order the router chose: each route's rungs together, the
    // description last.
    const orderSteps = (
      plan: ReadonlyArray<PlannedStep>,
      request: ImageRequest,
      resolution: Resolution,
      counter: Counter
    ) =>
      Effect.map(
        orderRoutes(Arr.dedupe(plan.flatMap(imageRouteOf)), request.prompt, counter, {
          canWait: !plan.some((p) => p._tag === "Describe"),
          // A canary request must not cost the caller quality: only a route that serves it at the asked
          // resolution and aspect ratio may take it.
          canCanary: (route) =>
            plan.some((p) =>
              p._tag === "Image" && p.route === route && p.resolution === resolution &&
              p.aspectRatio === request.aspectRatio
            )
        }),
        (routes) => {
          const steps: Array<PlannedStep> = []
          for (const route of routes) {
            for (const p of plan) if (p._tag === "Image" && p.route === route) steps.push(p)
          }
          return { images: steps, describe: plan.filter((p) => p._tag === "Describe") }
        }
      )

    // Runs the steps in order; with hedging on, the first routes race: the next one starts when the one
    // before has not answered after the delay (or has failed).
    const hedging = config.hedge.enabled ?? Hedge.defaults[config.kind].enabled
    const runSteps = <A>(
      images: ReadonlyArray<Fallback.Step<A>>,
      describe: ReadonlyArray<Fallback.Step<A>>
    ): Effect.Effect<A, GenerationError> => {
      const all = [...images, ...describe]
      // Each route's rungs, as one chain.
      const chains: Array<Arr.NonEmptyArray<Fallback.Step<A>>> = []
      for (const image of images) {
        const last = chains[chains.length - 1]
        if (last !== undefined && last[0].route === image.route) last.push(image)
        else chains.push([image])
      }
      if (!hedging || chains.length < 2) {
        return Arr.isNonEmptyReadonlyArray(all) ? Fallback.run(all, labels) : Effect.fail(noRoute(labels))
      }
      const raced = chains.slice(0, 1 + config.hedge.maxHedges)
      const rest = [...chains.slice(raced.length).flat(), ...describe]
      const firstRoute = raced[0]![0].route
      const delay = config.hedge.delay === "p95"
        ? Effect.sync(() => Option.getOrElse(router.latencyP95(firstRoute), () => Duration.infinity))
        : config.hedge.delay
      const race = Hedge.raceReporting(
        Arr.map(raced as Arr.NonEmptyArray<Arr.NonEmptyArray<Fallback.Step<A>>>, (chain) => Fallback.run(chain, labels)),
        { delay, maxHedges: config.hedge.maxHedges },
        (report) => Ref.update(hedgeStats, Hedge.tally(report))
      )
      return Arr.isNonEmptyReadonlyArray(rest)
        ? Fallback.run([Fallback.step(firstRoute, "hedged", race), ...rest], labels)
        : race
    }

    // One request: its counter, the deadline around `run`, every attempt's error in `AllRoutesFailed`, a
    // `Timeout` that says what was tried, and the request's metrics. `run` answers with a function that makes
    // the result from the request's provenance: the provider calls made and where the time went.
    const withRequest = <A extends { readonly route: string; readonly degraded: boolean }>(
      deadline: Duration.Duration | undefined,
      run: (counter: Counter) => Effect.Effect<(provenance: Provenance) => A, GenerationError>
    ): Effect.Effect<A, GenerationError> =>
      Effect.clockWith((clock) =>
        FiberRef.getWith(Deadline.currentDeadline, (enclosing) => {
          const budget = deadline ?? config.deadline
          const start = clock.unsafeCurrentTimeMillis()
          // The reserve is a share of the time this request really has: an enclosing deadline may be earlier.
          const available = Math.min(Duration.toMillis(budget), enclosing - start)
          const counter: Counter = {
            attempts: 0,
            failures: [],
            reached: new Set(),
            reserve: available * config.reserveShare,
            providerMillis: 0,
            waitedMillis: 0
          }
          return run(counter).pipe(
            // Fallback keeps each step's last error; the request keeps every attempt's.
            Effect.catchTag("AllRoutesFailed", () =>
              Effect.fail(
                new AllRoutesFailed({ ...labels, message: Fallback.summarize(counter.failures), attempts: counter.failures })
              )),
            Deadline.within(budget, () =>
              new Timeout({
                ...labels,
                message: `the deadline of ${Duration.format(budget)} passed after ${counter.attempts} provider call${
                  counter.attempts === 1 ? "" : "s"
                }${counter.failures.length > 0 ? ` (${Fallback.summarize(counter.failures)})` : ""}`
              })),
            Effect.map((make) =>
              make({
                attempts: counter.attempts,
                latency: Duration.millis(clock.unsafeCurrentTimeMillis() - start),
                providerLatency: Duration.millis(counter.providerMillis),
                waited: Duration.millis(counter.waitedMillis)
              })
            ),
            Effect.onExit((exit) => {
              const seconds = (clock.unsafeCurrentTimeMillis() - start) / 1000
              const annotated = Effect.annotateCurrentSpan({
                "ballast.outcome": Exit.isSuccess(exit) ? (exit.value.degraded ? "degraded" : "full") : outcomeOf(exit),
                "ballast.route": Exit.isSuccess(exit) ? exit.value.route : "none",
                "ballast.attempts": counter.attempts
              })
              if (Exit.isSuccess(exit)) {
                const outcome = exit.value.degraded ? "degraded" : "full"
                return Effect.zipRight(
                  annotated,
                  Metrics.recordRequest({ model: labels.model, route: exit.value.route, outcome, error: "", seconds })
                )
              }
              return Effect.zipRight(
                annotated,
                Option.match(Cause.failureOption(exit.cause), {
                  onNone: () => Effect.void, // interrupted: the caller went away
                  onSome: (error) =>
                    Metrics.recordRequest({ model: labels.model, route: "none", outcome: "failed", error: error._tag, seconds })
                })
              )
            }),
            // One span per request, around every attempt's span (when a tracer other than the native one reads them).
            Spans.withSpan("ballast.request", {
              captureStackTrace: false,
              attributes: { "ballast.model": labels.model, "ballast.kind": config.kind }
            })
          )
        })
      )

    const generate = (request: ImageRequest): Effect.Effect<ImageResult, GenerationError> =>
      Effect.clockWith((clock) =>
        Effect.suspend(() => {
          // Inside a peak window a request starts at most at the cap (still reported against what was asked).
          const resolution = config.peak.enabled && PeakWindows.contains(config.peak.schedule, clock.unsafeCurrentTimeMillis())
            ? PeakWindows.cap(request.resolution, config.peak.cap)
            : request.resolution
          const plan = stepsFor({ resolution, aspectRatio: request.aspectRatio })
          if (!Arr.isNonEmptyReadonlyArray(plan)) {
            return Effect.fail(
              new BadRequest({
                ...labels,
                message: `no step of the plan can serve a ${request.resolution} ${request.aspectRatio} image`,
                scope: "request"
              })
            )
          }
          return withRequest(request.deadline, (counter) =>
            orderSteps(plan, request, resolution, counter).pipe(
              Effect.flatMap(({ describe, images }) => {
                const all = [...images, ...describe]
                const steps = all.map((p, i) => toStep(p, all[i + 1], request, counter))
                return runSteps(steps.slice(0, images.length), steps.slice(images.length))
              }),
              // The only ImageResult a request makes: the step's fields and the request's provenance.
              Effect.map((result) => (provenance) => ImageResult.make({ ...result, ...provenance }, { disableValidation: true }))
            ))
        })
      )

    // A text request tries the plan's text routes in the router's order; the last user message is the prompt
    // prompt classes read.
    const generateText = (request: TextRequest): Effect.Effect<TextResult, GenerationError> =>
      withRequest(request.deadline, (counter) => {
        const prompt = [...request.messages].reverse().find((message) => message.role === "user")?.content ?? ""
        return orderRoutes(textRouteNames, prompt, counter, { canWait: true }).pipe(
          Effect.flatMap((names) =>
            runSteps(
              names.map((name, i) => {
                const route = textRoutes.get(name)!
                const run = guarded(
                  route,
                  { resolution: "text", last: i === names.length - 1, adaptive: false },
                  counter,
                  () => route.service.generate(request)
                )
                return Fallback.step(name, "text", Effect.map(run, (result) => ({ ...result, route: name })))
              }),
              []
            )
          ),
          Effect.map((result) => (provenance) => TextResult.make({ ...result, ...provenance }, { disableValidation: true }))
        )
      })

    const shared = {
      ...labels,
      route: "pipeline",
      config,
      breakers: breakers as ReadonlyMap<string, CircuitBreaker.CircuitBreaker>,
      budgets: budgets as ReadonlyMap<string, RetryBudget.RetryBudget>,
      router,
      health,
      degradation,
      hedges: Ref.get(hedgeStats)
    }
    return { shared, generate, generateText, stepsFor }
  })

const kindError = (config: PipelineConfig, wanted: "image" | "text") =>
  configError([{
    path: "kind",
    message: `this is ${config.kind === "text" ? "a text" : "an image"} pipeline configuration; ${
      wanted === "text" ? "Pipeline.make builds image pipelines, Pipeline.makeText text ones" :
        "Pipeline.makeText builds text pipelines, Pipeline.make image ones"
    }`
  }])

/**
 * Builds the pipeline from a validated image configuration and the provider
 * services its routes name. Fails with a `ConfigError` when a route of the
 * plan has no provider, or the configuration is of `kind: text`. The health
 * probes' fibers and the routes' rate limiters live in the caller's `Scope`:
 * closing it stops them.
 *
 * @since 0.1.0
 */
export const make = (
  config: PipelineConfig,
  providers: Pipeline.Providers,
  options?: Pipeline.Options
): Effect.Effect<Pipeline.Service, ConfigError, Scope.Scope> =>
  config.kind === "text"
    ? Effect.fail(kindError(config, "text"))
    : Effect.map(build(config, providers, options), ({ generate, shared, stepsFor }) => ({ ...shared, generate, stepsFor }))

/**
 * Builds a text pipeline — a `TextGenerator` whose plan is a list of text
 * routes (`kind: text`), each behind its route's limits, breaker and retries,
 * ordered by the router and hedged after the first route's p95 latency unless
 * `hedge.enabled` is false — from a validated configuration and the text
 * providers its routes name.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { Pipeline, PipelineConfig, TextGenerator } from "@ballast/core"
 *
 * declare const gpt: TextGenerator.Service
 * declare const claude: TextGenerator.Service
 *
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const config = yield* PipelineConfig.decode({
 *     kind: "text",
 *     routes: {
 *       gpt: { provider: "openai", model: "gpt-5.2" },
 *       claude: { provider: "anthropic", model: "claude-sonnet-4-5" }
 *     },
 *     plan: [{ route: "gpt" }, { route: "claude" }]
 *   })
 *   const text = yield* Pipeline.makeText(config, { text: { gpt, claude } })
 * }))
 */
export const makeText = (
  config: PipelineConfig,
  providers: { readonly text: Readonly<Record<string, TextGenerator.Service>> },
  options?: Pipeline.Options
): Effect.Effect<TextPipeline, ConfigError, Scope.Scope> =>
  config.kind !== "text"
    ? Effect.fail(kindError(config, "image"))
    : Effect.map(build(config, { image: {}, text: providers.text }, options), ({ generateText, shared }) => ({
      ...shared,
      generate: generateText
    }))

/**
 * A text pipeline: the resilient `TextGenerator`, and the same figures as an
 * image pipeline.
 *
 * @since 0.1.0
 */
export interface TextPipeline extends TextGenerator.Service, Omit<Pipeline.Service, "generate" | "stepsFor" | "probe"> {}

// How an exit ended, for spans: `success`, the error's tag, or `interrupted`.
const outcomeOf = (exit: Exit.Exit<unknown, GenerationError>): string =>
  Exit.isSuccess(exit)
    ? "success"
    : Option.match(Cause.failureOption(exit.cause), { onNone: () => "interrupted", onSome: (error) => error._tag })

const imageRouteOf = (step: PlannedStep): ReadonlyArray<string> => step._tag === "Image" ? [step.route] : []

// Every route was skipped and there is no description rung.
const noRoute = (labels: { readonly provider: string; readonly model: string }) =>
  new AllRoutesFailed({ ...labels, message: "no route could be tried", attempts: [] })

// What a step answers: the fields of the request's ImageResult, made once at the end.
type StepResult = ConstructorParameters<typeof ImageResult>[0]

// What one request has done so far: provider calls made, every failed attempt in order (for AllRoutesFailed
// and a Timeout's message), the routes it reached (whose budgets it has credited), and where its time went.
interface Counter {
  attempts: number
  readonly failures: Array<FailedAttempt>
  readonly reached: Set<string>
  /** Milliseconds of the deadline kept for the steps after the current one. */
  readonly reserve: number
  /** Milliseconds spent inside provider calls (overlapping hedged calls each count). */
  providerMillis: number
  /** Milliseconds spent waiting between a step's attempts, or for a breaker to half-open. */
  waitedMillis: number
}

// What the pipeline adds to a step's result: its provider calls and where the request's time went.
interface Provenance {
  readonly attempts: number
  readonly latency: Duration.Duration
  readonly providerLatency: Duration.Duration
  readonly waited: Duration.Duration
}

// Distributive over a union of Layers, and `never` for none (Layer.Layer.Error is neither).
type ErrorOf<L> = L extends Layer.Layer<infer _Out, infer E, infer _In> ? E : never
type ContextOf<L> = L extends Layer.Layer<infer _Out, infer _E, infer In> ? In : never

/**
 * A Layer providing the resilient `ImageGenerator` (and the `Pipeline` behind
 * it) from a validated configuration and one provider Layer per route.
 *
 * @since 0.1.0
 * @example
 * import { Effect, Layer } from "effect"
 * import { ImageGenerator, Pipeline, PipelineConfig } from "@ballast/core"
 *
 * declare const geminiPro: Layer.Layer<ImageGenerator>
 * declare const geminiFlash: Layer.Layer<ImageGenerator>
 *
 * const config = PipelineConfig.decode({
 *   routes: {
 *     pro: { provider: "google", model: "gemini-3-pro-image-preview" },
 *     flash: { provider: "google", model: "gemini-3.1-flash-image-preview" }
 *   },
 *   plan: [{ route: "pro", resolutions: ["4K", "2K"] }, { route: "flash" }]
 * })
 * const live = Layer.unwrapEffect(Effect.map(config, (config) =>
 *   Pipeline.layer(config, { image: { pro: geminiPro, flash: geminiFlash } })))
 */
export const layer = <
  const Image extends Readonly<Record<string, Layer.Layer<ImageGenerator, unknown, unknown>>>,
  const Text extends Readonly<Record<string, Layer.Layer<TextGenerator, unknown, unknown>>> = {}
>(
  config: PipelineConfig,
  providers: { readonly image: Image; readonly text?: Text }
): Layer.Layer<
  ImageGenerator | Pipeline,
  ConfigError | ErrorOf<Image[keyof Image]> | ErrorOf<Text[keyof Text]>,
  ContextOf<Image[keyof Image]> | ContextOf<Text[keyof Text]>
> =>
  Layer.scopedContext(
    Effect.gen(function*() {
      // Routes without a provider fail before any provider is built.
      const missing = missingProviders(config, providers)
      if (missing.length > 0) return yield* Effect.fail(configError(missing))
      // The memo map of the Layer graph this one is built in: a Layer the providers share with each
      // other or with the application (one SDK client, one HTTP pool) is built once.
      const memoMap = yield* Layer.CurrentMemoMap
      const scope = yield* Effect.scope
      const image: Record<string, ImageGenerator.Service> = {}
      for (const [name, providerLayer] of Object.entries(providers.image)) {
        image[name] = Context.get(yield* Layer.buildWithMemoMap(providerLayer, memoMap, scope), ImageGenerator)
      }
      const text: Record<string, TextGenerator.Service> = {}
      for (const [name, providerLayer] of Object.entries(providers.text ?? {})) {
        text[name] = Context.get(yield* Layer.buildWithMemoMap(providerLayer, memoMap, scope), TextGenerator)
      }
      const pipeline = yield* make(config, { image, text })
      return Context.make(Pipeline, pipeline).pipe(Context.add(ImageGenerator, pipeline))
    })
    // The records' Layers were widened to `unknown` error and context above; the signature states them exactly.
  ) as Layer.Layer<
    ImageGenerator | Pipeline,
    ConfigError | ErrorOf<Image[keyof Image]> | ErrorOf<Text[keyof Text]>,
    ContextOf<Image[keyof Image]> | ContextOf<Text[keyof Text]>
  >

/**
 * A Layer providing the resilient `TextGenerator` of a text configuration
 * (`kind: text`) from one text provider Layer per route.
 *
 * @since 0.1.0
 */
export const layerText = <const Text extends Readonly<Record<string, Layer.Layer<TextGenerator, unknown, unknown>>>>(
  config: PipelineConfig,
  providers: { readonly text: Text }
): Layer.Layer<TextGenerator, ConfigError | ErrorOf<Text[keyof Text]>, ContextOf<Text[keyof Text]>> =>
  Layer.scoped(
    TextGenerator,
    Effect.gen(function*() {
      const missing = missingProviders(config, { image: {}, text: providers.text })
      if (missing.length > 0) return yield* Effect.fail(configError(missing))
      const memoMap = yield* Layer.CurrentMemoMap
      const scope = yield* Effect.scope
      const text: Record<string, TextGenerator.Service> = {}
      for (const [name, providerLayer] of Object.entries(providers.text)) {
        text[name] = Context.get(yield* Layer.buildWithMemoMap(providerLayer, memoMap, scope), TextGenerator)
      }
      return yield* makeText(config, { text })
    })
  ) as Layer.Layer<TextGenerator, ConfigError | ErrorOf<Text[keyof Text]>, ContextOf<Text[keyof Text]>>

/**
 * `layer`, with the configuration read from the JSON or YAML file whose path
 * `path` (an Effect `Config`, e.g. `Config.string("BALLAST_CONFIG")`) names.
 * A missing variable or a bad file fails the Layer with an error naming it.
 *
 * @since 0.1.0
 * @example
 * import { Config, Layer } from "effect"
 * import { NodeContext } from "@effect/platform-node"
 * import { type ImageGenerator, Pipeline } from "@ballast/core"
 *
 * declare const geminiPro: Layer.Layer<ImageGenerator>
 *
 * const ImagesLive = Pipeline.layerConfig(Config.string("BALLAST_CONFIG"), { image: { pro: geminiPro } }).pipe(
 *   Layer.provide(NodeContext.layer)
 * )
 */
export const layerConfig = <
  const Image extends Readonly<Record<string, Layer.Layer<ImageGenerator, unknown, unknown>>>,
  const Text extends Readonly<Record<string, Layer.Layer<TextGenerator, unknown, unknown>>> = {}
>(
  path: Config.Config<string>,
  providers: { readonly image: Image; readonly text?: Text }
): Layer.Layer<
  ImageGenerator | Pipeline,
  ConfigError | EffectConfigError.ConfigError | ErrorOf<Image[keyof Image]> | ErrorOf<Text[keyof Text]>,
  FileSystem.FileSystem | ContextOf<Image[keyof Image]> | ContextOf<Text[keyof Text]>
> =>
  Layer.unwrapEffect(
    Effect.map(
      Effect.flatMap(path, PipelineConfigModule.fromFile),
      (config) => layer(config, providers)
    )
  )
