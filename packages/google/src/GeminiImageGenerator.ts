/**
 * Gemini image models (`generateContent` with `responseModalities`
 * `["TEXT", "IMAGE"]`) as an `ImageGenerator`.
 *
 * Decisions:
 * - The request is adapted to the model's capability-table entry (nearest
 *   resolution and aspect ratio); `imageSize` is omitted for models that only
 *   make 1K (gemini-2.5-flash-image). Unknown models get the request as is.
 * - `n > 1` makes `n` calls concurrently; the first failure interrupts (and
 *   aborts) the others.
 * - The image is the last `inlineData` part whose `thought !== true`. A 200
 *   without one is `ContentRejected` for safety reasons (`promptFeedback.blockReason`,
 *   `IMAGE_SAFETY`, `PROHIBITED_CONTENT`, …) and `ProviderUnavailable` otherwise
 *   (`NO_IMAGE`, `IMAGE_OTHER`, `OTHER`, text only, no candidates).
 *
 * @since 0.1.0
 */
import type { Part } from "@google/genai"
import {
  Capabilities,
  GeneratedImage,
  type GenerationError,
  ImageGenerator,
  type ImageRequest,
  ProviderUnavailable
} from "@ballast/core"
import { Array as Arr, Effect, Either, Encoding, Layer, Option } from "effect"
import { GeminiClient } from "./GeminiClient.js"
import { noOutput, partsOf } from "./internal/response.js"

/**
 * @since 0.1.0
 */
export interface Options {
  /** The model ID, e.g. `"gemini-3-pro-image-preview"`. */
  readonly model: string
  /** The route name; defaults to `google/<model>`, or `google/<region>/<model>` with a region. */
  readonly route?: string
  /** The region this route serves from (defaults to the client's Vertex location). */
  readonly region?: string
}

const provider = "google"

/**
 * Builds the `ImageGenerator` service for one model on the `GeminiClient`.
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<ImageGenerator.Service, never, GeminiClient> =>
  Effect.map(GeminiClient, (client) => {
    const { model } = options
    const capabilities = Capabilities.lookup(model)
    const onlyOneK = Option.match(capabilities, {
      onNone: () => false,
      onSome: (caps) => caps.resolutions.length > 0 && caps.resolutions.every((r) => r === "1K")
    })
    const region = options.region ?? Option.getOrUndefined(client.location)
    const route = options.route ?? (region !== undefined ? `${provider}/${region}/${model}` : undefined)
    const call = <A>(f: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, GenerationError> =>
      Effect.tryPromise({ try: f, catch: (error) => client.translate(error, model) })

    const generateOne = (request: ImageRequest, shape: Capabilities.Shape) => {
      const parts: Array<Part> = [
        { text: request.prompt },
        ...(request.referenceImages ?? []).map((image) => ({
          inlineData: { mimeType: image.mimeType, data: Encoding.encodeBase64(image.data) }
        }))
      ]
      return call((signal) =>
        client.genai.models.generateContent({
          model,
          contents: [{ role: "user", parts }],
          config: {
            responseModalities: ["TEXT", "IMAGE"],
            imageConfig: onlyOneK
              ? { aspectRatio: shape.aspectRatio }
              : { aspectRatio: shape.aspectRatio, imageSize: shape.resolution },
            abortSignal: signal
          }
        })
      ).pipe(
        Effect.flatMap((response) => {
          const image = Arr.findLast(partsOf(response), (part) =>
            part.thought !== true && typeof part.inlineData?.data === "string" && part.inlineData.data.length > 0)
          if (Option.isNone(image)) {
            return Effect.fail(noOutput(response, "image", { provider, model, scrub: client.scrub }))
          }
          const inline = image.value.inlineData
          return Either.match(Encoding.decodeBase64(inline?.data ?? ""), {
            onLeft: () =>
              Effect.fail(new ProviderUnavailable({ provider, model, message: "Gemini returned image data that is not base64" })),
            onRight: (data) =>
              Effect.succeed(new GeneratedImage({ data, mimeType: inline?.mimeType ?? "image/png" }, { disableValidation: true }))
          })
        })
      )
    }

    return ImageGenerator.make({
      provider,
      model,
      ...(route !== undefined ? { route } : {}),
      generate: (request) => {
        const shape = Option.getOrElse(
          Option.flatMap(capabilities, (caps) => Capabilities.adapt(caps, request)),
          () => ({ resolution: request.resolution, aspectRatio: request.aspectRatio })
        )
        return Effect.map(
          Effect.all(Arr.makeBy(request.n, () => generateOne(request, shape)), { concurrency: "unbounded" }),
          (images) => ({ images, resolution: shape.resolution, aspectRatio: shape.aspectRatio })
        )
      },
      probe: Effect.asVoid(call((signal) => client.genai.models.get({ model, config: { abortSignal: signal } })))
    })
  })

/**
 * A Layer providing `ImageGenerator` for one Gemini image model; requires
 * `GeminiClient`.
 *
 * @since 0.1.0
 * @example
 * import { GeminiClient, GeminiImageGenerator } from "@ballast/google"
 * import { Layer, Redacted } from "effect"
 *
 * const Pro = GeminiImageGenerator.layer({ model: "gemini-3-pro-image-preview" }).pipe(
 *   Layer.provide(GeminiClient.layer({ apiKey: Redacted.make("AIza...") }))
 * )
 */
export const layer = (options: Options): Layer.Layer<ImageGenerator, never, GeminiClient> =>
  Layer.effect(ImageGenerator, make(options))
