/**
 * Scripted fake providers: `ImageGenerator` and `TextGenerator` services whose
 * answers (success, typed failure, latency) are chosen by a script or by a
 * function of the clock, and which record every call they receive. Latency is
 * `Effect.sleep`, so `TestClock` drives it.
 *
 * @since 0.1.0
 */
import {
  BadRequest,
  type Errors,
  type GenerationError,
  GeneratedImage,
  ImageGenerator,
  type ImageRequest,
  Overloaded,
  ProviderUnavailable,
  RateLimited,
  type Resolution,
  TextGenerator,
  type TextRequest,
  Timeout
} from "@ballast/core"
import { Cause, Clock, Duration, Effect, Exit, Option } from "effect"

/**
 * Who a fake answers as; failure shorthands fill their `provider` and `model`
 * in from it.
 *
 * @since 0.1.0
 */
export interface Identity {
  readonly provider: string
  readonly model: string
  readonly route: string
}

/**
 * What a fake does with one call: succeed or fail, after a latency.
 *
 * @since 0.1.0
 */
export type Answer = Answer.Succeed | Answer.Fail

/**
 * @since 0.1.0
 */
export declare namespace Answer {
  /**
   * Succeed after `latency`. An image fake answers with `request.n` tiny PNGs,
   * delivered at `resolution` when given (a fake that degrades), else at the
   * requested one; a text fake answers with `text`, or a fixed reply.
   *
   * @since 0.1.0
   */
  export interface Succeed {
    readonly _tag: "Succeed"
    readonly latency: Duration.Duration
    readonly resolution?: Resolution
    readonly text?: string
  }

  /**
   * Fail with the error built for the fake's identity, after `latency`.
   *
   * @since 0.1.0
   */
  export interface Fail {
    readonly _tag: "Fail"
    readonly latency: Duration.Duration
    readonly error: (identity: Identity) => GenerationError
  }

  /**
   * @since 0.1.0
   */
  export interface LatencyOptions {
    /** How long the call takes before it answers. Defaults to zero. */
    readonly latency?: Duration.DurationInput
  }

  /**
   * @since 0.1.0
   */
  export interface SucceedOptions extends LatencyOptions {
    readonly resolution?: Resolution
    readonly text?: string
  }
}

const latencyOf = (options: Answer.LatencyOptions | undefined): Duration.Duration =>
  options?.latency === undefined ? Duration.zero : Duration.decode(options.latency)

const fail = (
  error: GenerationError | ((identity: Identity) => GenerationError),
  options?: Answer.LatencyOptions
): Answer.Fail => ({
  _tag: "Fail",
  latency: latencyOf(options),
  error: typeof error === "function" ? error : () => error
})

/**
 * Constructors of answers. The failure shorthands build their error from the
 * fake that gives the answer, so one script can be shared by several fakes.
 *
 * @since 0.1.0
 * @example
 * import { Answer } from "@ballast/testing"
 *
 * const script = [Answer.overloaded(), Answer.rateLimited("5 seconds"), Answer.ok({ latency: "30 seconds" })]
 */
export const Answer = {
  /**
   * Succeed, optionally after a latency and at a different resolution than asked.
   *
   * @since 0.1.0
   */
  ok: (options?: Answer.SucceedOptions): Answer.Succeed => ({
    _tag: "Succeed",
    latency: latencyOf(options),
    ...(options?.resolution !== undefined ? { resolution: options.resolution } : {}),
    ...(options?.text !== undefined ? { text: options.text } : {})
  }),

  /**
   * Fail with a given error, or with one built from the fake's identity.
   *
   * @since 0.1.0
   */
  fail,

  /**
   * Fail with `Overloaded`, the 503 "The model is overloaded".
   *
   * @since 0.1.0
   */
  overloaded: (options?: Answer.LatencyOptions): Answer.Fail =>
    fail(({ model, provider }) =>
      new Overloaded({ provider, model, message: "The model is overloaded. Please try again later." }), options),

  /**
   * Fail with `RateLimited` (429), carrying `retryAfter` when given.
   *
   * @since 0.1.0
   */
  rateLimited: (retryAfter?: Duration.DurationInput, options?: Answer.LatencyOptions): Answer.Fail =>
    fail(({ model, provider }) =>
      new RateLimited({
        provider,
        model,
        message: "Rate limit exceeded.",
        retryAfter: retryAfter === undefined ? Option.none() : Option.some(Duration.decode(retryAfter))
      }), options),

  /**
   * Fail with `BadRequest` (400) of the given scope (`"route"` by default, as the error's own).
   *
   * @since 0.1.0
   */
  badRequest: (scope?: Errors.BadRequestScope, options?: Answer.LatencyOptions): Answer.Fail =>
    fail(({ model, provider }) =>
      new BadRequest({
        provider,
        model,
        message: "Request contains an invalid argument.",
        ...(scope !== undefined ? { scope } : {})
      }), options),

  /**
   * Fail with `ProviderUnavailable`: a 5xx other than 503, or no connection.
   *
   * @since 0.1.0
   */
  unavailable: (options?: Answer.LatencyOptions): Answer.Fail =>
    fail(({ model, provider }) =>
      new ProviderUnavailable({ provider, model, message: "The provider is unavailable." }), options),

  /**
   * Fail with `Timeout`.
   *
   * @since 0.1.0
   */
  timeout: (options?: Answer.LatencyOptions): Answer.Fail =>
    fail(({ model, provider }) => new Timeout({ provider, model, message: "The call timed out." }), options)
} as const

