import { describe, expect, it } from "@effect/vitest"
import { Effect, type Exit, Metric, MetricBoundaries, Option, Tracer } from "effect"
import { Metrics } from "../src/index.js"
import { always, fail, fakeImage, makePipeline, models, ok, overloaded, request } from "./support/pipelineFakes.js"

/** The value of the sample line `name{labels}` in a Prometheus text, if present. */
const sample = (text: string, line: string): number | undefined => {
  const found = text.split("\n").find((l) => l.startsWith(`${line} `))
  return found === undefined ? undefined : Number(found.slice(line.length + 1))
}

describe("Metrics.render", () => {
  it.effect("writes counters, gauges and cumulative histograms in the Prometheus text format", () =>
    Effect.gen(function*() {
      const counter = Metric.counter("test_render_total", { description: "a counter", incremental: true })
      const gauge = Metric.gauge("test_render_gauge")
      const histogram = Metric.histogram("test_render_seconds", MetricBoundaries.fromIterable([1, 5]))
      yield* Metric.incrementBy(Metric.tagged(counter, "route", "a \"quoted\"\\one"), 3)
      yield* Metric.set(Metric.tagged(gauge, "route", "a"), 2.5)
      for (const value of [0.5, 2, 7]) yield* Metric.update(Metric.tagged(histogram, "route", "a"), value)
      const text = Metrics.render(yield* Metric.snapshot)

      expect(text).toContain("# HELP test_render_total a counter\n# TYPE test_render_total counter\n")
      expect(sample(text, "test_render_total{route=\"a \\\"quoted\\\"\\\\one\"}")).toBe(3)
      expect(text).toContain("# TYPE test_render_gauge gauge\n")
      expect(sample(text, "test_render_gauge{route=\"a\"}")).toBe(2.5)
      expect(text).toContain("# TYPE test_render_seconds histogram\n")
      // cumulative: one value ≤ 1, two ≤ 5, three in all
      expect(sample(text, "test_render_seconds_bucket{route=\"a\",le=\"1\"}")).toBe(1)
      expect(sample(text, "test_render_seconds_bucket{route=\"a\",le=\"5\"}")).toBe(2)
      expect(sample(text, "test_render_seconds_bucket{route=\"a\",le=\"+Inf\"}")).toBe(3)
      expect(sample(text, "test_render_seconds_sum{route=\"a\"}")).toBe(9.5)
      expect(sample(text, "test_render_seconds_count{route=\"a\"}")).toBe(3)
      // one TYPE line per metric name, however many label sets
      expect(text.match(/# TYPE test_render_total /g)).toHaveLength(1)
    }))
})

describe("Metrics from a pipeline", () => {
  it.scoped("counts requests, provider calls, breaker states and retry budgets", () =>
    Effect.gen(function*() {
      const pro = always(models.pro, fail(overloaded))
      const flash = always(models.flash, ok())
      const pipeline = yield* makePipeline({
        image: { pro, flash },
        plan: [{ route: "pro" }, { route: "flash" }],
        breaker: { consecutiveFailures: 2 }
      })
      yield* pipeline.generate(request())
      yield* pipeline.generate(request())
      const text = yield* Metrics.prometheus

      const model = pipeline.model
      expect(sample(text, `ballast_requests_total{model="${model}",route="flash",outcome="full",error=""}`)).toBe(2)
      expect(sample(text, "ballast_provider_calls_total{route=\"pro\",outcome=\"Overloaded\"}")).toBe(2)
      expect(sample(text, "ballast_provider_calls_total{route=\"flash\",outcome=\"success\"}")).toBe(2)
      expect(sample(text, `ballast_request_duration_seconds_count{model="${model}",outcome="full"}`)).toBe(2)
      // two failures in a row opened pro's breaker; flash's is closed
      expect(sample(text, "ballast_breaker_state{route=\"pro\",state=\"Open\"}")).toBe(1)
      expect(sample(text, "ballast_breaker_state{route=\"pro\",state=\"Closed\"}")).toBe(0)
      expect(sample(text, "ballast_breaker_state{route=\"flash\",state=\"Closed\"}")).toBe(1)
      expect(sample(text, "ballast_retry_budget_tokens{route=\"flash\"}")).toBeGreaterThan(0)
    }))

  it.scoped("counts a failed request by its error tag, with no answering route", () =>
    Effect.gen(function*() {
      const pro = always(models.gpt15, fail(overloaded))
      const pipeline = yield* makePipeline({ image: { lonely: pro }, plan: [{ route: "lonely" }] })
      yield* Effect.either(pipeline.generate(request()))
      const text = yield* Metrics.prometheus
      expect(
        sample(text, `ballast_requests_total{model="${models.gpt15}",route="none",outcome="failed",error="AllRoutesFailed"}`)
      ).toBe(1)
    }))
})

/** A tracer that keeps every span it makes, to read names, parents and attributes after a run. */
const recordingTracer = () => {
  const spans: Array<Tracer.Span & { readonly attributes: Map<string, unknown> }> = []
  let next = 0
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      const attributes = new Map<string, unknown>()
      const span = {
        _tag: "Span" as const,
        name,
        spanId: `span-${next++}`,
        traceId: Option.match(parent, { onNone: () => `trace-${next}`, onSome: (p) => p.traceId }),
        parent,
        context,
        status: { _tag: "Started" as const, startTime } as Tracer.SpanStatus,
        attributes,
        links: [...links],
        sampled: true,
        kind,
        end(endTime: bigint, exit: Exit.Exit<unknown, unknown>) {
          span.status = { _tag: "Ended", startTime, endTime, exit }
        },
        attribute(key: string, value: unknown) {
          attributes.set(key, value)
        },
        event() {},
        addLinks() {}
      }
      spans.push(span)
      return span
    },
    context: (f) => f()
  })
  return { tracer, spans }
}

