/**
 * The timeline under TestClock, on a real `Pipeline.make` over fake
 * providers: one sample per interval into a bounded ring, and each route's
 * figures — success rate, latency, breaker, degraded share, calls in flight.
 */
import { describe, expect, it } from "@effect/vitest"
import { GeneratedImage, ImageGenerator, ImageRequest, Overloaded, Pipeline, PipelineConfig } from "@ballast/core"
import { Deferred, Duration, Effect, Fiber, TestClock } from "effect"
import * as Timeline from "../../src/Timeline.js"

const png = GeneratedImage.make({ data: new Uint8Array([0x89, 0x50, 0x4e, 0x47]), mimeType: "image/png" })

// The fakes' models are not in the capability table: each route declares what it can make.
const capabilities = { modalities: ["image"], resolutions: ["1K", "2K"], aspectRatios: ["1:1"] }

/**
 * A pipeline `pro` → `flash` whose `pro` fails with `Overloaded` while `failing()` says so and whose `flash`
 * answers after `flashLatency` at 1K (so a 2K request it answers is degraded), or waits for `gate` when given.
 */
const pipelineOf = (options: {
  readonly model: string
  readonly failing: () => boolean
  readonly flashLatency?: Duration.DurationInput
  readonly gate?: Deferred.Deferred<void>
}) =>
  Effect.gen(function*() {
    const config = yield* PipelineConfig.decode({
      routes: {
        pro: { provider: "google", model: options.model, capabilities },
        flash: { provider: "google", model: `${options.model}-flash`, capabilities }
      },
      plan: [{ route: "pro", resolutions: ["2K"] }, { route: "flash", resolutions: ["2K"] }],
      retry: { attempts: 1 },
      health: { enabled: false },
      routing: { canary: 0 },
      adaptive: { enabled: false }
    })
    const pro = ImageGenerator.make({
      provider: "google",
      model: options.model,
      route: "pro",
      generate: () =>
        options.failing()
          ? Effect.fail(new Overloaded({ provider: "google", model: options.model, message: "The model is overloaded." }))
          : Effect.succeed({ images: [png] })
    })
    const flash = ImageGenerator.make({
      provider: "google",
      model: `${options.model}-flash`,
      route: "flash",
      generate: () =>
        Effect.zipRight(
          options.gate === undefined ? Effect.sleep(options.flashLatency ?? "0 millis") : Deferred.await(options.gate),
          Effect.succeed({ images: [png], resolution: "1K" as const })
        )
    })
    return yield* Pipeline.make(config, { image: { pro, flash } })
  })

const request = ImageRequest.make({ prompt: "a lighthouse at dusk", resolution: "2K" })

// Lets the forked sampler take the samples due at the current TestClock time.
const settle = TestClock.adjust("0 millis")

