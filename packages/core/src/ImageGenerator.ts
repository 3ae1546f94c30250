/**
 * The one service every image provider implements and the pipeline wraps.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Layer } from "effect"
import type { GenerationError } from "./Errors.js"
import { type GeneratedImage, ImageRequest, ImageResult } from "./Image.js"
import { type AspectRatio, isBelow, type Resolution } from "./Resolution.js"

/**
 * Generates images. Provided by a provider Layer (one model of one provider) or
 * by `Pipeline.layer` (the resilient composition of many).
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { ImageGenerator, ImageRequest } from "@ballast/core"
 *
 * const program = Effect.gen(function* () {
 *   const images = yield* ImageGenerator
 *   const result = yield* images.generate(ImageRequest.make({ prompt: "a lighthouse at dusk", resolution: "2K" }))
 *   console.log(result.route, result.resolution, result.degraded)
 * })
 */
export class ImageGenerator extends Context.Tag("@ballast/core/ImageGenerator")<
  ImageGenerator,
  ImageGenerator.Service
>() {
  /**
   * Builds an `ImageGenerator` from a function that makes the images; the
   * provenance (route, timing, resolution) is filled in here. The result is
   * `degraded` when the provider delivered below the requested resolution or
   * another aspect ratio.
   *
   * @since 0.1.0
   */
  static readonly make = (options: ImageGenerator.MakeOptions): ImageGenerator.Service => {
    const route = options.route ?? `${options.provider}/${options.model}`
    return {
      provider: options.provider,
      model: options.model,
      route,
      ...(options.probe !== undefined ? { probe: options.probe } : {}),
      generate: (request) =>
        Effect.clockWith((clock) => {
          const start = clock.unsafeCurrentTimeMillis()
          return Effect.map(options.generate(request), (output) => {
            const latency = Duration.millis(clock.unsafeCurrentTimeMillis() - start)
            const resolution = output.resolution ?? request.resolution
            const aspectRatio = output.aspectRatio ?? request.aspectRatio
            return ImageResult.make({
              images: output.images,
              route,
              provider: options.provider,
              model: options.model,
              resolution,
              requestedResolution: request.resolution,
              aspectRatio,
              degraded: isBelow(resolution, request.resolution) || aspectRatio !== request.aspectRatio,
              attempts: 1,
              latency,
              providerLatency: latency,
              waited: Duration.zero
            }, { disableValidation: true })
          })
        })
    }
  }

  /**
   * A Layer providing an `ImageGenerator` built with `make`.
   *
   * @since 0.1.0
   */
  static readonly layer = (options: ImageGenerator.MakeOptions): Layer.Layer<ImageGenerator> =>
    Layer.succeed(ImageGenerator, ImageGenerator.make(options))
}

/**
 * @since 0.1.0
 */
export declare namespace ImageGenerator {
  /**
   * @since 0.1.0
   */
  export interface Service {
    /** The provider behind this generator, e.g. `"google"`, or `"ballast"` for a pipeline. */
    readonly provider: string
    /** The model behind this generator. */
    readonly model: string
    /** The route name this generator answers as. */
    readonly route: string
    /** Generates images for a request. */
    readonly generate: (request: ImageRequest) => Effect.Effect<ImageResult, GenerationError>
    /**
     * A cheap check that the route answers (model metadata, not a generation), for
     * health probes. Absent when the provider has none.
     */
    readonly probe?: Effect.Effect<void, GenerationError>
  }

  /**
   * What a provider's function returns: the images, and the resolution and
   * aspect ratio it actually delivered when they differ from the request.
   *
   * @since 0.1.0
   */
  export interface Output {
    readonly images: ReadonlyArray<GeneratedImage>
    readonly resolution?: Resolution
    readonly aspectRatio?: AspectRatio
  }

  /**
   * @since 0.1.0
   */
  export interface MakeOptions {
    readonly provider: string
    readonly model: string
    /** Defaults to `provider/model`. */
    readonly route?: string
    readonly generate: (request: ImageRequest) => Effect.Effect<Output, GenerationError>
    /** A cheap check that the route answers, for health probes. */
    readonly probe?: Effect.Effect<void, GenerationError>
  }
}