describe("traces from a pipeline", () => {
  it.scoped("a span per request and one per provider call, with route, attempt and outcome", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      const pro = always(models.pro, fail(overloaded))
      const flash = always(models.flash, ok())
      const pipeline = yield* makePipeline({ image: { pro, flash }, plan: [{ route: "pro" }, { route: "flash" }] })
      yield* pipeline.generate(request()).pipe(Effect.withTracer(tracer))

      const [requestSpan, ...attempts] = spans.filter((span) => span.name.startsWith("ballast."))
      expect(requestSpan!.name).toBe("ballast.request")
      expect(Object.fromEntries(requestSpan!.attributes)).toMatchObject({
        "ballast.model": models.pro,
        "ballast.route": "flash",
        "ballast.outcome": "full",
        "ballast.attempts": 2
      })
      expect(attempts.map((span) => [span.name, ...["route", "attempt", "outcome"].map((k) => span.attributes.get(`ballast.${k}`))]))
        .toStrictEqual([
          ["ballast.attempt", "pro", 1, "Overloaded"],
          ["ballast.attempt", "flash", 2, "success"]
        ])
      // every attempt is a child of the request's span
      for (const span of attempts) expect(Option.map(span.parent, (p) => p.spanId)).toStrictEqual(Option.some(requestSpan!.spanId))
    }))

  it.scoped("no span at all under Effect's native tracer, which shows spans to nobody", () =>
    Effect.gen(function*() {
      // What a provider call sees as its current span.
      const seen: Array<Option.Option<string>> = []
      const spy = Effect.flatMap(Effect.option(Effect.currentSpan), (span) =>
        Effect.sync(() => {
          seen.push(Option.map(span, (s) => s.name))
        }))
      const pro = fakeImage(models.pro, () => ok(), { onCall: spy })
      const pipeline = yield* makePipeline({ image: { pro }, plan: [{ route: "pro" }] })
      yield* pipeline.generate(request())
      const { spans, tracer } = recordingTracer()
      yield* pipeline.generate(request()).pipe(Effect.withTracer(tracer))
      expect(seen).toStrictEqual([Option.none(), Option.some("ballast.attempt")])
      expect(spans.map((span) => span.name)).toStrictEqual(["ballast.request", "ballast.attempt"])
    }))
})