describe("Timeline", () => {
  it.scoped("takes one sample per interval and keeps at most retention / interval of them", () =>
    Effect.gen(function*() {
      const pipeline = yield* pipelineOf({ model: "ring-model", failing: () => false })
      const timeline = yield* Timeline.make(
        { models: new Map([["ring", pipeline]]), inFlight: Effect.succeed(3) },
        { interval: "1 second", retention: "5 seconds" }
      )
      expect(timeline.capacity).toBe(5)
      expect(Duration.toMillis(timeline.interval)).toBe(1000)
      yield* settle
      expect((yield* timeline.samples()).map((s) => s.at)).toEqual([0])

      yield* TestClock.adjust("3 seconds")
      expect((yield* timeline.samples()).map((s) => s.at)).toEqual([0, 1000, 2000, 3000])

      yield* TestClock.adjust("7 seconds")
      const samples = yield* timeline.samples()
      expect(samples.map((s) => s.at)).toEqual([6000, 7000, 8000, 9000, 10000])
      expect(samples.every((s) => s.inFlight === 3)).toBe(true)
      expect((yield* timeline.samples(8000)).map((s) => s.at)).toEqual([9000, 10000])
      expect(yield* timeline.samples(10000)).toEqual([])
    }))

  it.scoped("defaults to a sample every 2 seconds over 15 minutes", () =>
    Effect.gen(function*() {
      const pipeline = yield* pipelineOf({ model: "default-model", failing: () => false })
      const timeline = yield* Timeline.make({ models: new Map([["default", pipeline]]) })
      expect(Duration.toMillis(timeline.interval)).toBe(2000)
      expect(timeline.capacity).toBe(450)
      yield* TestClock.adjust("16 minutes")
      const samples = yield* timeline.samples()
      expect(samples).toHaveLength(450)
      expect(samples[0]!.at).toBe(960_000 - 449 * 2000)
      expect(samples[0]!.inFlight).toBeNull()
    }))

  it.scoped("describes the models' routes in plan order, from bare pipelines or the gateway's { kind, pipeline }", () =>
    Effect.gen(function*() {
      const pipeline = yield* pipelineOf({ model: "info-model", failing: () => false })
      const routes = [
        { route: "pro", provider: "google", model: "info-model", kind: "image" },
        { route: "flash", provider: "google", model: "info-model-flash", kind: "image" }
      ]
      const bare = yield* Timeline.make({ models: new Map([["info", pipeline]]) })
      expect(bare.models).toEqual([{ model: "info", routes }])
      const wrapped = yield* Timeline.make({ models: new Map([["info", { kind: "image", pipeline }]]) })
      expect(wrapped.models).toEqual([{ model: "info", routes }])
      yield* settle
      expect((yield* wrapped.samples())[0]!.models[0]!.routes.map((r) => r.route)).toEqual(["pro", "flash"])
    }))

  it.scoped("records success rate, latency, breaker state and degraded share as a route starts failing", () =>
    Effect.gen(function*() {
      let failing = false
      const pipeline = yield* pipelineOf({ model: "fail-model", failing: () => failing, flashLatency: "300 millis" })
      const timeline = yield* Timeline.make({ models: new Map([["fail", pipeline]]) }, { interval: "10 seconds" })
      yield* settle

      // Two requests answered in full by `pro`.
      yield* pipeline.generate(request)
      yield* pipeline.generate(request)
      yield* TestClock.adjust("10 seconds")
      const before = (yield* timeline.samples()).at(-1)!
      const model = before.models[0]!
      expect(model).toMatchObject({ model: "fail", requests: 2, degraded: 0, failed: 0, degradedShare: 0 })
      expect(model.routes[0]).toMatchObject({
        route: "pro",
        successRate: 1,
        outcomes: 2,
        breaker: "Closed",
        health: null,
        answered: 2,
        degraded: 0,
        degradedShare: 0,
        inFlight: 0
      })
      expect(model.routes[1]).toMatchObject({ route: "flash", successRate: null, answered: 0, degradedShare: null })

      // `pro` fails from now on: five failures open its breaker; `flash` answers every request at 1K, degraded.
      failing = true
      for (let i = 0; i < 6; i++) {
        const fiber = yield* Effect.fork(pipeline.generate(request))
        yield* TestClock.adjust("300 millis")
        const result = yield* Fiber.join(fiber)
        expect(result).toMatchObject({ route: "flash", degraded: true })
      }
      yield* TestClock.adjust("10 seconds")
      const after = (yield* timeline.samples()).at(-1)!.models[0]!
      expect(after).toMatchObject({ requests: 6, degraded: 6, failed: 0, degradedShare: 1 })
      const [pro, flash] = after.routes
      expect(pro).toMatchObject({ route: "pro", breaker: "Open", answered: 0, degradedShare: null })
      expect(pro!.successRate).toBeCloseTo(2 / 7) // two successes, five failures: the sixth request skipped it
      expect(flash).toMatchObject({ route: "flash", successRate: 1, outcomes: 6, breaker: "Closed", answered: 6, degraded: 6 })
      expect(flash!.degradedShare).toBe(1)
      expect(flash!.latencyEwmaMs).toBe(300)

      // An interval without requests counts none.
      yield* TestClock.adjust("10 seconds")
      expect((yield* timeline.samples()).at(-1)!.models[0]).toMatchObject({ requests: 0, degradedShare: null })
    }))

  it.scoped("counts the calls in flight on a route", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const pipeline = yield* pipelineOf({ model: "busy-model", failing: () => true, gate })
      const timeline = yield* Timeline.make({ models: new Map([["busy", pipeline]]) }, { interval: "1 second" })
      const fibers = yield* Effect.forEach([1, 2, 3], () => Effect.fork(pipeline.generate(request)))
      yield* TestClock.adjust("1 second")
      const flash = (yield* timeline.samples()).at(-1)!.models[0]!.routes[1]!
      expect(flash).toMatchObject({ route: "flash", inFlight: 3 })
      yield* Deferred.succeed(gate, undefined)
      yield* Effect.forEach(fibers, Fiber.join)
      yield* TestClock.adjust("1 second")
      expect((yield* timeline.samples()).at(-1)!.models[0]!.routes[1]).toMatchObject({ inFlight: 0, answered: 3 })
    }))

  it.scoped("stops sampling when its scope closes", () =>
    Effect.gen(function*() {
      const pipeline = yield* pipelineOf({ model: "scoped-model", failing: () => false })
      const timeline = yield* Effect.scoped(
        Effect.tap(Timeline.make({ models: new Map([["scoped", pipeline]]) }, { interval: "1 second" }), () => settle)
      )
      yield* TestClock.adjust("5 seconds")
      expect((yield* timeline.samples()).map((s) => s.at)).toEqual([0])
    }))
})
