/**
 * A timeline of every model's routes: a sampler, forked in a `Scope`, reads
 * each pipeline every `interval` (time from `Clock`) into a bounded ring of
 * plain, JSON-ready samples — what the dashboard draws.
 *
 * Per route a sample holds:
 * - `successRate` and `outcomes`: the router's figures over its sliding window
 *   (calls and health probes, 5 minutes by default);
 * - `latencyP50Ms`, `latencyP95Ms` and `latencyEwmaMs`: the median and p95 of
 *   the router's last 100 successful calls (`null` before 20 of them), and
 *   its moving average of their latency;
 * - `breaker` (the breaker state's tag), `health` (`null` for a route no probe
 *   watches), `inFlight` (calls under way), `demoted`;
 * - `answered` / `degraded` / `degradedShare`: the requests the route answered
 *   since the previous sample and how many of them were degraded, counted from
 *   `Metrics.requests` (`ballast_requests_total`). That metric is labelled by the
 *   pipeline's model (`Pipeline.labelsOf`), so two public models whose plans
 *   start on the same provider model share these counts.
 *
 * @since 0.1.0
 */
import { Health, Pipeline, Router } from "@ballast/core"
import { Clock, Context, Duration, Effect, Layer, Metric, MetricState, Option, Schedule, Schema, type Scope, Struct } from "effect"

/**
 * What a timeline reads of a pipeline — an image `Pipeline` or a text one
 * (`Pipeline.TextPipeline`) both are.
 *
 * @since 0.1.0
 */
export type Observed = Pick<Pipeline.Pipeline.Service, "config" | "breakers" | "router" | "health">

/**
 * What a timeline reads: the pipelines by public model name — bare or as
 * `{ kind, pipeline }` — and, optionally, the requests in flight. A
 * `Gateway.Service` is one.
 *
 * @since 0.1.0
 */
export interface Source {
  readonly models: ReadonlyMap<string, Observed | { readonly pipeline: Observed }>
  readonly inFlight?: Effect.Effect<number> | undefined
}

/**
 * A route of a model, as the dashboard labels it: an image route, the
 * text-description rung of an image plan (`describe`), or a route of a text
 * model.
 *
 * @since 0.1.0
 */
export const RouteInfo = Schema.Struct({
  route: Schema.String,
  provider: Schema.NullOr(Schema.String),
  model: Schema.NullOr(Schema.String),
  kind: Schema.Literal("image", "describe", "text")
})

/**
 * @since 0.1.0
 */
export type RouteInfo = typeof RouteInfo.Type

/**
 * A public model and its routes in plan order.
 *
 * @since 0.1.0
 */
export const ModelInfo = Schema.Struct({
  model: Schema.String,
  routes: Schema.Array(RouteInfo)
})

/**
 * @since 0.1.0
 */
export type ModelInfo = typeof ModelInfo.Type

/**
 * One route at one moment: the router's figures (`Router.RouteStats` but its
 * canary count: `successRate` over its window, latencies in ms), the breaker state's tag,
 * the health probes' verdict (`null` when no probe watches the route), the
 * requests it `answered` since the previous sample and how many of them were
 * `degraded` (`degradedShare`, `null` when it answered none), and its calls
 * `inFlight`.
 *
 * @since 0.1.0
 */
export const RouteSample = Schema.Struct({
  ...Struct.omit(Router.RouteStats.fields, "canaries"),
  breaker: Schema.NullOr(Schema.Literal("Closed", "Open", "HalfOpen", "Isolated")),
  health: Schema.NullOr(Health.Status),
  answered: Schema.Number,
  degraded: Schema.Number,
  degradedShare: Schema.NullOr(Schema.Number)
})

/**
 * @since 0.1.0
 */
export type RouteSample = typeof RouteSample.Type

/**
 * One model at one moment; counts are since the previous sample: the
 * `requests` that ended (answered fully, degraded, or failed), the
 * `degraded` and `failed` ones, and `degradedShare` (`null` when none ended).
 *
 * @since 0.1.0
 */
export const ModelSample = Schema.Struct({
  model: Schema.String,
  requests: Schema.Number,
  degraded: Schema.Number,
  failed: Schema.Number,
  degradedShare: Schema.NullOr(Schema.Number),
  routes: Schema.Array(RouteSample)
})

/**
 * @since 0.1.0
 */
