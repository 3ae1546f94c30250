/**
 * The Promise facade: the same pipeline for code that does not use Effect.
 *
 * @since 0.1.0
 */
import { Cause, Effect, Either, Exit, type Layer, ManagedRuntime, type ParseResult, Schema } from "effect"
import { BadRequest, type GenerationError } from "./Errors.js"
import { ImageRequest, type ImageResult } from "./Image.js"
import { parseIssues } from "./internal/issues.js"
import type { ImageGenerator } from "./ImageGenerator.js"
import * as Pipeline from "./Pipeline.js"
import * as PipelineConfig from "./PipelineConfig.js"
import type { TextGenerator } from "./TextGenerator.js"

/**
 * What `generate` accepts: an `ImageRequest` in its plain (encoded) form, with
 * `deadline` in milliseconds and reference images as base64.
 *
 * @since 0.1.0
 */
export type ImageRequestInput = typeof ImageRequest.Encoded

/**
 * A resilient image client with a Promise API.
 *
 * @since 0.1.0
 */
export interface ImageClient {
  /**
   * Generates images through the pipeline. Rejects with the same tagged error
   * classes the Effect API fails with (`AllRoutesFailed`, `Timeout`,
   * `BadRequest`, …), so `error instanceof AllRoutesFailed` and
   * `error._tag === "AllRoutesFailed"` both work. Aborting `signal` interrupts
   * the request and every provider call it has in flight.
   */
  readonly generate: (request: ImageRequestInput, options?: { readonly signal?: AbortSignal }) => Promise<ImageResult>
  /** The pipeline's breakers, retry budgets and plan, for inspection. */
  readonly pipeline: () => Promise<Pipeline.Pipeline.Service>
  /**
   * Stops taking requests (`generate` and `pipeline` reject from now on), lets
   * the requests in flight finish, then releases the providers' resources.
   */
  readonly close: () => Promise<void>
}

/**
 * The provider Layers a client's routes name.
 *
 * @since 0.1.0
 */
export interface ClientProviders {
  /** One Layer per image route; it may fail (e.g. a missing API key) but must need nothing. */
  readonly image: Readonly<Record<string, Layer.Layer<ImageGenerator, unknown>>>
  readonly text?: Readonly<Record<string, Layer.Layer<TextGenerator, unknown>>>
}

// Synchronous: decoding needs no runtime, and an `Either` costs less than an `Effect`.
const decodeRequest = Schema.decodeUnknownEither(ImageRequest, { errors: "all" })

const abortError = () => new DOMException("The request was aborted.", "AbortError")

const rejectWith = (exit: Exit.Exit<unknown, unknown>): never => {
  if (Exit.isSuccess(exit)) throw new Error("unreachable")
  const failure = Cause.failureOption(exit.cause)
  // Effect wraps an error that fails inside a span (the pipeline's request and attempt spans) in a proxy that
  // carries the span; a Promise caller gets the error itself.
  if (failure._tag === "Some") throw Cause.originalError(failure.value)
  if (Cause.isInterruptedOnly(exit.cause)) throw abortError()
  throw Cause.squash(exit.cause)
}

const settle = <A>(exit: Exit.Exit<A, unknown>): A => Exit.isSuccess(exit) ? exit.value : rejectWith(exit)

/**
 * Creates a resilient image client from a pipeline configuration (the plain
 * object a JSON or YAML config file holds) and one provider Layer per route.
 * Throws a `ConfigError` naming every bad field at once, or every route of the
 * plan that was given no provider.
 *
 * @since 0.1.0
 * @example
 * import { createImageClient } from "@ballast/core"
 *
 * const client = createImageClient(
 *   {
 *     routes: {
 *       pro: { provider: "google", model: "gemini-3-pro-image-preview" },
 *       flash: { provider: "google", model: "gemini-3.1-flash-image-preview" }
 *     },
 *     plan: [{ route: "pro", resolutions: ["4K", "2K"] }, { route: "flash" }]
 *   },
 *   { image: { pro: geminiProLayer, flash: geminiFlashLayer } }
 * )
 * const result = await client.generate({ prompt: "a lighthouse at dusk", resolution: "4K" })
 */
