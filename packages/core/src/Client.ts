/**
 * The Promise facade: the same pipeline for code that does not use Effect.
 *
 * @since 0.1.0
 */
import { Cause, Effect, Exit, type Layer, ManagedRuntime, ParseResult, Schema } from "effect"
import { BadRequest, type GenerationError } from "./Errors.js"
import { ImageRequest, type ImageResult } from "./Image.js"
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
  /** Releases the providers' resources. */
  readonly close: () => Promise<void>
}

/**
 * The provider Layers a client's routes name.
 *
 * @since 0.1.0
 */
export interface ClientProviders {
  readonly image: Readonly<Record<string, Layer.Layer<ImageGenerator>>>
  readonly text?: Readonly<Record<string, Layer.Layer<TextGenerator>>>
}

const decodeRequest = Schema.decodeUnknown(ImageRequest, { errors: "all" })

const rejectWith = (exit: Exit.Exit<unknown, unknown>): never => {
  if (Exit.isSuccess(exit)) throw new Error("unreachable")
  const failure = Cause.failureOption(exit.cause)
  if (failure._tag === "Some") throw failure.value
  if (Cause.isInterruptedOnly(exit.cause)) throw new DOMException("The request was aborted.", "AbortError")
  throw Cause.squash(exit.cause)
}

/**
 * Creates a resilient image client from a pipeline configuration (the plain
 * object a JSON or YAML config file holds) and one provider Layer per route.
 * Throws a `ConfigError` naming every bad field at once.
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
  const runtime = ManagedRuntime.make(Pipeline.layer(pipelineConfig, providers))
  const generate = (request: ImageRequestInput): Effect.Effect<ImageResult, GenerationError | PipelineConfig.ConfigError, Pipeline.Pipeline> =>
    Effect.flatMap(
      Effect.mapError(decodeRequest(request), (error) =>
        new BadRequest({
          provider: "ballast",
          model: pipelineConfig.routes[Object.keys(pipelineConfig.routes)[0] ?? ""]?.model ?? "pipeline",
          message: `invalid request: ${
            ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) =>
              `${issue.path.length > 0 ? issue.path.join(".") : "request"}: ${issue.message}`
            ).join("; ")
          }`,
          scope: "request"
        })),
      (request) => Effect.flatMap(Pipeline.Pipeline, (pipeline) => pipeline.generate(request))
    )
  return {
    generate: (request, options) =>
      runtime.runPromiseExit(generate(request), options?.signal ? { signal: options.signal } : undefined).then((exit) =>
        Exit.isSuccess(exit) ? exit.value : rejectWith(exit)
      ),
    pipeline: () =>
      runtime.runPromiseExit(Pipeline.Pipeline).then((exit) => Exit.isSuccess(exit) ? exit.value : rejectWith(exit)),
    close: () => runtime.dispose()
  }
}