export type ModelSample = typeof ModelSample.Type

/**
 * Every model at one moment (`at`: epoch milliseconds from `Clock`), and the
 * source's requests in flight (`null` when it does not tell).
 *
 * @since 0.1.0
 */
export const Sample = Schema.Struct({
  at: Schema.Number,
  inFlight: Schema.NullOr(Schema.Number),
  models: Schema.Array(ModelSample)
})

/**
 * @since 0.1.0
 */
export type Sample = typeof Sample.Type

/**
 * Options of a timeline.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Time between samples (default 2 seconds). */
  readonly interval?: Duration.DurationInput | undefined
  /** How far back the ring reaches (default 15 minutes): it keeps `ceil(retention / interval)` samples. */
  readonly retention?: Duration.DurationInput | undefined
}

/**
 * The timeline of a gateway's models.
 *
 * @since 0.1.0
 */
export class Timeline extends Context.Tag("@ballast/gateway/Timeline")<Timeline, Timeline.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace Timeline {
  /**
   * @since 0.1.0
   */
  export interface Service {
    readonly interval: Duration.Duration
    /** The most samples kept; older ones are dropped. */
    readonly capacity: number
    readonly models: ReadonlyArray<ModelInfo>
    /** The samples kept, oldest first; with `since`, only those taken after it (epoch ms). */
    readonly samples: (since?: number) => Effect.Effect<ReadonlyArray<Sample>>
  }
}

/**
 * The default time between samples.
 *
 * @since 0.1.0
 */
export const defaultInterval: Duration.Duration = Duration.seconds(2)

/**
 * The default reach of the ring.
 *
 * @since 0.1.0
 */
export const defaultRetention: Duration.Duration = Duration.minutes(15)

const modelInfo = (model: string, pipeline: Observed): ModelInfo => {
  const { kind, plan, routes } = pipeline.config
  const image = [...new Set(plan.flatMap((entry) => entry._tag === "ImageStep" ? [entry.route] : []))]
  const describe = plan.flatMap((entry) => entry._tag === "Describe" ? [entry.describe] : [])
  return {
    model,
    routes: [
      ...image.map((route) => ({ route, kind: kind === "text" ? "text" as const : "image" as const })),
      ...describe.map((route) => ({ route, kind: "describe" as const }))
    ].map(({ kind, route }) => ({
      route,
      provider: routes[route]?.provider ?? null,
      model: routes[route]?.model ?? null,
      kind
    }))
  }
}

// The name of `Metrics.requests`.
const requestsMetric = "ballast_requests_total"

// Cumulative `ballast_requests_total` by metric model label, then route, then outcome.
type Totals = Map<string, Map<string, Map<string, number>>>

const requestTotals: Effect.Effect<Totals> = Effect.map(Metric.snapshot, (pairs) => {
  const totals: Totals = new Map()
  for (const { metricKey, metricState } of pairs) {
    if (metricKey.name !== requestsMetric) continue
    if (!MetricState.isCounterState(metricState)) continue
    const tag = (key: string) => metricKey.tags.find((t) => t.key === key)?.value ?? ""
    const byRoute = totals.get(tag("model")) ?? new Map<string, Map<string, number>>()
    totals.set(tag("model"), byRoute)
    const byOutcome = byRoute.get(tag("route")) ?? new Map<string, number>()
    byRoute.set(tag("route"), byOutcome)
    const outcome = tag("outcome")
    byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + Number(metricState.count))
  }
  return totals
})

const countOf = (totals: Totals, label: string, route: string | undefined, outcome: string): number => {
  const byRoute = totals.get(label)
  if (byRoute === undefined) return 0
  const routes = route === undefined ? [...byRoute.values()] : [byRoute.get(route)]
  return routes.reduce((sum, byOutcome) => sum + (byOutcome?.get(outcome) ?? 0), 0)
}

const share = (part: number, whole: number) => whole === 0 ? null : part / whole

/**
 * Starts sampling `source` every `interval` (the first sample at once) into a
 * ring of `ceil(retention / interval)` samples; the sampler stops when the
 * scope closes.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { Demo, Timeline } from "@ballast/gateway"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const { gateway } = yield* Demo.make({ port: 0 })
 *   const timeline = yield* Timeline.make(gateway, { interval: "1 second" })
 *   const samples = yield* timeline.samples()
 * }))
 */