/**
 * How a recorded call ended: `"pending"` while it is still in flight,
 * `"success"`, the tag of the error it failed with, `"interrupted"` when it was
 * cancelled, or `"defect"` when an `answer` function died.
 *
 * @since 0.1.0
 */
export type Outcome = "pending" | "success" | GenerationError["_tag"] | "interrupted" | "defect"

/**
 * One call a fake received: when (Clock milliseconds), with what, and how it ended.
 *
 * @since 0.1.0
 */
export interface Call<Request extends ImageRequest | TextRequest = ImageRequest | TextRequest> {
  readonly at: number
  readonly request: Request
  readonly outcome: Outcome
}

/**
 * A fake image provider: the service, and the calls it has received, in the
 * order they arrived.
 *
 * @since 0.1.0
 */
export interface FakeImage {
  readonly service: ImageGenerator.Service
  readonly calls: Effect.Effect<ReadonlyArray<Call<ImageRequest>>>
  readonly callCount: Effect.Effect<number>
  /** Health probes the fake answered (never counted in `calls` or `callCount`). */
  readonly probeCount: Effect.Effect<number>
}

/**
 * A fake text provider: the service, and the calls it has received, in the
 * order they arrived.
 *
 * @since 0.1.0
 */
export interface FakeText {
  readonly service: TextGenerator.Service
  readonly calls: Effect.Effect<ReadonlyArray<Call<TextRequest>>>
  readonly callCount: Effect.Effect<number>
  /** Health probes the fake answered (never counted in `calls` or `callCount`). */
  readonly probeCount: Effect.Effect<number>
}

/**
 * What an `answer` function is told about the call it decides.
 *
 * @since 0.1.0
 */
export interface AnswerContext<Request> {
  /** Clock milliseconds when the call arrived. */
  readonly now: number
  /** Milliseconds since the fake was created. */
  readonly elapsed: number
  /** The index of this call, from 0. */
  readonly call: number
  /** Calls this fake received in the last minute, this one included. */
  readonly recentRequests: number
  readonly request: Request
}

/**
 * What a `probe` function is told about the health probe it decides: like
 * `AnswerContext`, without a request; `call` counts probes, and
 * `recentRequests` counts the generation calls of the last minute.
 *
 * @since 0.1.0
 */
export type ProbeContext = Omit<AnswerContext<never>, "request">

/**
 * @since 0.1.0
 */
export interface IdentityOptions {
  /** Defaults to `"fake"`. */
  readonly provider?: string
  readonly model: string
  /** Defaults to `provider/model`. */
  readonly route?: string
}

/**
 * @since 0.1.0
 */
export interface ScriptedOptions extends IdentityOptions {
  /** The answers to the first calls, in order. With none, every call succeeds at once. */
  readonly answers: ReadonlyArray<Answer>
  /** What happens after the script runs out: repeat its last answer (the default) or start over. */
  readonly after?: "repeat-last" | "cycle"
}

/**
 * @since 0.1.0
 */
