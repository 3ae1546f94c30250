import {
  Cause,
  Clock,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Option,
  Random,
  Scheduler,
  type Scope,
  TestClock
} from "effect"
import {
  AllRoutesFailed,
  type AspectRatio,
  BadRequest,
  ContentRejected,
  GeneratedImage,
  type GenerationError,
  ImageGenerator,
  ImageRequest,
  Overloaded,
  Pipeline,
  PipelineConfig,
  ProviderUnavailable,
  RateLimited,
  type Resolution,
  type TextGenerator,
  Timeout,
  Unauthorized
} from "../../src/index.js"

// Fakes and runners shared by the pipeline tests (Pipeline.test.ts, PipelineRouting.test.ts).

/** Model names the fakes stand for (a `gemini…` model is a Google one, any other an OpenAI one). */
export const models = {
  pro: "gemini-3-pro-image-preview",
  flash: "gemini-3.1-flash-image-preview",
  flash25: "gemini-2.5-flash-image",
  gpt15: "gpt-image-1.5",
  gpt2: "gpt-image-2",
  flux: "flux-1.1-pro",
  text: "gpt-5.2"
} as const

/** Provider and model labels of the canned errors. */
export const labels = { provider: "fake", model: "fake-model" }
/** A canned `Overloaded`. */
export const overloaded = new Overloaded({ ...labels, message: "The model is overloaded." })
/** A canned `ProviderUnavailable`. */
export const unavailable = new ProviderUnavailable({ ...labels, message: "502 Bad Gateway" })
/** A canned `Timeout`. */
export const timedOut = new Timeout({ ...labels, message: "The call timed out." })
/** A `RateLimited`, with a `retryAfter` of that many milliseconds when given. */
export const rateLimited = (retryAfter?: number) =>
  new RateLimited({
    ...labels,
    message: "Rate limit exceeded.",
    retryAfter: retryAfter === undefined ? Option.none() : Option.some(Duration.millis(retryAfter))
  })
/** A canned `Unauthorized`. */
export const unauthorized = new Unauthorized({ ...labels, message: "invalid key" })
/** A canned `ContentRejected`. */
export const contentRejected = new ContentRejected({ ...labels, message: "IMAGE_SAFETY" })
/** A `BadRequest` of that scope. */
export const badRequest = (scope: "request" | "route") =>
  new BadRequest({ ...labels, message: "invalid argument", scope })

/** What a fake does with one call. */
export type Reply =
  | { readonly _tag: "ok"; readonly latency?: number; readonly resolution?: Resolution }
  | { readonly _tag: "fail"; readonly error: GenerationError; readonly latency?: number }

/** A successful reply, after `latency` ms, reporting `resolution` when given. */
export const ok = (options: { readonly latency?: number; readonly resolution?: Resolution } = {}): Reply => ({
  _tag: "ok",
  ...options
})
/** A failing reply with `error`, after `latency` ms. */
export const fail = (error: GenerationError, latency?: number): Reply =>
  latency === undefined ? { _tag: "fail", error } : { _tag: "fail", error, latency }

/** One recorded call of a fake image model. */
export interface Call {
  readonly at: number
  readonly resolution: Resolution
  readonly aspectRatio: AspectRatio
  readonly prompt: string
  outcome: "pending" | "ok" | "interrupted" | GenerationError["_tag"]
}

/** A fake image model: its service, its calls and the times (Clock millis) its probe was run. */
export interface FakeImage {
  readonly service: ImageGenerator.Service
  readonly calls: ReadonlyArray<Call>
  readonly probes: ReadonlyArray<number>
}

/** The image every fake answers with. */
export const png = GeneratedImage.make({ data: new Uint8Array([0x89, 0x50, 0x4e, 0x47]), mimeType: "image/png" })

/** The provider of a model name. */
export const providerOf = (model: string) => model.startsWith("gemini") ? "google" : "openai"

