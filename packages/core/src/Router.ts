/**
 * Routing: in which order one request tries the plan's routes. The plan's
 * priority is the starting point; the router then applies prompt-class rules,
 * weights, the observed success rate (a route that keeps failing is tried
 * after the ones that do not), optionally the observed latency, a canary share
 * that keeps every warm fallback warm, and region preference (the same model
 * in another region before another model). Routes whose breaker is open or
 * whose health is down are left out. It also keeps each route's figures
 * (success rate over a sliding window, latency EWMA, p50 and p95) and enforces
 * per-route concurrency and requests-per-minute limits.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Option, Random, RateLimiter, Schema, type Scope } from "effect"

/**
 * A prompt-class rule: a prompt that contains one of `keywords` (whole words
 * or phrases, case-insensitive) is of class `name`, and tries `routes` first,
 * in that order.
 *
 * @since 0.1.0
 */
export interface ClassRule {
  readonly name: string
  readonly keywords: ReadonlyArray<string>
  readonly routes: ReadonlyArray<string>
}

/**
 * Tells the class of a prompt (`"photorealistic"`, `"artistic"`…), or none.
 *
 * @since 0.1.0
 */
export type Classifier = (prompt: string) => Option.Option<string>

/**
 * How the router orders routes.
 *
 * @since 0.1.0
 */
export interface Settings {
  /** The share of requests sent first to each warm fallback, so it stays warm and its latency stays known. */
  readonly canary: number
  /** Weighted choice of the first route among these routes (relative weights); the others follow in plan order. */
  readonly weights: Readonly<Record<string, number>>
  /** `"priority"`: the plan's order; `"latency"`: routes with a lower latency EWMA first. */
  readonly order: "priority" | "latency"
  /** A route whose success rate over `window` falls below this (with `minimumCalls` outcomes) is tried after the others. */
  readonly demoteBelow: number
  /** A demoted route is restored when its success rate reaches this, or when too few outcomes are left to judge it. */
  readonly restoreAt: number
  /** The sliding window of outcomes (calls and health probes) a success rate is computed over. */
  readonly window: Duration.Duration
  readonly minimumCalls: number
  /** Try the same provider and model in another region before the next model. */
  readonly regionFailover: boolean
  /** Among routes of the same provider and model, this region first. */
  readonly preferRegion: Option.Option<string>
  readonly classes: ReadonlyArray<ClassRule>
}

/**
 * The defaults: plan order, 1% canary share to each warm fallback, demotion
 * below 70% success over 5 minutes (at least 10 outcomes), restoration at 85%,
 * region failover on.
 *
 * @since 0.1.0
 */
export const defaults: Settings = {
  canary: 0.01,
  weights: {},
  order: "priority",
  demoteBelow: 0.7,
  restoreAt: 0.85,
  window: Duration.minutes(5),
  minimumCalls: 10,
  regionFailover: true,
  preferRegion: Option.none(),
  classes: []
}

/**
 * A route the router knows: its name, provider, model and region, and its
 * limits.
 *
 * @since 0.1.0
 */
export interface RouteInfo {
  readonly name: string
  readonly provider: string
  readonly model: string
  readonly region?: string | undefined
  /** At most this many calls in flight at once; more wait. */
  readonly concurrency?: number | undefined
  /**
   * Calls started per minute, as a token bucket (Effect's `RateLimiter`): a
   * burst of up to this many, then one every `1 minute / requestsPerMinute`;
   * more wait.
   */
  readonly requestsPerMinute?: number | undefined
}

/**
 * A route's figures, as plain data (for `/v1/routes` and the dashboard):
 * `successRate` is successes / outcomes over the window, calls and probes
 * (`null` without outcomes); `latencyEwmaMs` the moving average of successful
 * calls' latency; `latencyP50Ms` / `latencyP95Ms` the median and p95 of the
 * last (up to 100) successful calls (`null` before the first); `canaries` the
 * requests on which the route was put first as a canary. Times in ms.
 *
 * @since 0.1.0
 */
