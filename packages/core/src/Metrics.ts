/**
 * What the pipeline counts, as Effect `Metric`s, and their rendering in the
 * Prometheus text format (for a gateway's `/metrics`): requests by model,
 * answering route, outcome and error tag; provider calls by route and outcome;
 * request, provider-call and gateway-overhead latency histograms; and, read
 * when the metrics are rendered, breaker states, health and retry budgets.
 *
 * Metrics live in Effect's global metric registry, so every pipeline in a
 * process reports into the same figures, told apart by their labels.
 *
 * @since 0.1.0
 */
import { Effect, Metric, MetricBoundaries, MetricKey, type MetricKeyType, type MetricPair, MetricState } from "effect"

const seconds = MetricBoundaries.fromIterable([0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300])

const requestsKey = MetricKey.counter("ballast_requests_total", {
  description: "Requests by model, answering route, outcome and error tag",
  incremental: true
})

/**
 * Requests answered or failed: `model` (the pipeline's label), `route` (the
 * route that answered, `none` on failure), `outcome` (`full`, `degraded`,
 * `failed`), `error` (the failure's tag, empty otherwise).
 *
 * @since 0.1.0
 */
export const requests = Metric.fromMetricKey(requestsKey)

const requestDurationKey = MetricKey.histogram(
  "ballast_request_duration_seconds",
  seconds,
  "Request latency across every retry and fallback, in seconds"
)

/**
 * Request latency in seconds, by `model` and `outcome`.
 *
 * @since 0.1.0
 */
export const requestDuration = Metric.fromMetricKey(requestDurationKey)

const providerCallsKey = MetricKey.counter("ballast_provider_calls_total", {
  description: "Provider calls by route and outcome",
  incremental: true
})

/**
 * Provider calls by `route` and `outcome` (`success` or the error's tag).
 *
 * @since 0.1.0
 */
export const providerCalls = Metric.fromMetricKey(providerCallsKey)

const providerCallDurationKey = MetricKey.histogram(
  "ballast_provider_call_duration_seconds",
  seconds,
  "Provider call latency in seconds"
)

/**
 * Provider call latency in seconds, by `route` and `outcome`.
 *
 * @since 0.1.0
 */
export const providerCallDuration = Metric.fromMetricKey(providerCallDurationKey)

/**
 * A gateway's own time per request, in seconds: total time minus the time
 * spent waiting on providers.
 *
 * @since 0.1.0
 */
export const gatewayOverhead = Metric.histogram(
  "ballast_gateway_overhead_seconds",
  MetricBoundaries.fromIterable([0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1]),
  "Gateway time per request outside provider calls, in seconds"
)

/**
 * `1` for the current state of each route's breaker (`state` is `Closed`,
 * `Open`, `HalfOpen` or `Isolated`), `0` for the others.
 *
 * @since 0.1.0
 */
export const breakerState = Metric.gauge("ballast_breaker_state", {
  description: "1 for the current state of a route's circuit breaker, 0 for the others"
})

/**
 * `1` for the current health of each probed route (`status` is `healthy`,
 * `degraded` or `down`), `0` for the others.
 *
 * @since 0.1.0
 */
export const routeHealth = Metric.gauge("ballast_route_health", {
  description: "1 for the current health status of a probed route, 0 for the others"
})

/**
 * The retries each route's retry budget can pay for now.
 *
 * @since 0.1.0
 */
export const retryBudget = Metric.gauge("ballast_retry_budget_tokens", {
  description: "Retries a route's retry budget can pay for now"
})

// A metric made with `Metric.tagged` builds a new key, and hashes it, on every update; a metric made from a
// key that already holds its tags finds its hook at once. Each label combination is built once.
const withTags = <Type extends MetricKeyType.MetricKeyType<any, any>>(
  key: MetricKey.MetricKey<Type>,
  tags: ReadonlyArray<readonly [string, string]>
) => Metric.fromMetricKey(tags.reduce((tagged, [name, value]) => MetricKey.tagged(tagged, name, value), key))

const cached = <M>(cache: Map<string, M>, key: string, make: () => M): M => {
  let metric = cache.get(key)
  if (metric === undefined) {
    metric = make()
    cache.set(key, metric)
  }
  return metric
}

const requestCounters = new Map<string, ReturnType<typeof withTags<MetricKeyType.MetricKeyType.Counter<number>>>>()
const requestDurations = new Map<string, ReturnType<typeof withTags<MetricKeyType.MetricKeyType.Histogram>>>()
const callCounters = new Map<string, ReturnType<typeof withTags<MetricKeyType.MetricKeyType.Counter<number>>>>()
const callDurations = new Map<string, ReturnType<typeof withTags<MetricKeyType.MetricKeyType.Histogram>>>()

/**
 * Records one request's end.
 *
 * @since 0.1.0
 */
export const recordRequest = (labels: {
  readonly model: string
  readonly route: string
  readonly outcome: "full" | "degraded" | "failed"
  readonly error: string
  readonly seconds: number
}): Effect.Effect<void> => {
  const key = `${labels.model}\u0000${labels.route}\u0000${labels.outcome}\u0000${labels.error}`
  const counter = cached(requestCounters, key, () =>
    withTags(requestsKey, [
      ["model", labels.model],
      ["route", labels.route],
      ["outcome", labels.outcome],
      ["error", labels.error]
    ]))
  const duration = cached(requestDurations, `${labels.model}\u0000${labels.outcome}`, () =>
    withTags(requestDurationKey, [["model", labels.model], ["outcome", labels.outcome]]))
  return Effect.zipRight(Metric.increment(counter), Metric.update(duration, labels.seconds))
}