export interface FromClockOptions<Request> extends IdentityOptions {
  readonly answer: (context: AnswerContext<Request>) => Answer | Effect.Effect<Answer>
  /**
   * How the fake answers a health probe (`service.probe`): a success answers
   * with nothing. Without it the service has no probe.
   */
  readonly probe?: (context: ProbeContext) => Answer | Effect.Effect<Answer>
}

/**
 * A real 1×1 transparent PNG: signature, IHDR (1×1, 8-bit RGBA), IDAT (one
 * zlib-deflated scanline: filter byte 0 and four zero bytes), IEND, each chunk
 * with its CRC-32. Every answer gets its own copy.
 */
const tinyPng: Uint8Array = Uint8Array.of(
  // signature
  137, 80, 78, 71, 13, 10, 26, 10,
  // IHDR
  0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 31, 21, 196, 137,
  // IDAT
  0, 0, 0, 11, 73, 68, 65, 84, 120, 156, 99, 96, 0, 2, 0, 0, 5, 0, 1, 122, 94, 171, 63,
  // IEND
  0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130
)

const oneMinute = 60_000

interface Entry<Request> {
  readonly at: number
  readonly request: Request
  outcome: Outcome
}

const outcomeOf = (exit: Exit.Exit<unknown, GenerationError>): Outcome =>
  Exit.match(exit, {
    onSuccess: () => "success",
    onFailure: (cause) =>
      Option.match(Cause.failureOption(cause), {
        onSome: (error): Outcome => error._tag,
        onNone: () => Cause.isInterrupted(cause) ? "interrupted" : "defect"
      })
  })

const identityOf = (options: IdentityOptions): Identity => {
  const provider = options.provider ?? "fake"
  return { provider, model: options.model, route: options.route ?? `${provider}/${options.model}` }
}

/**
 * The engine shared by image and text fakes: records each call, asks `decide`
 * for its answer, sleeps the latency and succeeds or fails.
 */
const makeEngine = <Request extends ImageRequest | TextRequest>(
  identity: Identity,
  decide: (context: AnswerContext<Request>) => Answer | Effect.Effect<Answer>,
  decideProbe: ((context: ProbeContext) => Answer | Effect.Effect<Answer>) | undefined
) =>
  Effect.map(Clock.currentTimeMillis, (createdAt) => {
    // A plain array touched only inside `Effect.sync`: appends and the
    // one-minute count stay cheap when a simulation sends thousands of calls.
    const log: Array<Entry<Request>> = []

    const countRecent = (now: number): number => {
      let count = 0
      for (let i = log.length - 1; i >= 0 && log[i]!.at > now - oneMinute; i--) count++
      return count
    }

    const arrive = (request: Request) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          const entry: Entry<Request> = { at: now, request, outcome: "pending" }
          const call = log.length
          log.push(entry)
          const context: AnswerContext<Request> = {
            now,
            elapsed: now - createdAt,
            call,
            recentRequests: countRecent(now),
            request
          }
          return [entry, context] as const
        }))

    const play = (answer: Answer): Effect.Effect<Answer.Succeed, GenerationError> => {
      const result: Effect.Effect<Answer.Succeed, GenerationError> = answer._tag === "Succeed"
        ? Effect.succeed(answer)
        : Effect.fail(answer.error(identity))
      return Duration.isZero(answer.latency) ? result : Effect.zipRight(Effect.sleep(answer.latency), result)
    }

    const handle = (request: Request): Effect.Effect<Answer.Succeed, GenerationError> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(arrive(request), ([entry, context]) =>
          restore(Effect.suspend(() => {
            const decided = decide(context)
            return Effect.flatMap(Effect.isEffect(decided) ? decided : Effect.succeed(decided), play)
          })).pipe(
            Effect.onExit((exit) =>
              Effect.sync(() => {
                entry.outcome = outcomeOf(exit)
              })
            )
          ))
      )

    const calls: Effect.Effect<ReadonlyArray<Call<Request>>> = Effect.sync(() =>
      log.map(({ at, outcome, request }) => ({ at, request, outcome }))
    )

    // Probes keep their own count: they are not generations, and a simulation's
    // "calls per answer" must not include them.
    let probes = 0
    const probe: Effect.Effect<void, GenerationError> | undefined = decideProbe === undefined
      ? undefined
      : Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.suspend(() => {
          const context: ProbeContext = { now, elapsed: now - createdAt, call: probes++, recentRequests: countRecent(now) }
          const decided = decideProbe(context)
          return Effect.asVoid(Effect.flatMap(Effect.isEffect(decided) ? decided : Effect.succeed(decided), play))
        }))

    return {
      handle,
      calls,
      callCount: Effect.sync(() => log.length),
      probe,
      probeCount: Effect.sync(() => probes)
    }
  })