export const make = (source: Source, options: Options = {}): Effect.Effect<Timeline.Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const interval = Duration.decode(options.interval ?? defaultInterval)
    const retention = Duration.decode(options.retention ?? defaultRetention)
    const capacity = Math.max(1, Math.ceil(Duration.toMillis(retention) / Math.max(1, Duration.toMillis(interval))))
    const entries = [...source.models.entries()].map(([name, model]) => {
      const pipeline = "pipeline" in model ? model.pipeline : model
      return { info: modelInfo(name, pipeline), pipeline, label: Pipeline.labelsOf(pipeline.config).model }
    })

    const ring: Array<Sample> = []
    let next = 0 // where the next sample goes once the ring is full
    let previous = yield* requestTotals

    const routeSample = (
      pipeline: Observed,
      info: RouteInfo,
      stats: ReadonlyArray<Router.RouteStats>,
      probed: ReadonlySet<string>,
      delta: (route: string | undefined, outcome: string) => number
    ) =>
      Effect.gen(function*() {
        const stat = stats.find((s) => s.route === info.route)
        const breaker = pipeline.breakers.get(info.route)
        const state = breaker === undefined ? null : (yield* breaker.state)._tag
        const health = Option.isSome(pipeline.health) && probed.has(info.route)
          ? pipeline.health.value.unsafeStatus(info.route)
          : null
        const degraded = delta(info.route, "degraded")
        const answered = delta(info.route, "full") + degraded
        return {
          route: info.route,
          successRate: stat?.successRate ?? null,
          outcomes: stat?.outcomes ?? 0,
          latencyEwmaMs: stat?.latencyEwmaMs ?? null,
          latencyP50Ms: stat?.latencyP50Ms ?? null,
          latencyP95Ms: stat?.latencyP95Ms ?? null,
          breaker: state,
          health,
          answered,
          degraded,
          degradedShare: share(degraded, answered),
          inFlight: stat?.inFlight ?? 0,
          demoted: stat?.demoted ?? false
        } satisfies RouteSample
      })

    const sample = Effect.gen(function*() {
      const at = yield* Clock.currentTimeMillis
      const totals = yield* requestTotals
      const before = previous
      previous = totals
      const models: Array<ModelSample> = []
      for (const { info, label, pipeline } of entries) {
        const delta = (route: string | undefined, outcome: string) =>
          Math.max(0, countOf(totals, label, route, outcome) - countOf(before, label, route, outcome))
        const stats = yield* pipeline.router.stats
        const probed = new Set(
          Option.isSome(pipeline.health) ? (yield* pipeline.health.value.snapshot).map((h) => h.route) : []
        )
        const routes = yield* Effect.forEach(info.routes, (route) => routeSample(pipeline, route, stats, probed, delta))
        const degraded = delta(undefined, "degraded")
        const failed = delta(undefined, "failed")
        const requests = delta(undefined, "full") + degraded + failed
        models.push({ model: info.model, requests, degraded, failed, degradedShare: share(degraded, requests), routes })
      }
      const inFlight = source.inFlight === undefined ? null : yield* source.inFlight
      const taken: Sample = { at, inFlight, models }
      if (ring.length < capacity) ring.push(taken)
      else {
        ring[next] = taken
        next = (next + 1) % capacity
      }
    })

    // A sample that dies (a bug) is logged and skipped rather than ending the timeline.
    const sampleSafely = Effect.catchAllCause(sample, (cause) => Effect.logWarning("timeline: a sample failed", cause))
    yield* Effect.forkScoped(Effect.repeat(sampleSafely, Schedule.fixed(interval)))

    const ordered = (): ReadonlyArray<Sample> => ring.length < capacity ? [...ring] : [...ring.slice(next), ...ring.slice(0, next)]

    return {
      interval,
      capacity,
      models: entries.map((entry) => entry.info),
      samples: (since) =>
        Effect.sync(() => {
          const all = ordered()
          return since === undefined ? all : all.filter((s) => s.at > since)
        })
    }
  })

/**
 * A Layer of the `Timeline` of `source`, sampling while the Layer lives.
 *
 * @since 0.1.0
 */
export const layer = (source: Source, options?: Options): Layer.Layer<Timeline> =>
  Layer.scoped(Timeline, make(source, options))
