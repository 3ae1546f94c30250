/**
 * What an image generation is asked for and what it answers.
 *
 * @since 0.1.0
 */
import { Duration, Schema } from "effect"
import { AspectRatio, Resolution } from "./Resolution.js"

/**
 * Image bytes with their MIME type (base64 when encoded).
 *
 * @since 0.1.0
 */
export class GeneratedImage extends Schema.Class<GeneratedImage>("@ballast/core/GeneratedImage")({
  data: Schema.Uint8ArrayFromBase64,
  mimeType: Schema.String
}) {}

/**
 * A prompt that is not blank and fits every provider's limit.
 *
 * @since 0.1.0
 */
export const Prompt = Schema.String.pipe(
  Schema.filter((s) => s.trim().length > 0, { message: () => "must not be blank" }),
  Schema.maxLength(32_000, { message: () => "must be at most 32000 characters" })
)

/**
 * A request for one or more images.
 *
 * `deadline` is the time budget of the whole request, across every retry and
 * fallback; without it the pipeline's configured deadline applies.
 *
 * @since 0.1.0
 * @example
 * import { ImageRequest } from "@ballast/core"
 *
 * const request = ImageRequest.make({ prompt: "a watercolor fox", resolution: "4K", aspectRatio: "16:9" })
 */
export class ImageRequest extends Schema.Class<ImageRequest>("@ballast/core/ImageRequest")({
  prompt: Prompt,
  resolution: Schema.optionalWith(Resolution, { default: () => "1K" as const, exact: true }),
  aspectRatio: Schema.optionalWith(AspectRatio, { default: () => "1:1" as const, exact: true }),
  n: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 10)), { default: () => 1, exact: true }),
  referenceImages: Schema.optionalWith(Schema.Array(GeneratedImage), { exact: true }),
  idempotencyKey: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1)), { exact: true }),
  deadline: Schema.optionalWith(Schema.DurationFromMillis, { exact: true })
}) {}

/**
 * What a result was delivered at: an image resolution, or `"description"` when
 * the last rung of the ladder answered with a text description instead.
 *
 * @since 0.1.0
 */
export const DeliveredResolution = Schema.Union(Resolution, Schema.Literal("description"))

/**
 * @since 0.1.0
 */
export type DeliveredResolution = typeof DeliveredResolution.Type

/**
 * Generated images (or, degraded to the last rung, a description) and where
 * they came from: which route, provider, model and resolution answered, whether
 * that is less than what was asked for, how many provider calls were made and
 * how long the whole request took — and of that, how long was spent inside
 * provider calls (`providerLatency`; hedged calls that overlap each count) and
 * waiting between them (`waited`: retry backoff, a route's rate limit, a wait
 * for a breaker to half-open). What is left is Ballast's own time.
 *
 * @since 0.1.0
 */
export class ImageResult extends Schema.Class<ImageResult>("@ballast/core/ImageResult")({
  images: Schema.Array(GeneratedImage),
  description: Schema.optionalWith(Schema.String, { exact: true }),
  route: Schema.String,
  provider: Schema.String,
  model: Schema.String,
  resolution: DeliveredResolution,
  requestedResolution: Resolution,
  aspectRatio: AspectRatio,
  degraded: Schema.Boolean,
  attempts: Schema.Int,
  latency: Schema.DurationFromMillis,
  providerLatency: Schema.optionalWith(Schema.DurationFromMillis, { default: () => Duration.zero, exact: true }),
  waited: Schema.optionalWith(Schema.DurationFromMillis, { default: () => Duration.zero, exact: true })
}) {}