export const createImageClient = (config: unknown, providers: ClientProviders): ImageClient => {
  const decoded = Effect.runSyncExit(PipelineConfig.decode(config))
  const pipelineConfig = Exit.isSuccess(decoded) ? decoded.value : rejectWith(decoded)
  const missing = Pipeline.missingProviders(pipelineConfig, providers)
  if (missing.length > 0) throw PipelineConfig.configError(missing)
  const runtime = ManagedRuntime.make(Pipeline.layer(pipelineConfig, providers))
  const labels = Pipeline.labelsOf(pipelineConfig)
  const invalidRequest = (error: ParseResult.ParseError): BadRequest =>
    new BadRequest({
      ...labels,
      message: `invalid request: ${
        parseIssues(error).map((issue) => `${issue.path === "" ? "request" : issue.path}: ${issue.message}`).join("; ")
      }`,
      scope: "request"
    })
  // The pipeline, once the runtime has built it: later requests skip the lookup.
  let pipeline: Pipeline.Pipeline.Service | undefined
  const generate = (
    request: ImageRequestInput
  ): Effect.Effect<ImageResult, GenerationError | PipelineConfig.ConfigError, Pipeline.Pipeline> => {
    const decodedRequest = decodeRequest(request)
    const call = (service: Pipeline.Pipeline.Service) =>
      Either.isRight(decodedRequest)
        ? service.generate(decodedRequest.right)
        : Effect.failSync(() => invalidRequest(decodedRequest.left))
    return pipeline !== undefined ? call(pipeline) : Effect.flatMap(Pipeline.Pipeline, (built) => {
      pipeline = built
      return call(built)
    })
  }
  // Requests still running, so that `close` can let them finish before releasing the providers.
  const inFlight = new Set<Promise<unknown>>()
  // `runPromiseExit(…).then(settle)`, with one promise instead of two. An abort rejects with the
  // signal's reason when it has one (as `fetch` does: `AbortSignal.timeout()` gives a TimeoutError).
  const run = <A>(
    effect: Effect.Effect<A, unknown, Pipeline.Pipeline>,
    signal: AbortSignal | undefined
  ): Promise<A> => {
    const promise = new Promise<A>((resolve, reject) => {
      const fiber = runtime.runFork(effect)
      fiber.addObserver((exit) => {
        try {
          resolve(settle(exit))
        } catch (error) {
          reject(signal?.aborted && signal.reason !== undefined && Exit.isInterrupted(exit) ? signal.reason : error)
        }
      })
      if (signal !== undefined) {
        const onAbort = () => fiber.unsafeInterruptAsFork(fiber.id())
        signal.addEventListener("abort", onAbort, { once: true })
        fiber.addObserver(() => signal.removeEventListener("abort", onAbort))
      }
    })
    inFlight.add(promise)
    const forget = () => inFlight.delete(promise)
    promise.then(forget, forget)
    return promise
  }
  // A disposed runtime would reject with a bare string; say what happened instead.
  let closed: Promise<void> | undefined
  const closedError = () => new Error("The image client is closed.")
  return {
    generate: (request, options) => {
      const signal = options?.signal
      if (closed !== undefined) return Promise.reject(closedError())
      // A pipeline that answers without waiting would run to its end before an already-aborted signal is seen.
      if (signal?.aborted) return Promise.reject(signal.reason ?? abortError())
      return run(generate(request), signal)
    },
    pipeline: () =>
      closed !== undefined ? Promise.reject(closedError()) : runtime.runPromiseExit(Pipeline.Pipeline).then(settle),
    close: () => {
      closed ??= Promise.allSettled([...inFlight]).then(() => runtime.dispose())
      return closed
    }
  }
}