/**
 * Records one provider call's end.
 *
 * @since 0.1.0
 */
export const recordCall = (labels: {
  readonly route: string
  readonly outcome: string
  readonly seconds: number
}): Effect.Effect<void> => {
  const key = `${labels.route}\u0000${labels.outcome}`
  const counter = cached(callCounters, key, () =>
    withTags(providerCallsKey, [["route", labels.route], ["outcome", labels.outcome]]))
  const duration = cached(callDurations, key, () =>
    withTags(providerCallDurationKey, [["route", labels.route], ["outcome", labels.outcome]]))
  return Effect.zipRight(Metric.increment(counter), Metric.update(duration, labels.seconds))
}

// Effects that bring gauges up to date just before the metrics are read (breaker states, health, budgets);
// a pipeline adds one for its life and removes it when its scope closes.
const collectors = new Set<Effect.Effect<void>>()

/**
 * Adds an effect run before every rendering, to set gauges from live state;
 * returns the effect that removes it.
 *
 * @since 0.1.0
 */
export const addCollector = (collect: Effect.Effect<void>): Effect.Effect<Effect.Effect<void>> =>
  Effect.sync(() => {
    collectors.add(collect)
    return Effect.sync(() => {
      collectors.delete(collect)
    })
  })

/**
 * Sets a gauge labelled with `label` to 1 for `current` and 0 for every other
 * value in `all`, with the extra labels `tags` (e.g. `{ route }`).
 *
 * @since 0.1.0
 */
export const setOneHot = (
  gauge: Metric.Metric.Gauge<number>,
  tags: Readonly<Record<string, string>>,
  label: string,
  all: ReadonlyArray<string>,
  current: string
): Effect.Effect<void> => {
  const base = Object.entries(tags).reduce((metric, [key, value]) => Metric.tagged(metric, key, value), gauge)
  return Effect.forEach(all, (value) => Metric.set(Metric.tagged(base, label, value), value === current ? 1 : 0), {
    discard: true
  })
}

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

const labelsOf = (key: MetricKey.MetricKey.Untyped, extra?: readonly [string, string]): string => {
  const pairs = key.tags.map((tag) => [tag.key, tag.value] as const)
  if (extra !== undefined) pairs.push(extra)
  return pairs.length === 0 ? "" : `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`
}

const number = (value: number | bigint): string =>
  typeof value === "bigint"
    ? value.toString()
    : Number.isNaN(value)
    ? "NaN"
    : value === Number.POSITIVE_INFINITY
    ? "+Inf"
    : value === Number.NEGATIVE_INFINITY
    ? "-Inf"
    : String(value)

/**
 * Renders metric pairs in the Prometheus text exposition format (version
 * 0.0.4): one `# HELP` and `# TYPE` per metric name, counters, gauges and
 * histograms (cumulative `_bucket{le}`, `_sum`, `_count`); other kinds are left
 * out.
 *
 * @since 0.1.0
 */
export const render = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>): string => {
  const byName = new Map<string, Array<MetricPair.MetricPair.Untyped>>()
  for (const pair of pairs) {
    const list = byName.get(pair.metricKey.name)
    if (list === undefined) byName.set(pair.metricKey.name, [pair])
    else list.push(pair)
  }
  const lines: Array<string> = []
  for (const name of [...byName.keys()].sort()) {
    const group = byName.get(name)!
    const first = group[0]!.metricState
    const type = MetricState.isCounterState(first)
      ? "counter"
      : MetricState.isGaugeState(first)
      ? "gauge"
      : MetricState.isHistogramState(first)
      ? "histogram"
      : undefined
    if (type === undefined) continue
    const description = group.find((pair) => pair.metricKey.description._tag === "Some")?.metricKey.description
    if (description !== undefined && description._tag === "Some") lines.push(`# HELP ${name} ${description.value}`)
    lines.push(`# TYPE ${name} ${type}`)
    for (const { metricKey, metricState } of group) {
      if (MetricState.isCounterState(metricState) || MetricState.isGaugeState(metricState)) {
        const value = MetricState.isCounterState(metricState) ? metricState.count : metricState.value
        lines.push(`${name}${labelsOf(metricKey)} ${number(value)}`)
      } else if (MetricState.isHistogramState(metricState)) {
        for (const [boundary, count] of metricState.buckets) {
          if (boundary === Number.POSITIVE_INFINITY) continue
          lines.push(`${name}_bucket${labelsOf(metricKey, ["le", number(boundary)])} ${count}`)
        }
        lines.push(`${name}_bucket${labelsOf(metricKey, ["le", "+Inf"])} ${metricState.count}`)
        lines.push(`${name}_sum${labelsOf(metricKey)} ${number(metricState.sum)}`)
        lines.push(`${name}_count${labelsOf(metricKey)} ${metricState.count}`)
      }
    }
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`
}

/**
 * Every metric of the process in the Prometheus text format, after running
 * the collectors that set the live gauges.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { Metrics } from "@ballast/core"
 *
 * const body = Effect.runSync(Metrics.prometheus) // "# HELP ballast_requests_total …"
 */
export const prometheus: Effect.Effect<string> = Effect.suspend(() =>
  Effect.zipRight(
    Effect.forEach([...collectors], (collect) => collect, { discard: true }),
    Effect.map(Metric.snapshot, render)
  )
)