/** A fake image model answering call `i` (from 0) with `script(i, request)`; `onCall` runs first in every call, `probe` says whether a health probe succeeds. */
export const fakeImage = (
  model: string,
  script: (call: number, request: ImageRequest) => Reply,
  options: { readonly onCall?: Effect.Effect<void>; readonly probe?: () => boolean } = {}
): FakeImage => {
  const calls: Array<Call> = []
  const probes: Array<number> = []
  const probe = options.probe
  const service = ImageGenerator.make({
    provider: providerOf(model),
    model,
    ...(probe !== undefined
      ? {
        probe: Effect.flatMap(Clock.currentTimeMillis, (at) => {
          probes.push(at)
          return probe() ? Effect.void : Effect.fail(unavailable)
        })
      }
      : {}),
    generate: (request) =>
      Effect.zipRight(
        options.onCall ?? Effect.void,
        Effect.flatMap(Clock.currentTimeMillis, (at) => {
          const call: Call = {
            at,
            resolution: request.resolution,
            aspectRatio: request.aspectRatio,
            prompt: request.prompt,
            outcome: "pending"
          }
          const reply = script(calls.length, request)
          calls.push(call)
          const answer = reply._tag === "ok"
            ? Effect.succeed({
              images: Array.from({ length: request.n }, () => png),
              ...(reply.resolution !== undefined ? { resolution: reply.resolution } : {})
            })
            : Effect.fail(reply.error)
          return Effect.delay(answer, Duration.millis(reply.latency ?? 0)).pipe(
            Effect.tap(() => Effect.sync(() => call.outcome = "ok")),
            Effect.tapError((error) => Effect.sync(() => call.outcome = error._tag)),
            Effect.onInterrupt(() => Effect.sync(() => call.outcome = "interrupted"))
          )
        })
      )
  })
  return { service, calls, probes }
}

/** A fake image model giving the same reply to every call. */
export const always = (model: string, reply: Reply) => fakeImage(model, () => reply)

/** A fake with a service and a provider/model, as `makePipeline` takes them for routes. */
interface FakeRoute {
  readonly service: ImageGenerator.Service | TextGenerator.Service
}

/** The fakes and settings of a pipeline: `image`/`text` routes by name, `routeExtras` added to a route's configuration, the rest passed to `PipelineConfig.decode`. */
export interface Setup {
  readonly image: Readonly<Record<string, FakeImage>>
  readonly text?: Readonly<Record<string, { readonly service: TextGenerator.Service }>>
  readonly plan: ReadonlyArray<Record<string, unknown>>
  /** Extra fields of a route's configuration (e.g. `limits`), by route. */
  readonly routeExtras?: Readonly<Record<string, Record<string, unknown>>>
  readonly [setting: string]: unknown
}

/** Decodes a configuration whose routes are the fakes and builds the pipeline (no retry and no canary unless asked: a canary would reorder routes at random). */
export const makePipeline = (
  { image, routeExtras = {}, text = {}, ...settings }: Setup,
  options?: Pipeline.Pipeline.Options
) =>
  Effect.gen(function*() {
    const fakes: Array<[string, FakeRoute]> = [...Object.entries(image), ...Object.entries(text)]
    const routes = Object.fromEntries(
      fakes.map(([name, fake]) => [
        name,
        { provider: fake.service.provider, model: fake.service.model, ...routeExtras[name] }
      ])
    )
    const config = yield* PipelineConfig.decode({ retry: { attempts: 1 }, routing: { canary: 0 }, ...settings, routes })
    return yield* Pipeline.make(config, {
      image: Object.fromEntries(Object.entries(image).map(([name, fake]) => [name, fake.service])),
      text: Object.fromEntries(Object.entries(text).map(([name, fake]) => [name, fake.service]))
    }, options)
  })

/** The prompt of `request` unless given. */
export const prompt = "a lighthouse at dusk"

/** An image request at `resolution`, with the aspect ratio, deadline and prompt when given. */
export const request = (
  resolution: Resolution = "1K",
  options: {
    readonly aspectRatio?: AspectRatio
    readonly deadline?: Duration.DurationInput
    readonly prompt?: string
  } = {}
) =>
  ImageRequest.make({
    prompt: options.prompt ?? prompt,
    resolution,
    ...(options.aspectRatio !== undefined ? { aspectRatio: options.aspectRatio } : {}),
    ...(options.deadline !== undefined ? { deadline: Duration.decode(options.deadline) } : {})
  })