type ProbeDecision = ((context: ProbeContext) => Answer | Effect.Effect<Answer>) | undefined

const imageFake = (
  options: IdentityOptions,
  decide: (context: AnswerContext<ImageRequest>) => Answer | Effect.Effect<Answer>,
  decideProbe?: ProbeDecision
): Effect.Effect<FakeImage> => {
  const identity = identityOf(options)
  return Effect.map(makeEngine(identity, decide, decideProbe), ({ callCount, calls, handle, probe, probeCount }) => ({
    service: ImageGenerator.make({
      ...identity,
      ...(probe !== undefined ? { probe } : {}),
      generate: (request) =>
        Effect.map(handle(request), (answer) => ({
          images: Array.from(
            { length: request.n },
            () => GeneratedImage.make({ data: tinyPng.slice(), mimeType: "image/png" }, { disableValidation: true })
          ),
          ...(answer.resolution !== undefined ? { resolution: answer.resolution } : {})
        }))
    }),
    calls,
    callCount,
    probeCount
  }))
}

const textFake = (
  options: IdentityOptions,
  decide: (context: AnswerContext<TextRequest>) => Answer | Effect.Effect<Answer>,
  decideProbe?: ProbeDecision
): Effect.Effect<FakeText> => {
  const identity = identityOf(options)
  return Effect.map(makeEngine(identity, decide, decideProbe), ({ callCount, calls, handle, probe, probeCount }) => ({
    service: TextGenerator.make({
      ...identity,
      ...(probe !== undefined ? { probe } : {}),
      generate: (request) => Effect.map(handle(request), (answer) => answer.text ?? `A reply from ${identity.model}.`)
    }),
    calls,
    callCount,
    probeCount
  }))
}

const immediateSuccess = Answer.ok()

const scriptOf = (options: ScriptedOptions) => ({ call }: { readonly call: number }): Answer => {
  const { answers } = options
  const index = call < answers.length
    ? call
    : options.after === "cycle"
    ? call % answers.length
    : answers.length - 1
  return answers[index] ?? immediateSuccess
}

/**
 * A fake image provider that gives `answers` to its calls in order, then
 * repeats the last one (or cycles, with `after: "cycle"`).
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { ImageRequest } from "@ballast/core"
 * import { Answer, FakeProvider } from "@ballast/testing"
 *
 * const program = Effect.gen(function* () {
 *   const fake = yield* FakeProvider.scripted({
 *     model: "gemini-3-pro-image-preview",
 *     answers: [Answer.overloaded(), Answer.ok({ latency: "20 seconds" })]
 *   })
 *   yield* fake.service.generate(ImageRequest.make({ prompt: "a fox" })) // fails with Overloaded
 * })
 */
export const scripted = (options: ScriptedOptions): Effect.Effect<FakeImage> => imageFake(options, scriptOf(options))

/**
 * A fake image provider whose answer is a function of the clock, the call's
 * index, the recent request rate and the request.
 *
 * @since 0.1.0
 * @example
 * import { Answer, FakeProvider } from "@ballast/testing"
 *
 * // down for the first ten minutes, then healthy
 * const fake = FakeProvider.fromClock({
 *   model: "gemini-3-pro-image-preview",
 *   answer: ({ elapsed }) => elapsed < 600_000 ? Answer.overloaded() : Answer.ok()
 * })
 */
export const fromClock = (options: FromClockOptions<ImageRequest>): Effect.Effect<FakeImage> =>
  imageFake(options, options.answer, options.probe)

/**
 * A fake text provider that gives `answers` to its calls in order, like `scripted`.
 *
 * @since 0.1.0
 */
export const scriptedText = (options: ScriptedOptions): Effect.Effect<FakeText> => textFake(options, scriptOf(options))

/**
 * A fake text provider whose answer is a function of the clock, like `fromClock`.
 *
 * @since 0.1.0
 */
export const fromClockText = (options: FromClockOptions<TextRequest>): Effect.Effect<FakeText> =>
  textFake(options, options.answer, options.probe)
