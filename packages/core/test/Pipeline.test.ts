import { describe, expect, it } from "@effect/vitest"
import { FileSystem } from "@effect/platform"
import { SystemError } from "@effect/platform/Error"
import {
  Cause,
  Clock,
  Config,
  ConfigProvider,
  Duration,
  Effect,
  Either,
  Exit,
  FastCheck,
  Fiber,
  Layer,
  Logger,
  Option,
  Schema,
  TestClock
} from "effect"
import {
  AspectRatio,
  CircuitOpen,
  Deadline,
  type GenerationError,
  ImageGenerator,
  ImageResult,
  Pipeline,
  PipelineConfig,
  type Resolution,
  Resolutions,
  TextGenerator,
  type TextRequest,
  Timeout
} from "../src/index.js"
import {
  allRoutesFailedOf,
  always,
  badRequest,
  contentRejected,
  fail,
  type FakeImage,
  fakeImage,
  labels,
  makePipeline,
  models,
  ok,
  overloaded,
  prompt,
  rateLimited,
  type Reply,
  request,
  runForADay,
  runVirtual,
  successOf,
  timedOut,
  unauthorized,
  unavailable
} from "./support/pipelineFakes.js"

// ---------------------------------------------------------------------------
// Fakes: the image fakes are in support/pipelineFakes.ts; a text model here
// ---------------------------------------------------------------------------

interface FakeText {
  readonly service: TextGenerator.Service
  readonly requests: ReadonlyArray<TextRequest>
}