export const RouteStats = Schema.Struct({
  route: Schema.String,
  successRate: Schema.NullOr(Schema.Number),
  outcomes: Schema.Number,
  latencyEwmaMs: Schema.NullOr(Schema.Number),
  latencyP50Ms: Schema.NullOr(Schema.Number),
  latencyP95Ms: Schema.NullOr(Schema.Number),
  inFlight: Schema.Number,
  demoted: Schema.Boolean,
  canaries: Schema.Number
})

/**
 * @since 0.1.0
 */
export type RouteStats = typeof RouteStats.Type

/**
 * What the router needs to know about each route at the moment it orders them.
 *
 * @since 0.1.0
 */
export interface Conditions {
  /** The route's breaker would admit a call now (closed, or open with its wait over). */
  readonly isAvailable: (route: string) => boolean
  /** Health probes say the route is down. */
  readonly isDown: (route: string) => boolean
  /**
   * Whether a route may take this request as a canary; default: every route.
   * A pipeline offers only the routes that can serve the request undegraded.
   */
  readonly canCanary?: (route: string) => boolean
}

/**
 * The order for one request.
 *
 * @since 0.1.0
 */
export interface Ordered {
  /** The routes to try, in order. */
  readonly routes: ReadonlyArray<string>
  /** Routes left out: breaker open (`"open"`) or health down (`"down"`). */
  readonly skipped: ReadonlyArray<{ readonly route: string; readonly reason: "open" | "down" }>
  /** The fallback this request was sent to first as a canary, if any. */
  readonly canary: Option.Option<string>
  readonly promptClass: Option.Option<string>
}

/**
 * The router of one pipeline.
 *
 * @since 0.1.0
 */