/** Runs an effect in a fiber while `time` of TestClock time passes (dying if it has not ended by then); returns how it ended and after how long. */
export const runFor = <A, E>(effect: Effect.Effect<A, E>, time: Duration.DurationInput) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const fiber = yield* Effect.fork(Effect.zip(Effect.either(effect), Clock.currentTimeMillis))
    yield* TestClock.adjust(time)
    const done = yield* Fiber.poll(fiber)
    if (Option.isNone(done)) return yield* Effect.dieMessage(`runFor: still running after ${Duration.format(time)}`)
    const [result, end] = yield* Fiber.join(fiber)
    return { result, elapsed: end - start }
  })

/** `runFor` a day. */
export const runForADay = <A, E>(effect: Effect.Effect<A, E>) => runFor(effect, "1 day")

/** The value of a success, or a thrown error naming the failure. */
export const successOf = <A>(result: Either.Either<A, GenerationError>): A => {
  if (Either.isRight(result)) return result.right
  throw new Error(`expected a result, got ${result.left._tag}: ${result.left.message}`)
}

/** The `AllRoutesFailed` of a failure, or a thrown error naming what came instead. */
export const allRoutesFailedOf = (result: Either.Either<unknown, GenerationError>): AllRoutesFailed => {
  if (Either.isLeft(result) && result.left instanceof AllRoutesFailed) return result.left
  throw new Error(`expected AllRoutesFailed, got ${Either.isLeft(result) ? result.left._tag : "a result"}`)
}

/**
 * Runs an effect to its end on virtual time, synchronously, and returns its value (throwing its
 * failure). Every fiber runs on a `ControlledScheduler`; when no task is left, every fiber is
 * suspended, and time jumps to the earliest sleeper. `TestClock.adjust` polls fibers across real
 * timer turns (about 4 ms a wake-up), which would make hundreds of property samples take seconds.
 * Randomness is seeded.
 */
export const runVirtual = <A, E>(scoped: Effect.Effect<A, E, Scope.Scope>, seed = 0): A => {
  const effect = Effect.scoped(scoped)
  interface Sleeper {
    readonly at: number
    readonly wake: () => void
    cancelled: boolean
  }
  let now = 0
  const sleepers: Array<Sleeper> = [] // in arrival order: the first of equal wake-up times wakes first
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => now,
    unsafeCurrentTimeNanos: () => BigInt(Math.round(now * 1_000_000)),
    currentTimeMillis: Effect.sync(() => now),
    currentTimeNanos: Effect.sync(() => BigInt(Math.round(now * 1_000_000))),
    sleep: (duration) =>
      Effect.async<void>((resume) => {
        const sleeper: Sleeper = {
          at: now + Duration.toMillis(duration),
          wake: () => resume(Effect.void),
          cancelled: false
        }
        sleepers.push(sleeper)
        return Effect.sync(() => {
          sleeper.cancelled = true
        })
      })
  }
  const scheduler = new Scheduler.ControlledScheduler()
  const seeded = effect.pipe(Effect.withClock(clock), Effect.withRandom(Random.make(seed)))
  const fiber = Effect.runFork(seeded, { scheduler })
  for (;;) {
    while (scheduler.tasks.buckets.length > 0) scheduler.step()
    const exit = fiber.unsafePoll()
    if (exit !== null) {
      if (Exit.isSuccess(exit)) return exit.value
      throw Cause.squash(exit.cause)
    }
    const live = sleepers.filter((sleeper) => !sleeper.cancelled)
    const next = live.reduce<Sleeper | undefined>(
      (earliest, sleeper) => earliest === undefined || sleeper.at < earliest.at ? sleeper : earliest,
      undefined
    )
    if (next === undefined) throw new Error("runVirtual: every fiber waits and no sleeper is left")
    sleepers.splice(sleepers.indexOf(next), 1)
    now = Math.max(now, next.at)
    next.wake()
  }
}