const fakeText = (script: (call: number) => Either.Either<string, GenerationError>): FakeText => {
  const requests: Array<TextRequest> = []
  const service = TextGenerator.make({
    provider: "openai",
    model: models.text,
    generate: (request) =>
      Effect.suspend(() => {
        const reply = script(requests.length)
        requests.push(request)
        return Either.match(reply, { onLeft: Effect.fail, onRight: Effect.succeed })
      })
  })
  return { service, requests }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const noRetry = { attempts: 1 }

const resolutionsOf = (fake: FakeImage) => fake.calls.map((call) => call.resolution)
const callCount = (fakes: Readonly<Record<string, FakeImage>>) =>
  Object.values(fakes).reduce((sum, fake) => sum + fake.calls.length, 0)

const validResult = Schema.validateSync(ImageResult)

// ---------------------------------------------------------------------------
// Arbitraries for the properties
// ---------------------------------------------------------------------------

const transientError = FastCheck.oneof(
  FastCheck.constantFrom<GenerationError>(overloaded, unavailable, timedOut, rateLimited()),
  FastCheck.integer({ min: 0, max: 90_000 }).map((ms): GenerationError => rateLimited(ms))
)

const anyError = FastCheck.oneof(
  { weight: 4, arbitrary: transientError },
  {
    weight: 1,
    arbitrary: FastCheck.constantFrom<GenerationError>(unauthorized, contentRejected, badRequest("route"))
  }
)

const retryArbitrary = FastCheck.record({
  attempts: FastCheck.integer({ min: 1, max: 5 }),
  initialDelay: FastCheck.integer({ min: 0, max: 5_000 }),
  extraMaxDelay: FastCheck.integer({ min: 0, max: 60_000 }),
  factor: FastCheck.constantFrom(1, 1.5, 2, 3),
  jitter: FastCheck.boolean()
}).map(({ extraMaxDelay, ...retry }) => ({ ...retry, maxDelay: retry.initialDelay + extraMaxDelay }))

const breakerArbitrary = FastCheck.record({
  consecutiveFailures: FastCheck.integer({ min: 1, max: 6 }),
  minimumCalls: FastCheck.integer({ min: 1, max: 10 }),
  failureRatio: FastCheck.constantFrom(0.25, 0.5, 1),
  openDuration: FastCheck.integer({ min: 1, max: 60_000 })
}).map((breaker) => ({ ...breaker, maxOpenDuration: breaker.openDuration * 2 }))

const resolutionArbitrary = FastCheck.constantFrom<Resolution>("1K", "2K", "4K")
const aspectRatioArbitrary = FastCheck.constantFrom(...AspectRatio.literals)

/** A plan over the routes of `pool`, in pool order, the `pro` entry with its own rungs. */
const planArbitrary = <const Name extends string>(pool: ReadonlyArray<Name>) =>
  FastCheck.record({
    routes: FastCheck.subarray([...pool], { minLength: 1 }),
    proRungs: FastCheck.subarray<Resolution>(["4K", "2K", "1K"])
  }).map(({ proRungs, routes }) =>
    routes.map((route) =>
      route === "pro" && proRungs.length > 0 ? { route, resolutions: proRungs } : { route }
    )
  )

const replyArbitrary = (maxLatency: number) =>
  FastCheck.oneof(
    {
      weight: 1,
      arbitrary: FastCheck.integer({ min: 0, max: maxLatency }).map((latency) => ok({ latency }))
    },
    {
      weight: 3,
      arbitrary: FastCheck.tuple(anyError, FastCheck.integer({ min: 0, max: maxLatency })).map(([error, latency]) =>
        fail(error, latency)
      )
    }
  )

/** One script per route of the pool: the replies, cycled. */
const scriptsArbitrary = (maxLatency: number) =>
  FastCheck.array(FastCheck.array(replyArbitrary(maxLatency), { minLength: 1, maxLength: 6 }), {
    minLength: 4,
    maxLength: 4
  })

const scriptedPool = (scripts: ReadonlyArray<ReadonlyArray<Reply>>) => {
  const pool = { pro: models.pro, flash: models.flash, flash25: models.flash25, gpt2: models.gpt2 }
  return Object.fromEntries(
    Object.entries(pool).map(([name, model], i) => {
      const script = scripts[i]!
      return [name, fakeImage(model, (call) => script[call % script.length]!)]
    })
  )
}

// ---------------------------------------------------------------------------

describe("Pipeline", () => {
  describe("resolution ladder", () => {
    it.scoped("falls 4K → 2K → 1K → a text description", () =>
      Effect.gen(function*() {
        const pro = always(models.pro, fail(overloaded))
        const flash25 = always(models.flash25, fail(unavailable))
        const writer = fakeText(() => Either.right("A white lighthouse against an orange sky."))
        const pipeline = yield* makePipeline({
          image: { pro, flash25 },
          text: { writer },
          plan: [{ route: "pro", resolutions: ["4K", "2K"] }, { route: "flash25" }, { describe: "writer" }]
        })
        expect(pipeline.stepsFor({ resolution: "4K", aspectRatio: "1:1" })).toStrictEqual([
          { _tag: "Image", route: "pro", resolution: "4K", aspectRatio: "1:1" },
          { _tag: "Image", route: "pro", resolution: "2K", aspectRatio: "1:1" },
          { _tag: "Image", route: "flash25", resolution: "1K", aspectRatio: "1:1" },
          { _tag: "Describe", route: "writer" }
        ])

        const result = yield* pipeline.generate(request("4K"))
        expect(result).toBeInstanceOf(ImageResult)
        expect(validResult(result)).toBe(result)
        expect(result.images).toStrictEqual([])
        expect(result.description).toBe("A white lighthouse against an orange sky.")
        expect(result.resolution).toBe("description")
        expect(result.requestedResolution).toBe("4K")
        expect(result.degraded).toBe(true)
        expect([result.route, result.provider, result.model]).toStrictEqual(["writer", "openai", models.text])
        expect(result.attempts).toBe(4)
        expect(resolutionsOf(pro)).toStrictEqual(["4K", "2K"])
        expect(resolutionsOf(flash25)).toStrictEqual(["1K"])
        expect(writer.requests).toHaveLength(1)
        expect(writer.requests[0]!.messages).toStrictEqual([
          { role: "system", content: Pipeline.describeInstruction },
          { role: "user", content: prompt }
        ])
      }))

    it.scoped("stops at the first rung that answers, degraded when it is below the request", () =>
      Effect.gen(function*() {
        const pro = fakeImage(models.pro, (call) => call === 0 ? fail(overloaded) : ok())
        const flash25 = always(models.flash25, ok())
        const pipeline = yield* makePipeline({
          image: { pro, flash25 },
          plan: [{ route: "pro", resolutions: ["4K", "2K"] }, { route: "flash25" }]
        })
        const result = yield* pipeline.generate(request("4K"))
        expect([result.route, result.resolution, result.requestedResolution]).toStrictEqual(["pro", "2K", "4K"])
        expect(result.degraded).toBe(true)
        expect(result.images).toHaveLength(1)
        expect(result.description).toBeUndefined()
        expect(result.attempts).toBe(2)
        expect(flash25.calls).toHaveLength(0)
      }))

    it.scoped("the first rung answering is not degraded", () =>
      Effect.gen(function*() {
        const pro = always(models.pro, ok())
        const pipeline = yield* makePipeline({ image: { pro }, plan: [{ route: "pro", resolutions: ["4K", "2K"] }] })
        const result = yield* pipeline.generate(request("4K", { aspectRatio: "16:9" }))
        expect([result.resolution, result.aspectRatio, result.degraded]).toStrictEqual(["4K", "16:9", false])
        expect(result.attempts).toBe(1)
      }))

    it.scoped("steps are capped at the requested resolution and deduplicated", () =>
      Effect.gen(function*() {
        const pro = always(models.pro, fail(overloaded))
        const flash25 = always(models.flash25, fail(overloaded))
        const pipeline = yield* makePipeline({
          image: { pro, flash25 },
          plan: [{ route: "pro", resolutions: ["4K", "2K"] }, { route: "flash25" }, { route: "pro" }]
        })
        const shape = (resolution: Resolution) => ({ resolution, aspectRatio: "1:1" as const })
        const steps = (resolution: Resolution) =>
          pipeline.stepsFor(shape(resolution)).map((step) =>
            step._tag === "Image" ? `${step.route}@${step.resolution}` : step.route
          )
        expect(steps("1K")).toStrictEqual(["pro@1K", "flash25@1K"])
        expect(steps("2K")).toStrictEqual(["pro@2K", "flash25@1K"])
        expect(steps("4K")).toStrictEqual(["pro@4K", "pro@2K", "flash25@1K"])

        const failed = allRoutesFailedOf(yield* Effect.either(pipeline.generate(request("1K"))))
        expect(failed.attempts.map((a) => `${a.route}@${a.resolution}`)).toStrictEqual(["pro@1K", "flash25@1K"])
        expect(resolutionsOf(pro)).toStrictEqual(["1K"])
      }))

    it.scoped("a 1K request to a plan [pro@4K, 2K] makes one pro@1K step", () =>
      Effect.gen(function*() {
        const pro = always(models.pro, ok())
        const pipeline = yield* makePipeline({ image: { pro }, plan: [{ route: "pro", resolutions: ["4K", "2K"] }] })
        expect(pipeline.stepsFor({ resolution: "1K", aspectRatio: "1:1" })).toStrictEqual([
          { _tag: "Image", route: "pro", resolution: "1K", aspectRatio: "1:1" }
        ])
        const result = yield* pipeline.generate(request("1K"))
        expect([result.resolution, result.degraded]).toStrictEqual(["1K", false])
        expect(resolutionsOf(pro)).toStrictEqual(["1K"])
      }))
  })

  describe("capability mapping", () => {
    it.scoped("4K asked of gemini-2.5-flash-image is made at 1K, degraded", () =>
      Effect.gen(function*() {
        const flash25 = always(models.flash25, ok())
        const pipeline = yield* makePipeline({ image: { flash25 }, plan: [{ route: "flash25" }] })
        expect(pipeline.stepsFor({ resolution: "4K", aspectRatio: "16:9" })).toStrictEqual([
          { _tag: "Image", route: "flash25", resolution: "1K", aspectRatio: "16:9" }
        ])
        const result = yield* pipeline.generate(request("4K", { aspectRatio: "16:9" }))
        expect(flash25.calls.map((c) => [c.resolution, c.aspectRatio])).toStrictEqual([["1K", "16:9"]])
        expect([result.resolution, result.requestedResolution, result.degraded]).toStrictEqual(["1K", "4K", true])
      }))

    it.scoped("21:9 asked of gpt-image-1.5 is made at 3:2, degraded", () =>
      Effect.gen(function*() {
        const gpt = always(models.gpt15, ok())
        const pipeline = yield* makePipeline({ image: { gpt }, plan: [{ route: "gpt" }] })
        expect(pipeline.stepsFor({ resolution: "1K", aspectRatio: "21:9" })).toStrictEqual([
          { _tag: "Image", route: "gpt", resolution: "1K", aspectRatio: "3:2" }
        ])
        const result = yield* pipeline.generate(request("1K", { aspectRatio: "21:9" }))
        expect(gpt.calls.map((c) => [c.resolution, c.aspectRatio])).toStrictEqual([["1K", "3:2"]])
        expect([result.resolution, result.aspectRatio, result.degraded]).toStrictEqual(["1K", "3:2", true])

        const exact = yield* pipeline.generate(request("1K", { aspectRatio: "2:3" }))
        expect([exact.aspectRatio, exact.degraded]).toStrictEqual(["2:3", false])
      }))

    it.scoped("a provider that delivers less than it was asked for makes the result degraded", () =>
      Effect.gen(function*() {
        const pro = always(models.pro, ok({ resolution: "1K" }))
        const pipeline = yield* makePipeline({ image: { pro }, plan: [{ route: "pro" }] })
        const result = yield* pipeline.generate(request("2K"))
        expect(resolutionsOf(pro)).toStrictEqual(["2K"])
        expect([result.resolution, result.requestedResolution, result.degraded]).toStrictEqual(["1K", "2K", true])
      }))
  })

  describe("provenance", () => {
    it.scoped("names the route, provider, model and resolution, and counts calls and Clock time across steps, split into provider calls and waits", () =>
      Effect.gen(function*() {
        const pro = always(models.pro, fail(overloaded, 1_000))
        const flash = always(models.flash, ok({ latency: 3_000 }))
        const pipeline = yield* makePipeline({
          image: { pro, flash },
          plan: [{ route: "pro" }, { route: "flash" }],
          retry: { attempts: 2, initialDelay: "500 millis", jitter: false }
        })
        const { elapsed, result } = yield* runForADay(pipeline.generate(request("2K", { aspectRatio: "4:3" })))
        const image = successOf(result)
        expect(validResult(image)).toBe(image)
        // pro: 0–1 s, backoff 0.5 s, 1.5–2.5 s; flash: 2.5–5.5 s
        expect(pro.calls.map((c) => c.at)).toStrictEqual([0, 1_500])
        expect(flash.calls.map((c) => c.at)).toStrictEqual([2_500])
        expect({
          route: image.route,
          provider: image.provider,
          model: image.model,
          resolution: image.resolution,
          requestedResolution: image.requestedResolution,
          aspectRatio: image.aspectRatio,
          degraded: image.degraded,
          attempts: image.attempts,
          latency: Duration.toMillis(image.latency),
          providerLatency: Duration.toMillis(image.providerLatency),
          waited: Duration.toMillis(image.waited)
        }).toStrictEqual({
          route: "flash",
          provider: "google",
          model: models.flash,
          resolution: "2K",
          requestedResolution: "2K",
          aspectRatio: "4:3",
          degraded: false,
          attempts: 3,
          latency: 5_500,
          // three calls of 1 s, 1 s and 3 s; the 0.5 s backoff between pro's two
          providerLatency: 5_000,
          waited: 500
        })
        expect(elapsed).toBe(5_500)
      }))

    it.scoped("the pipeline answers as provider ballast, route pipeline, labelled with its first model", () =>
      Effect.gen(function*() {
        const pipeline = yield* makePipeline({
          image: { pro: always(models.pro, ok()), flash: always(models.flash, ok()) },
          plan: [{ route: "flash" }, { route: "pro" }]
        })
        expect([pipeline.provider, pipeline.route, pipeline.model]).toStrictEqual(["ballast", "pipeline", models.flash])
        expect([...pipeline.breakers.keys()].sort()).toStrictEqual(["flash", "pro"])
        expect([...pipeline.budgets.keys()].sort()).toStrictEqual(["flash", "pro"])
      }))
  })

  describe("errors that are not retried", () => {
    it.scoped("a request-scoped BadRequest is not retried, not tried elsewhere and returned as it is", () =>
      Effect.gen(function*() {
        const invalid = badRequest("request")
        const pro = always(models.pro, fail(invalid))
        const flash = always(models.flash, ok())
        const pipeline = yield* makePipeline({
          image: { pro, flash },
          plan: [{ route: "pro" }, { route: "flash" }],
          retry: { attempts: 5, initialDelay: 0, maxDelay: 0 },
          breaker: { consecutiveFailures: 1 }
        })
        for (let i = 0; i < 3; i++) {
          const result = yield* Effect.either(pipeline.generate(request()))
          // the error itself, unwrapped from the proxy Effect puts around an error that fails inside a span
          expect(Either.isLeft(result) && Cause.originalError(result.left)).toBe(invalid)
        }
        expect(pro.calls).toHaveLength(3)
        expect(flash.calls).toHaveLength(0)
        expect((yield* pipeline.breakers.get("pro")!.state)._tag).toBe("Closed")
      }))

    it.scoped("a route-scoped BadRequest, Unauthorized or ContentRejected is not retried but falls back", () =>
      Effect.gen(function*() {
        for (const error of [badRequest("route"), unauthorized, contentRejected]) {
          const pro = always(models.pro, fail(error))
          const flash = always(models.flash, ok())
          const pipeline = yield* makePipeline({
            image: { pro, flash },
            plan: [{ route: "pro" }, { route: "flash" }],
            retry: { attempts: 5, initialDelay: 0, maxDelay: 0 }
          })
          const result = yield* pipeline.generate(request())
          expect([result.route, result.attempts, pro.calls.length]).toStrictEqual(["flash", 2, 1])
        }
      }))

    it.scoped("a transient error is retried on the same step before falling back", () =>
      Effect.gen(function*() {
        const pro = fakeImage(models.pro, (call) => call < 3 ? fail(unavailable) : ok())
        const pipeline = yield* makePipeline({
          image: { pro, flash: always(models.flash, ok()) },
          plan: [{ route: "pro" }, { route: "flash" }],
          retry: { attempts: 4, initialDelay: 0, maxDelay: 0 }
        })
        const result = yield* pipeline.generate(request())
        expect([result.route, result.attempts, pro.calls.length]).toStrictEqual(["pro", 4, 4])
      }))
  })

  describe("deadline", () => {
    it.scoped("a retry whose delay would overrun the deadline is not started: the next step answers", () =>
      Effect.gen(function*() {
        const pro = always(models.pro, fail(overloaded))
        const flash = always(models.flash, ok())
        const pipeline = yield* makePipeline({
          image: { pro, flash },
          plan: [{ route: "pro" }, { route: "flash" }],
          retry: { attempts: 5, initialDelay: "4 seconds", jitter: false },
          deadline: "10 seconds"
        })
        const { elapsed, result } = yield* runForADay(pipeline.generate(request()))
        // pro at 0 s and 4 s; the next retry would be at 12 s, past the 10 s deadline
        expect(pro.calls.map((c) => c.at)).toStrictEqual([0, 4_000])
        expect(flash.calls.map((c) => c.at)).toStrictEqual([4_000])
        const image = successOf(result)
        expect([image.route, image.attempts, Duration.toMillis(image.latency)]).toStrictEqual(["flash", 3, 4_000])
        expect(elapsed).toBe(4_000)
      }))

    it.scoped("when the deadline passes mid-call the caller gets Timeout and the call is interrupted", () =>
      Effect.gen(function*() {
        const pro = always(models.pro, ok({ latency: 60_000 }))
        const flash = always(models.flash, ok())
        const pipeline = yield* makePipeline({
          image: { pro, flash },
          plan: [{ route: "pro" }, { route: "flash" }],
          deadline: "5 seconds"
        })
        const fiber = yield* Effect.fork(Effect.either(pipeline.generate(request())))
        yield* TestClock.adjust("4999 millis")
        expect(pro.calls.map((c) => c.outcome)).toStrictEqual(["pending"])
        expect(fiber.unsafePoll()).toBeNull()
        yield* TestClock.adjust("1 millis")
        const result = yield* Fiber.join(fiber)
        expect(Either.isLeft(result) && result.left).toBeInstanceOf(Timeout)
        if (Either.isLeft(result)) {
          expect(result.left._tag).toBe("Timeout")
          expect(result.left.provider).toBe("ballast")
          expect(result.left.message).toBe("the deadline of 5s passed after 1 provider call")
        }
        expect(pro.calls.map((c) => c.outcome)).toStrictEqual(["interrupted"])
        expect(flash.calls).toHaveLength(0)
      }))

    it.scoped("the request's deadline replaces the configured one", () =>
      Effect.gen(function*() {
        const slow = (latency: number) => always(models.pro, ok({ latency }))
        const short = slow(3_000)
        const shortPipeline = yield* makePipeline({
          image: { pro: short },
          plan: [{ route: "pro" }],
          deadline: "1 minute"
        })
        const cut = yield* runForADay(shortPipeline.generate(request("1K", { deadline: "2 seconds" })))
        expect(Either.isLeft(cut.result) && cut.result.left._tag).toBe("Timeout")
        expect(cut.elapsed).toBe(2_000)
        expect(short.calls.map((c) => c.outcome)).toStrictEqual(["interrupted"])

        const long = slow(20_000)
        const longPipeline = yield* makePipeline({
          image: { pro: long },
          plan: [{ route: "pro" }],
          deadline: "10 seconds"
        })
        const allowed = yield* runForADay(longPipeline.generate(request("1K", { deadline: "30 seconds" })))
        expect(successOf(allowed.result).route).toBe("pro")
        expect(allowed.elapsed).toBe(20_000)
      }))

    it.scoped("a slow failing step keeps a share of the deadline for the steps after it", () =>
      Effect.gen(function*() {
        // pro fails after 25 s each time; gpt-image-2 answers in 10 s; a 120 s deadline and the default retry.
        const run = (reserve: { readonly reserveShare?: number }) =>
          Effect.gen(function*() {
            const pro = always(models.pro, fail(overloaded, 25_000))
            const pipeline = yield* makePipeline({
              image: { pro, gpt: always(models.gpt2, ok({ latency: 10_000 })) },
              plan: [{ route: "pro" }, { route: "gpt" }],
              retry: { jitter: false },
              deadline: "120 seconds",
              ...reserve
            })
            return { ...(yield* runForADay(pipeline.generate(request()))), calls: pro.calls.map((c) => c.at) }
          })
        // With the default reserve (a quarter of the deadline) pro is retried while another 25 s attempt would
        // still leave 30 s, so gpt answers at 91 s instead of the request timing out on pro's fifth attempt.
        const kept = yield* run({})
        expect(kept.calls).toStrictEqual([0, 27_000, 56_000])
        expect(Either.isRight(kept.result) && kept.result.right.route).toBe("gpt")
        expect(kept.elapsed).toBe(91_000)
        // With no reserve, pro takes the whole deadline and the request times out.
        const greedy = yield* run({ reserveShare: 0 })
        expect(Either.isLeft(greedy.result) && greedy.result.left._tag).toBe("Timeout")
        expect(greedy.elapsed).toBe(120_000)
      }))

    it.scoped("a retry is expected to take as long as a success on the route usually does", () =>
      Effect.gen(function*() {
        // pro's first call succeeds in 50 s; after that it fails within a second. A 100 s deadline keeps 25 s.
        const pro = fakeImage(models.pro, (call) => call === 0 ? ok({ latency: 50_000 }) : fail(overloaded, 1_000))
        const flash = always(models.flash, ok())
        const pipeline = yield* makePipeline({
          image: { pro, flash },
          plan: [{ route: "pro" }, { route: "flash" }],
          retry: { jitter: false },
          deadline: "100 seconds"
        })
        yield* runForADay(pipeline.generate(request()))
        const start = yield* Clock.currentTimeMillis
        const { result } = yield* runForADay(pipeline.generate(request()))
        // retries at 3, 8 and 17 s would each end, at 50 s, before 100 - 25 s; the one at 34 s would not
        expect(pro.calls.slice(1).map((c) => c.at - start)).toStrictEqual([0, 3_000, 8_000, 17_000])
        expect(Either.isRight(result) && result.right.route).toBe("flash")
      }))

    it.scoped("an enclosing Deadline that is earlier wins, for the timeout and for retries", () =>
      Effect.gen(function*() {
        const pro = always(models.pro, fail(overloaded))
        const flash = always(models.flash, ok({ latency: 10_000 }))
        const pipeline = yield* makePipeline({
          image: { pro, flash },
          plan: [{ route: "pro" }, { route: "flash" }],
          retry: { attempts: 5, initialDelay: "2 seconds", jitter: false },
          deadline: "1 minute"
        })
        const outer = new Timeout({ ...labels, message: "outer" })
        const { elapsed, result } = yield* runForADay(
          pipeline.generate(request()).pipe(Deadline.within("7 seconds", () => outer))
        )
        expect(Either.isLeft(result) && result.left._tag).toBe("Timeout")
        expect(elapsed).toBe(7_000)
        // the retry at 2 s fits under 7 s less the reserve for flash (a quarter of 7 s); the one at 6 s does not
        expect(pro.calls.map((c) => c.at)).toStrictEqual([0, 2_000])
        expect(flash.calls.map((c) => [c.at, c.outcome])).toStrictEqual([[2_000, "interrupted"]])
      }))
  })

  describe("circuit breaker", () => {
    it.scoped("after N consecutive failures requests skip the route; after openDuration one probe goes through", () =>
      Effect.gen(function*() {
        // three failures, then it recovers (slowly, so concurrent requests overlap the probe)
        const pro = fakeImage(models.pro, (call) => call < 3 ? fail(overloaded) : ok({ latency: 1_000 }))
        const flash = always(models.flash, ok())
        const pipeline = yield* makePipeline({
          image: { pro, flash },
          plan: [{ route: "pro" }, { route: "flash" }],
          breaker: { consecutiveFailures: 3, openDuration: "10 seconds", maxOpenDuration: "40 seconds" }
        })
        const breaker = pipeline.breakers.get("pro")!
        for (let i = 0; i < 3; i++) {
          const result = yield* pipeline.generate(request())
          expect([result.route, result.attempts]).toStrictEqual(["flash", 2])
        }
        expect(yield* breaker.state).toStrictEqual({ _tag: "Open", openedAt: 0, until: 10_000, attempt: 1 })

        for (let i = 0; i < 3; i++) {
          const result = yield* pipeline.generate(request())
          // answered by flash; the call the breaker turned away is not an attempt
          expect([result.route, result.attempts]).toStrictEqual(["flash", 1])
        }
        expect(pro.calls).toHaveLength(3)
        yield* TestClock.adjust("9999 millis")
        expect((yield* pipeline.generate(request())).route).toBe("flash")
        expect(pro.calls).toHaveLength(3)

        yield* TestClock.adjust("1 millis")
        const fiber = yield* Effect.fork(
          Effect.all(Array.from({ length: 3 }, () => pipeline.generate(request())), { concurrency: "unbounded" })
        )
        yield* TestClock.adjust("1 second")
        const routes = (yield* Fiber.join(fiber)).map((result) => result.route)
        expect(pro.calls).toHaveLength(4) // a single probe
        expect(routes.filter((route) => route === "pro")).toHaveLength(1)
        expect(routes.filter((route) => route === "flash")).toHaveLength(2)
        expect((yield* breaker.state)._tag).toBe("Closed")

        const after = yield* runForADay(pipeline.generate(request()))
        expect(successOf(after.result).route).toBe("pro")
      }))

    it.scoped("a route whose breaker is open fails fast with CircuitOpen, kept in AllRoutesFailed", () =>
      Effect.gen(function*() {
        const pro = always(models.pro, fail(overloaded))
        const pipeline = yield* makePipeline({
          image: { pro },
          plan: [{ route: "pro" }],
          breaker: { consecutiveFailures: 2, openDuration: "30 seconds" },
          routing: { canary: 0, waitForHalfOpen: false }
        })
        yield* Effect.either(pipeline.generate(request()))
        yield* Effect.either(pipeline.generate(request()))
        const failed = allRoutesFailedOf(yield* Effect.either(pipeline.generate(request())))
        expect(pro.calls).toHaveLength(2)
        expect(failed.attempts).toHaveLength(1)
        const error = failed.attempts[0]!.error
        expect(error).toBeInstanceOf(CircuitOpen)
        if (error instanceof CircuitOpen) {
          expect(error.route).toBe("pro")
          expect(Option.map(error.retryAt, (at) => at.epochMillis)).toStrictEqual(Option.some(30_000))
        }
      }))

    it.scoped("a step whose own failures open its breaker stops retrying at once, keeping the real error", () =>
      Effect.gen(function*() {
        const pro = always(models.pro, fail(overloaded))
        const flash = always(models.flash, fail(unavailable))
        const pipeline = yield* makePipeline({
          image: { pro, flash },
          plan: [{ route: "pro", resolutions: ["4K", "2K"] }, { route: "flash" }],
          retry: { attempts: 5, initialDelay: "1 second", jitter: false },
          breaker: { consecutiveFailures: 3 }
        })
        const { elapsed, result } = yield* runForADay(pipeline.generate(request("4K")))
        // pro@4K: calls at 0, 1 s and 3 s open the breaker; the 4 s backoff is not waited out only to be turned away
        expect(pro.calls.map((c) => c.at)).toStrictEqual([0, 1_000, 3_000])
        const failed = allRoutesFailedOf(result)
        expect(failed.attempts.map((a) => `${a.route}@${a.resolution} ${a.error._tag}`)).toStrictEqual([
          "pro@4K Overloaded",
          "pro@4K Overloaded",
          "pro@4K Overloaded",
          "pro@2K CircuitOpen",
          "flash@4K ProviderUnavailable",
          "flash@4K ProviderUnavailable",
          "flash@4K ProviderUnavailable"
        ])
        expect(flash.calls.map((c) => c.at)).toStrictEqual([3_000, 4_000, 6_000])
        expect(elapsed).toBe(6_000)
      }))

    it.scoped("a route used both for images and for the description has one breaker, the one exposed", () =>
      Effect.gen(function*() {
        const pro = always(models.pro, fail(overloaded))
        const proText = fakeText(() => Either.left(overloaded))
        const config = yield* PipelineConfig.decode({
          routes: { pro: { provider: "google", model: models.pro } },
          plan: [{ route: "pro" }, { describe: "pro" }],
          retry: noRetry,
          breaker: { consecutiveFailures: 2 },
          routing: { waitForHalfOpen: false }
        })
        const pipeline = yield* Pipeline.make(config, { image: { pro: pro.service }, text: { pro: proText.service } })
        expect([...pipeline.breakers.keys()]).toStrictEqual(["pro"])
        const breaker = pipeline.breakers.get("pro")!
        // the image call and the description call are two failures of the same endpoint
        allRoutesFailedOf(yield* Effect.either(pipeline.generate(request())))
        expect((yield* breaker.state)._tag).toBe("Open")
        const failed = allRoutesFailedOf(yield* Effect.either(pipeline.generate(request())))
        expect(failed.attempts.map((a) => a.error._tag)).toStrictEqual(["CircuitOpen", "CircuitOpen"])
        expect([pro.calls.length, proText.requests.length]).toStrictEqual([1, 1])

        // isolating the route through the breaker the pipeline exposes stops every call to it
        yield* breaker.isolate
        yield* TestClock.adjust("1 hour")
        allRoutesFailedOf(yield* Effect.either(pipeline.generate(request())))
        expect([pro.calls.length, proText.requests.length]).toStrictEqual([1, 1])
      }))
  })

  describe("retry budget", () => {
    it.scoped("a tiny budget bounds the retries of a failing route", () =>
      Effect.gen(function*() {
        const run = (retryBudget: Record<string, unknown>) =>
          Effect.gen(function*() {
            const pro = always(models.pro, fail(overloaded))
            const pipeline = yield* makePipeline({
              image: { pro },
              plan: [{ route: "pro" }],
              retry: { attempts: 5, initialDelay: 0, maxDelay: 0 },
              retryBudget,
              breaker: { consecutiveFailures: 1_000, failureRatio: 1 }
            })
            for (let i = 0; i < 10; i++) yield* Effect.either(pipeline.generate(request()))
            return { calls: pro.calls.length, balance: yield* pipeline.budgets.get("pro")!.balance }
          })
        // ten requests, two saved-up retries and 0.01 of a retry per request: twelve calls
        const tiny = yield* run({ ratio: 0.01, minPerSecond: 0, capacity: 2 })
        expect(tiny.calls).toBe(12)
        expect(tiny.balance).toBeLessThan(1)
        // the same traffic with a roomy budget: every retry is made
        const roomy = yield* run({ capacity: 100 })
        expect(roomy.calls).toBe(50)
      }))

    it.scoped("a request credits a route's budget once, however many of its steps use the route", () =>
      Effect.gen(function*() {
        const pro = always(models.pro, fail(overloaded))
        const flash = always(models.flash, ok())
        const pipeline = yield* makePipeline({
          image: { pro, flash },
          plan: [{ route: "pro", resolutions: ["4K", "2K"] }, { route: "flash" }],
          retry: noRetry,
          retryBudget: { ratio: 0.5, minPerSecond: 0, capacity: 100 }
        })
        const budget = pipeline.budgets.get("pro")!
        while (yield* budget.tryWithdraw) { /* draining */ }
        const start = yield* budget.balance
        yield* pipeline.generate(request("4K"))
        expect(pro.calls.map((c) => c.resolution)).toStrictEqual(["4K", "2K"])
        expect((yield* budget.balance) - start).toBeCloseTo(0.5)
      }))

    it.scoped("requests turned away by an open breaker credit nothing to the route's budget", () =>
      Effect.gen(function*() {
        const pro = always(models.pro, fail(overloaded))
        const flash = always(models.flash, ok())
        const pipeline = yield* makePipeline({
          image: { pro, flash },
          plan: [{ route: "pro" }, { route: "flash" }],
          retry: noRetry,
          retryBudget: { ratio: 0.5, minPerSecond: 0, capacity: 100 },
          breaker: { consecutiveFailures: 2 }
        })
        const budget = pipeline.budgets.get("pro")!
        // a new budget starts full: empty it so that deposits show
        while (yield* budget.tryWithdraw) { /* draining */ }
        const start = yield* budget.balance
        for (let i = 0; i < 10; i++) yield* pipeline.generate(request())
        // two requests reached pro (then its breaker opened); eight were turned away without a call
        expect(pro.calls).toHaveLength(2)
        expect((yield* budget.balance) - start).toBeCloseTo(2 * 0.5)
      }))
  })

  describe("layer", () => {
    it.scoped("Pipeline.layer provides the resilient ImageGenerator and the Pipeline from provider Layers", () =>
      Effect.gen(function*() {
        const pro = always(models.pro, fail(overloaded))
        const flash = always(models.flash, ok())
        const config = yield* PipelineConfig.decode({
          routes: {
            pro: { provider: "google", model: models.pro },
            flash: { provider: "google", model: models.flash }
          },
          plan: [{ route: "pro" }, { route: "flash" }],
          retry: noRetry,
          routing: { canary: 0 }
        })
        const live = Pipeline.layer(config, {
          image: {
            pro: Layer.succeed(ImageGenerator, pro.service),
            flash: Layer.succeed(ImageGenerator, flash.service)
          }
        })
        const [result, pipeline] = yield* Effect.zip(
          Effect.flatMap(ImageGenerator, (images) => images.generate(request("2K"))),
          Pipeline.Pipeline
        ).pipe(Effect.provide(live))
        expect([result.route, result.attempts]).toStrictEqual(["flash", 2])
        expect(pipeline.route).toBe("pipeline")

        // A Layer shared by routes (one SDK client behind several models) is built once.
        let builds = 0
        const shared = Layer.effect(ImageGenerator, Effect.sync(() => {
          builds++
          return flash.service
        }))
        yield* Effect.provide(
          ImageGenerator,
          Pipeline.layer(config, { image: { pro: shared, flash: shared } })
        )
        expect(builds).toBe(1)

        const missing = yield* Effect.exit(
          Effect.provide(
            ImageGenerator,
            Pipeline.layer(config, { image: { pro: Layer.succeed(ImageGenerator, pro.service) } })
          )
        )
        expect(Exit.isFailure(missing)).toBe(true)
        if (Exit.isFailure(missing)) {
          const error = missing.cause._tag === "Fail" ? missing.cause.error : undefined
          expect(error?._tag).toBe("ConfigError")
          expect(error?.issues).toStrictEqual([
            { path: "routes.flash", message: "no image provider was given for route \"flash\"" }
          ])
        }
      }))
  })

  it.scoped("warns when a route's provider serves another model than the configured one", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const capture = Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logs.push(String(message))))
      const config = yield* PipelineConfig.decode({
        routes: { pro: { provider: "google", model: models.pro } },
        plan: [{ route: "pro" }]
      })
      yield* Pipeline.make(config, { image: { pro: always(models.flash, ok()).service } }).pipe(Effect.provide(capture))
      expect(logs).toStrictEqual([
        `route "pro" is configured for model "${models.pro}" but its provider serves "${models.flash}"`
      ])
    }))

  describe("layerConfig", () => {
    it.scoped("reads the configuration file named by a Config, and names a bad one", () =>
      Effect.gen(function*() {
        const flash = always(models.flash, ok())
        const files: Record<string, string> = {
          "/etc/ballast.yaml": `
routes:
  flash: { provider: google, model: ${models.flash} }
plan:
  - route: flash
`,
          "/etc/broken.yaml": "routes: {}\nplan: []\n"
        }
        const fileSystem = FileSystem.layerNoop({
          readFileString: (path) =>
            files[path] !== undefined
              ? Effect.succeed(files[path])
              : Effect.fail(new SystemError({ reason: "NotFound", module: "FileSystem", method: "readFileString", pathOrDescriptor: path }))
        })
        const live = (path: string) =>
          Pipeline.layerConfig(Config.string("BALLAST_CONFIG"), {
            image: { flash: Layer.succeed(ImageGenerator, flash.service) }
          }).pipe(
            Layer.provide(fileSystem),
            Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["BALLAST_CONFIG", path]]))))
          )
        const result = yield* Effect.flatMap(ImageGenerator, (images) => images.generate(request("1K"))).pipe(
          Effect.provide(live("/etc/ballast.yaml"))
        )
        expect(result.route).toBe("flash")

        const broken = yield* Effect.flip(Effect.provide(ImageGenerator, live("/etc/broken.yaml")))
        expect(broken._tag).toBe("ConfigError")
        expect(broken.message).toContain("/etc/broken.yaml")
        const unset = yield* Effect.flip(
          Effect.provide(
            ImageGenerator,
            Pipeline.layerConfig(Config.string("BALLAST_CONFIG"), { image: {} }).pipe(
              Layer.provide(fileSystem),
              Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map())))
            )
          )
        )
        expect(String(unset)).toContain("BALLAST_CONFIG")
      }))
  })

  // Each property sample builds a pipeline and runs a request through retries, latencies and
  // fallbacks on virtual time (see `runVirtual`), so that a few hundred samples take well under a second.
  describe("properties", () => {
    it.prop(
      "a request-scoped BadRequest is never retried and never tried on a second step",
      {
        retry: retryArbitrary,
        breaker: breakerArbitrary,
        before: FastCheck.array(transientError, { maxLength: 3 }),
        after: FastCheck.integer({ min: 0, max: 2 }),
        seed: FastCheck.integer()
      },
      ({ after, before, breaker, retry, seed }) => {
        const invalid = badRequest("request")
        const failing = before.map((error) => always(models.flash, fail(error)))
        const rejecting = always(models.flash, fail(invalid))
        const later = Array.from({ length: after }, () => always(models.flash, ok()))
        const fakes = [...failing, rejecting, ...later]
        const route = `r${failing.length}`
        const { balance, result, state } = runVirtual(Effect.gen(function*() {
          const pipeline = yield* makePipeline({
            image: Object.fromEntries(fakes.map((fake, i) => [`r${i}`, fake])),
            plan: fakes.map((_, i) => ({ route: `r${i}` })),
            retry,
            breaker,
            deadline: "1 hour"
          })
          const result = yield* Effect.either(pipeline.generate(request()))
          return {
            result,
            state: yield* pipeline.breakers.get(route)!.state,
            balance: yield* pipeline.budgets.get(route)!.balance
          }
        }), seed)
        // the error itself, unwrapped from the proxy Effect puts around an error that fails inside a span
          expect(Either.isLeft(result) && Cause.originalError(result.left)).toBe(invalid)
        expect(rejecting.calls).toHaveLength(1)
        later.forEach((fake) => expect(fake.calls).toHaveLength(0))
        expect(state._tag).toBe("Closed")
        expect(balance).toBe(100) // no retry token was spent on it
      },
      { fastCheck: { numRuns: 50 } }
    )

    it.prop(
      "provider calls ≤ attempts × steps, and a result counts every call made",
      {
        retry: retryArbitrary,
        breaker: breakerArbitrary,
        plan: planArbitrary(["pro", "flash", "flash25", "gpt2"]),
        scripts: scriptsArbitrary(3_000),
        resolution: resolutionArbitrary,
        deadline: FastCheck.integer({ min: 1, max: 120_000 }),
        seed: FastCheck.integer()
      },
      ({ breaker, deadline, plan, resolution, retry, scripts, seed }) => {
        const fakes = scriptedPool(scripts)
        const wanted = request(resolution)
        const { result, steps } = runVirtual(Effect.gen(function*() {
          const pipeline = yield* makePipeline({ image: fakes, plan, retry, breaker, deadline })
          return { steps: pipeline.stepsFor(wanted), result: yield* Effect.either(pipeline.generate(wanted)) }
        }), seed)
        const calls = callCount(fakes)
        expect(calls).toBeLessThanOrEqual(retry.attempts * steps.length)
        if (Either.isRight(result)) {
          expect(result.right.attempts).toBe(calls)
        } else if (result.left._tag === "AllRoutesFailed") {
          // every attempt's error, in order: each step's calls (or its breaker's refusal), step after step
          const labels = result.left.attempts.map((a) => `${a.route}@${a.resolution}`)
          expect(labels.filter((label, i) => label !== labels[i - 1])).toStrictEqual(
            steps.map((step) => step._tag === "Image" ? `${step.route}@${step.resolution}` : step.route)
          )
          expect(result.left.attempts.filter((a) => a.error._tag !== "CircuitOpen")).toHaveLength(calls)
        } else {
          expect(result.left._tag).toBe("Timeout")
        }
      },
      { fastCheck: { numRuns: 50 } }
    )

    it.prop(
      "the time spent never passes the deadline, and a Timeout fires exactly at it",
      {
        retry: retryArbitrary,
        plan: planArbitrary(["pro", "flash", "flash25", "gpt2"]),
        scripts: scriptsArbitrary(30_000),
        resolution: resolutionArbitrary,
        deadline: FastCheck.integer({ min: 1, max: 60_000 }),
        seed: FastCheck.integer()
      },
      ({ deadline, plan, resolution, retry, scripts, seed }) => {
        const fakes = scriptedPool(scripts)
        const { elapsed, result } = runVirtual(Effect.gen(function*() {
          const pipeline = yield* makePipeline({ image: fakes, plan, retry, deadline })
          const start = yield* Clock.currentTimeMillis
          const result = yield* Effect.either(pipeline.generate(request(resolution)))
          return { result, elapsed: (yield* Clock.currentTimeMillis) - start }
        }), seed)
        expect(elapsed).toBeLessThanOrEqual(deadline)
        // a latency with a fraction of a millisecond (jittered backoffs) is kept to the nanosecond
        if (Either.isRight(result)) expect(Duration.toMillis(result.right.latency)).toBeCloseTo(elapsed, 6)
        else if (result.left._tag === "Timeout") expect(elapsed).toBe(deadline)
        Object.values(fakes).flatMap((fake) => fake.calls).forEach((call) => {
          expect(call.at).toBeLessThan(deadline)
          expect(call.outcome).not.toBe("pending") // nothing is left running
        })
      },
      { fastCheck: { numRuns: 50 } }
    )

    it.prop(
      "if some step can succeed within the deadline, the pipeline succeeds, on the first such step",
      {
        failuresBeforeSuccess: FastCheck.array(FastCheck.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 4 }),
        attempts: FastCheck.integer({ min: 1, max: 5 }),
        initialDelay: FastCheck.integer({ min: 1, max: 3_000 }),
        extraMaxDelay: FastCheck.integer({ min: 0, max: 10_000 }),
        factor: FastCheck.constantFrom(1, 2, 3),
        deadline: FastCheck.integer({ min: 1, max: 60_000 })
      },
      ({ attempts, deadline, extraMaxDelay, factor, failuresBeforeSuccess, initialDelay }) => {
        const maxDelay = initialDelay + extraMaxDelay
        const fakes = failuresBeforeSuccess.map((k) =>
          fakeImage(models.flash, (call) => call < k ? fail(overloaded) : ok())
        )
        // The reference: no latency, so time passes only in backoffs, and a retry is made only when
        // it starts before the deadline, less the reserve (a quarter of it) kept for the later steps.
        let now = 0
        let calls = 0
        let expected: { readonly route: string; readonly calls: number; readonly at: number } | undefined
        for (const [i, k] of failuresBeforeSuccess.entries()) {
          const kept = i === failuresBeforeSuccess.length - 1 ? 0 : deadline * 0.25
          calls++
          for (let call = 0;; call++) {
            if (call === k) {
              expected = { route: `r${i}`, calls, at: now }
              break
            }
            const delay = Math.min(maxDelay, initialDelay * factor ** call)
            if (call + 1 >= attempts || now + delay + kept >= deadline) break
            now += delay
            calls++
          }
          if (expected !== undefined) break
        }
        const { elapsed, result } = runVirtual(Effect.gen(function*() {
          const pipeline = yield* makePipeline({
            image: Object.fromEntries(fakes.map((fake, i) => [`r${i}`, fake])),
            plan: fakes.map((_, i) => ({ route: `r${i}` })),
            retry: { attempts, initialDelay, maxDelay, factor, jitter: false },
            breaker: { consecutiveFailures: 10 },
            deadline
          })
          const result = yield* Effect.either(pipeline.generate(request()))
          return { result, elapsed: yield* Clock.currentTimeMillis }
        }))
        if (expected !== undefined) {
          const image = successOf(result)
          expect([image.route, image.attempts, Duration.toMillis(image.latency)]).toStrictEqual([
            expected.route,
            expected.calls,
            expected.at
          ])
        } else {
          expect(allRoutesFailedOf(result).attempts).toHaveLength(calls)
          expect(fakes.reduce((sum, fake) => sum + fake.calls.length, 0)).toBe(calls)
          expect(elapsed).toBe(now)
        }
      },
      { fastCheck: { numRuns: 80 } }
    )

    it.prop(
      "a result is degraded iff it is a description, below the requested resolution or in another aspect ratio",
      {
        plan: planArbitrary(["pro", "flash", "flash25", "gpt15", "gpt2", "flux"]),
        outcomes: FastCheck.array(
          FastCheck.constantFrom(fail(overloaded), ok(), ok({ resolution: "1K" })),
          { minLength: 6, maxLength: 6 }
        ),
        describe: FastCheck.constantFrom("none", "ok", "fails"),
        resolution: resolutionArbitrary,
        aspectRatio: aspectRatioArbitrary
      },
      ({ aspectRatio, describe, outcomes, plan, resolution }) => {
        const pool = ["pro", "flash", "flash25", "gpt15", "gpt2", "flux"] as const
        const image = Object.fromEntries(pool.map((name, i) => [name, always(models[name], outcomes[i]!)]))
        const writer = fakeText(() => describe === "ok" ? Either.right("a description") : Either.left(overloaded))
        const result = runVirtual(Effect.gen(function*() {
          const pipeline = yield* makePipeline({
            image,
            text: { writer },
            plan: describe === "none" ? plan : [...plan, { describe: "writer" }]
          })
          return yield* Effect.either(pipeline.generate(request(resolution, { aspectRatio })))
        }))
        if (Either.isLeft(result)) {
          expect(result.left._tag).toBe("AllRoutesFailed")
          return
        }
        const answer = result.right
        expect(answer.requestedResolution).toBe(resolution)
        const isDescription = answer.resolution === "description"
        const below = !isDescription && Resolutions.isBelow(answer.resolution as Resolution, resolution)
        expect(answer.degraded).toBe(isDescription || below || answer.aspectRatio !== aspectRatio)
        if (answer.aspectRatio === aspectRatio) expect(answer.degraded).toBe(isDescription || below)
        expect(isDescription).toBe(answer.description !== undefined)
      },
      { fastCheck: { numRuns: 60 } }
    )
  })
})