export interface Router {
  /** Orders `routes` (given in plan order) for a request with `prompt`. */
  readonly order: (routes: ReadonlyArray<string>, prompt: string, conditions: Conditions) => Effect.Effect<Ordered>
  /** Records the outcome of a call (or health probe) on a route; `latencyMs` of a success feeds the latency figures. */
  readonly record: (route: string, outcome: { readonly success: boolean; readonly latencyMs: number }) => Effect.Effect<void>
  /** The latency EWMA of successful calls, ms (0 before the first). Synchronous: read on every retry decision. */
  readonly unsafeLatency: (route: string) => number
  /** The p95 latency of the last successful calls, if there are enough of them (20). */
  readonly latencyP95: (route: string) => Option.Option<Duration.Duration>
  /** Runs a call under the route's concurrency and requests-per-minute limits, waiting for a slot. */
  readonly limit: <A, E, R>(route: string, call: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly stats: Effect.Effect<ReadonlyArray<RouteStats>>
}

/**
 * A classifier from keyword rules: the first rule one of whose keywords
 * appears in the prompt as a whole word or phrase, ignoring case.
 *
 * @since 0.1.0
 * @example
 * import { Router } from "@ballast/core"
 *
 * const classify = Router.keywordClassifier([
 *   { name: "photorealistic", keywords: ["photo", "photorealistic"], routes: ["openai"] }
 * ])
 * classify("A photo of a red bicycle") // Option.some("photorealistic")
 */
export const keywordClassifier = (rules: ReadonlyArray<ClassRule>): Classifier => {
  const compiled = rules.map((rule) => ({
    name: rule.name,
    pattern: new RegExp(
      `(^|[^\\p{L}\\p{N}])(${rule.keywords.map(escape).join("|")})(?=$|[^\\p{L}\\p{N}])`,
      "iu"
    )
  })).filter((_, i) => rules[i]!.keywords.length > 0)
  return (prompt) => Option.fromNullable(compiled.find((rule) => rule.pattern.test(prompt))?.name)
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

// How many successful latencies the percentiles are read from, and the fewest the hedge delay's p95 needs
// (the figures reported by `stats` are read from whatever successes there are).
const latencySample = 100
const hedgeMinimum = 20
// The weight of the newest success in the latency average.
const latencyWeight = 0.2
// The success-rate window is kept as this many buckets, so it slides in steps of window / buckets.
const buckets = 12

class Statistics {
  readonly successes = new Array<number>(buckets).fill(0)
  readonly failures = new Array<number>(buckets).fill(0)
  readonly stamps = new Array<number>(buckets).fill(-1)
  readonly latencies: Array<number> = []
  next = 0
  ewma = 0
  inFlight = 0
  demoted = false
  canaries = 0
  private sorted: Array<number> | undefined

  constructor(readonly bucketMillis: number) {}

  record(now: number, success: boolean, latencyMs: number) {
    const stamp = Math.floor(now / this.bucketMillis)
    const index = stamp % buckets
    if (this.stamps[index] !== stamp) {
      this.stamps[index] = stamp
      this.successes[index] = 0
      this.failures[index] = 0
    }
    if (success) {
      this.successes[index]!++
      this.ewma = this.ewma === 0 ? latencyMs : this.ewma + latencyWeight * (latencyMs - this.ewma)
      if (this.latencies.length < latencySample) this.latencies.push(latencyMs)
      else this.latencies[this.next] = latencyMs
      this.next = (this.next + 1) % latencySample
      this.sorted = undefined
    } else {
      this.failures[index]!++
    }
  }

  counts(now: number): { readonly successes: number; readonly outcomes: number } {
    const current = Math.floor(now / this.bucketMillis)
    let successes = 0
    let failures = 0
    for (let i = 0; i < buckets; i++) {
      const stamp = this.stamps[i]!
      if (stamp >= 0 && current - stamp < buckets) {
        successes += this.successes[i]!
        failures += this.failures[i]!
      }
    }
    return { successes, outcomes: successes + failures }
  }

  percentile(p: number, minimum = 1): number | undefined {
    if (this.latencies.length < minimum) return undefined
    this.sorted ??= [...this.latencies].sort((a, b) => a - b)
    return this.sorted[Math.ceil(p * this.sorted.length) - 1]
  }
}

/**
 * Updates a route's demotion from its success rate, with hysteresis: demoted
 * below `demoteBelow`, restored at `restoreAt` or when too few outcomes are
 * left to judge (so a route nobody calls is tried again).
 */
const judge = (stats: Statistics, now: number, settings: Settings): boolean => {
  const { outcomes, successes } = stats.counts(now)
  if (outcomes < settings.minimumCalls) stats.demoted = false
  else if (stats.demoted) stats.demoted = successes / outcomes < settings.restoreAt
  else stats.demoted = successes / outcomes < settings.demoteBelow
  return stats.demoted
}

/**
 * Makes a router for `routes`. Limits are enforced with Effect's
 * `RateLimiter` and a semaphore per route, in the caller's scope.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { Router } from "@ballast/core"
 *
 * const program = Effect.scoped(Effect.gen(function* () {
 *   const router = yield* Router.make({
 *     routes: [
 *       { name: "pro", provider: "google", model: "gemini-3-pro-image-preview" },
 *       { name: "openai", provider: "openai", model: "gpt-image-2", requestsPerMinute: 150 }
 *     ]
 *   })
 *   const { routes } = yield* router.order(["pro", "openai"], "a lighthouse at dusk", {
 *     isAvailable: () => true,
 *     isDown: () => false
 *   })
 * }))
 */
export const make = (options: {
  readonly routes: ReadonlyArray<RouteInfo>
  readonly settings?: Partial<Settings>
  /** Tells a prompt's class; defaults to `keywordClassifier(settings.classes)`. */
  readonly classify?: Classifier
}): Effect.Effect<Router, never, Scope.Scope> =>
  Effect.gen(function*() {
    const settings: Settings = { ...defaults, ...options.settings }
    const classify = options.classify ?? keywordClassifier(settings.classes)
    const classRoutes = new Map(settings.classes.map((rule) => [rule.name, rule.routes]))
    const bucketMillis = Math.max(1, Duration.toMillis(settings.window) / buckets)
    const info = new Map(options.routes.map((route) => [route.name, route]))
    const statistics = new Map(options.routes.map((route) => [route.name, new Statistics(bucketMillis)]))
    const statsOf = (route: string) => {
      let stats = statistics.get(route)
      if (stats === undefined) {
        stats = new Statistics(bucketMillis)
        statistics.set(route, stats)
      }
      return stats
    }

    const limiters = new Map<string, <A, E, R>(call: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>>()
    for (const route of options.routes) {
      const rate = route.requestsPerMinute !== undefined
        ? yield* RateLimiter.make({ limit: route.requestsPerMinute, interval: Duration.minutes(1), algorithm: "token-bucket" })
        : undefined
      const semaphore = route.concurrency !== undefined ? yield* Effect.makeSemaphore(route.concurrency) : undefined
      if (rate === undefined && semaphore === undefined) continue
      limiters.set(route.name, (call) => {
        const paced = rate !== undefined ? rate(call) : call
        return semaphore !== undefined ? semaphore.withPermits(1)(paced) : paced
      })
    }

    const sameModel = (a: string, b: string) => {
      const x = info.get(a)
      const y = info.get(b)
      return x !== undefined && y !== undefined && x.provider === y.provider && x.model === y.model
    }
    const inPreferredRegion = (route: string) =>
      Option.isSome(settings.preferRegion) && info.get(route)?.region === settings.preferRegion.value

    // Moves `route` to the front, keeping the others in order.
    const toFront = (order: Array<string>, route: string) => [route, ...order.filter((r) => r !== route)]

    const hasWeights = Object.values(settings.weights).some((weight) => weight > 0)

    // The weighted choice among `candidates`, with `u` uniform in [0, 1).
    const pickWeighted = (candidates: ReadonlyArray<string>, u: number): string | undefined => {
      const weighted = candidates.filter((route) => (settings.weights[route] ?? 0) > 0)
      if (weighted.length === 0) return undefined
      const total = weighted.reduce((sum, route) => sum + settings.weights[route]!, 0)
      let point = u * total
      for (const route of weighted) {
        point -= settings.weights[route]!
        if (point < 0) return route
      }
      return weighted[weighted.length - 1]
    }

    // The ordering itself, synchronous: `draws` are two uniform numbers (weights, canary), given only when
    // the request has more than one route and weights or canaries could apply — so that a single-route
    // request, or a configuration without either, costs no `Random` call.
    const arrange = (
      routes: ReadonlyArray<string>,
      prompt: string,
      conditions: Conditions,
      now: number,
      draws: readonly [number, number] | undefined
    ): Ordered => {
      if (routes.length === 1 && settings.classes.length === 0 && options.classify === undefined) {
        // Nothing to order (a classifier is still run when there is one: its class is part of the answer).
        const [route] = routes as readonly [string]
        const reason = !conditions.isAvailable(route) ? "open" : undefined
        return reason === undefined
          ? { routes, skipped: [], canary: Option.none(), promptClass: Option.none() }
          : { routes: [], skipped: [{ route, reason }], canary: Option.none(), promptClass: Option.none() }
      }
      const skipped: Array<{ route: string; reason: "open" | "down" }> = []
      const usable = routes.filter((route) => {
        if (!conditions.isAvailable(route)) skipped.push({ route, reason: "open" })
        else if (conditions.isDown(route)) skipped.push({ route, reason: "down" })
        else return true
        return false
      })
      // Health can be wrong; a breaker that admits calls is better than no route at all.
      const down = skipped.filter((s) => s.reason === "down").map((s) => s.route)
      let ordered = usable.length > 0 ? usable : routes.filter((route) => down.includes(route))
      const kept = new Set(ordered)
      const left = skipped.filter((s) => !kept.has(s.route))

      const promptClass = classify(prompt)
      const preferred: ReadonlyArray<string> = Option.match(promptClass, {
        onNone: () => [],
        onSome: (name) => [...new Set(classRoutes.get(name) ?? [])].filter((route) => kept.has(route))
      })
      if (settings.order === "latency") {
        const latency = (route: string) => statsOf(route).ewma || Number.POSITIVE_INFINITY
        ordered = [...ordered].sort((a, b) => latency(a) - latency(b))
      }
      // Failing routes after the others (a stable partition), whatever put them where they were.
      const demoted = new Set(ordered.filter((route) => judge(statsOf(route), now, settings)))
      if (demoted.size > 0) {
        ordered = [...ordered.filter((route) => !demoted.has(route)), ...ordered.filter((route) => demoted.has(route))]
      }
      if (preferred.length > 0) {
        ordered = [...preferred, ...ordered.filter((route) => !preferred.includes(route))]
      } else if (draws !== undefined) {
        const chosen = pickWeighted(ordered.filter((route) => !demoted.has(route)), draws[0])
        if (chosen !== undefined) ordered = toFront(ordered, chosen)
      }
      // Each warm fallback (usable, not demoted, not the first) is put first on `canary` of the requests.
      let canary = Option.none<string>()
      if (draws !== undefined && settings.canary > 0) {
        const fallbacks = ordered.slice(1).filter((route) =>
          !demoted.has(route) && (conditions.canCanary === undefined || conditions.canCanary(route))
        )
        const index = Math.floor(draws[1] / settings.canary)
        if (index < fallbacks.length) {
          canary = Option.some(fallbacks[index]!)
          statsOf(fallbacks[index]!).canaries++
          ordered = toFront(ordered, fallbacks[index]!)
        }
      }
      if (settings.regionFailover && ordered.length > 1) {
        // Each route pulls the routes of the same provider and model up behind it, the preferred region
        // first — but a canary stays first, or the fallback it is meant to keep warm would not be.
        const head = Option.getOrUndefined(canary)
        const grouped: Array<string> = []
        for (const route of ordered) {
          if (grouped.includes(route)) continue
          const group = ordered.filter((other) => other === route || sameModel(route, other))
          const rest = group.filter((other) => other !== head)
          if (head !== undefined && rest.length < group.length) grouped.push(head)
          grouped.push(...rest.filter(inPreferredRegion), ...rest.filter((other) => !inPreferredRegion(other)))
        }
        ordered = grouped
      }
      return { routes: ordered, skipped: left, canary, promptClass }
    }

    const order: Router["order"] = (routes, prompt, conditions) =>
      Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        if (routes.length < 2 || (!hasWeights && settings.canary === 0)) {
          return Effect.succeed(arrange(routes, prompt, conditions, now, undefined))
        }
        return Effect.zipWith(
          Random.next,
          Random.next,
          (weight, canary) => arrange(routes, prompt, conditions, now, [weight, canary])
        )
      })

    const record: Router["record"] = (route, outcome) =>
      Effect.clockWith((clock) =>
        Effect.sync(() => statsOf(route).record(clock.unsafeCurrentTimeMillis(), outcome.success, outcome.latencyMs))
      )

    const limit: Router["limit"] = (route, call) => {
      const limiter = limiters.get(route)
      const counted = Effect.acquireUseRelease(
        Effect.sync(() => statsOf(route).inFlight++),
        () => call,
        () => Effect.sync(() => statsOf(route).inFlight--)
      )
      return limiter === undefined ? counted : limiter(counted)
    }

    const stats = Effect.clockWith((clock) =>
      Effect.sync(() => {
        const now = clock.unsafeCurrentTimeMillis()
        return [...statistics.entries()].map(([route, s]): RouteStats => {
          const { outcomes, successes } = s.counts(now)
          return {
            route,
            successRate: outcomes === 0 ? null : successes / outcomes,
            outcomes,
            latencyEwmaMs: s.ewma === 0 ? null : s.ewma,
            latencyP50Ms: s.percentile(0.5) ?? null,
            latencyP95Ms: s.percentile(0.95) ?? null,
            inFlight: s.inFlight,
            demoted: s.demoted,
            canaries: s.canaries
          }
        })
      })
    )

    return {
      order,
      record,
      unsafeLatency: (route) => statsOf(route).ewma,
      latencyP95: (route) => Option.map(Option.fromNullable(statsOf(route).percentile(0.95, hedgeMinimum)), Duration.millis),
      limit,
      stats
    }
  })
