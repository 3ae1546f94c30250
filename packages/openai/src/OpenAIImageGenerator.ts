/**
 * OpenAI image models (`images.generate`) and OpenAI-compatible image servers
 * (Flux, Stable Diffusion) as a Layer of the generic `ImageGenerator`.
 *
 * @since 0.1.0
 */
import { BadRequest, Capabilities, GeneratedImage, ImageGenerator, type ImageRequest, ProviderUnavailable } from "@ballast/core"
import { Effect, Encoding, Either, Layer, Option, Predicate, Schema } from "effect"
import type { ImagesResponse } from "openai/resources/images"
import { OpenAIClient } from "./OpenAIClient.js"
import { call } from "./internal/call.js"

/**
 * The model cannot be served by this Layer: it is not in the capability table
 * (and no `capabilities` were given), makes no images, or is not sized in
 * pixels. Raised when the Layer is built, not per request.
 *
 * @since 0.1.0
 */
export class UnsupportedModel extends Schema.TaggedError<UnsupportedModel>("@ballast/openai/UnsupportedModel")(
  "UnsupportedModel",
  { model: Schema.String, message: Schema.String }
) {}

/**
 * @since 0.1.0
 */
export interface Options {
  /** The model ID sent as `model`, e.g. `"gpt-image-2"` or `"flux-schnell"`. */
  readonly model: string
  /** The route name; defaults to `provider/model`. */
  readonly route?: string | undefined
  /** The provider label; defaults to the client's. */
  readonly provider?: string | undefined
  /** Overrides the built-in capability table (required for models it does not list). */
  readonly capabilities?: Capabilities.ModelCapabilities | undefined
  /**
   * Sent as `response_format`. GPT image models reject the parameter (and always
   * answer base64); OpenAI-compatible Flux / SD servers may default to URLs and
   * need `"b64_json"`.
   */
  readonly responseFormat?: "b64_json" | undefined
}

const mimeTypes: Readonly<Record<string, string>> = {
  png: "image/png",
  jpeg: "image/jpeg",
  jpg: "image/jpeg",
  webp: "image/webp",
  gif: "image/gif"
}

const capabilitiesOf = (options: Options): Effect.Effect<Capabilities.ModelCapabilities, UnsupportedModel> => {
  const fail = (why: string) => Effect.fail(new UnsupportedModel({ model: options.model, message: `${options.model}: ${why}` }))
  const found = options.capabilities !== undefined ? Option.some(options.capabilities) : Capabilities.lookup(options.model)
  if (Option.isNone(found)) {
    return fail("not in the capability table; pass `capabilities` (sizes, aspect ratios) for this model")
  }
  const caps = found.value
  if (!Capabilities.supports(caps, "image")) return fail("the model makes no images")
  if (caps.sizing.kind === "named") return fail("the model is not sized in pixels (WxH), so images.generate cannot serve it")
  return Effect.succeed(caps)
}

/**
 * Builds the `ImageGenerator` service for one model on the client's endpoint.
 *
 * @since 0.1.0
 */
export const make = (
  options: Options
): Effect.Effect<ImageGenerator.Service, UnsupportedModel, OpenAIClient> =>
  Effect.gen(function*() {
    const { apiKey, client, provider: clientProvider, secrets } = yield* OpenAIClient
    const caps = yield* capabilitiesOf(options)
    const model = options.model
    const provider = options.provider ?? clientProvider
    const context = { provider, model, apiKey, secrets }
    const unusable = (why: string) => new ProviderUnavailable({ provider, model, message: `${provider} ${model}: ${why}` })

    const decode = (response: ImagesResponse | string): Effect.Effect<ReadonlyArray<GeneratedImage>, ProviderUnavailable> => {
      // A 200 with a non-JSON content type resolves to a string in this SDK.
      if (!Predicate.isObject(response)) return Effect.fail(unusable("the response was not JSON"))
      const data = response.data ?? []
      if (data.length === 0) return Effect.fail(unusable("the response carried no image"))
      const mimeType = mimeTypes[response.output_format ?? "png"] ?? "image/png"
      return Effect.forEach(data, (image) => {
        if (typeof image.b64_json !== "string" || image.b64_json.length === 0) {
          return Effect.fail(unusable(
            image.url !== undefined ? "the response carried URLs, not base64 (set responseFormat: \"b64_json\")" : "an image had no data"
          ))
        }
        return Either.match(Encoding.decodeBase64(image.b64_json), {
          onLeft: () => Effect.fail(unusable("an image was not valid base64")),
          onRight: (bytes) => Effect.succeed(new GeneratedImage({ data: bytes, mimeType }, { disableValidation: true }))
        })
      })
    }

    const generate = (request: ImageRequest) =>
      Effect.gen(function*() {
        const shape = Capabilities.adapt(caps, request)
        const size = Option.flatMap(shape, (s) => Capabilities.pixelSize(caps, s.resolution, s.aspectRatio))
        if (Option.isNone(shape) || Option.isNone(size)) {
          return yield* new BadRequest({
            provider,
            model,
            message: `${provider} ${model}: no size fits ${request.resolution} ${request.aspectRatio}`,
            scope: "route"
          })
        }
        const response: ImagesResponse | string = yield* call(context, (signal) =>
          client.images.generate({
            model,
            prompt: request.prompt,
            n: request.n,
            size: size.value,
            ...(options.responseFormat !== undefined ? { response_format: options.responseFormat } : {})
          }, { signal }))
        const images = yield* decode(response)
        return { images, resolution: shape.value.resolution, aspectRatio: shape.value.aspectRatio }
      })

    const probe = Effect.asVoid(call(context, (signal) => client.models.retrieve(model, { signal })))

    return ImageGenerator.make({
      provider,
      model,
      ...(options.route !== undefined ? { route: options.route } : {}),
      generate,
      probe
    })
  })

/**
 * A Layer providing `ImageGenerator` for one model, sized through the
 * capability table (`gpt-image-2` at 4K 16:9 asks for `3840x2160`;
 * `gpt-image-1.5` gets the nearest of its fixed sizes). Fails to build with
 * `UnsupportedModel` when the model cannot be sized.
 *
 * @since 0.1.0
 * @example
 * import { Config, Layer } from "effect"
 * import { OpenAIClient, OpenAIImageGenerator } from "@ballast/openai"
 *
 * const Flux = OpenAIImageGenerator.layer({ model: "flux-schnell", provider: "flux-local", responseFormat: "b64_json" }).pipe(
 *   Layer.provide(OpenAIClient.layerConfig())
 * )
 */
export const layer = (options: Options): Layer.Layer<ImageGenerator, UnsupportedModel, OpenAIClient> =>
  Layer.effect(ImageGenerator, make(options))
