/**
 * How the wire formats' size parameters map onto Ballast's resolution and
 * aspect ratio.
 *
 * OpenAI `size` (`"WxH"`): the aspect ratio is the one of `AspectRatio`
 * nearest to W/H (by the logarithm of their ratio, as `Capabilities` does);
 * the resolution follows the long edge — up to 1536 px is 1K (so GPT Image's
 * `1536x1024` stays 1K), up to 2560 px 2K (`2048x2048`, `2560x1440`), above
 * that 4K (`3840x2160`). `quality` decides the resolution only when `size` is
 * `auto` or absent: `low`, `medium`, `standard`, `auto` → 1K; `high`, `hd` →
 * 2K; `xhigh`, `max` → 4K; the aspect ratio is then 1:1. The pipeline then
 * maps this shape to the nearest one each route supports.
 *
 * Gemini `imageConfig`: `aspectRatio` is taken as is (it must be one of
 * Ballast's aspect ratios) and `imageSize` `1K` / `2K` / `4K` as the
 * resolution (`"512"` is served as 1K); the defaults are Gemini's, 1K and 1:1.
 *
 * @since 0.1.0
 */
import { type AspectRatio, Resolution, Resolutions } from "@ballast/core"
import { Either, Schema } from "effect"

/**
 * A resolution and an aspect ratio.
 *
 * @since 0.1.0
 */
export interface Shape {
  readonly resolution: Resolution
  readonly aspectRatio: AspectRatio
}

const ratios: ReadonlyArray<AspectRatio> = Resolutions.AspectRatio.literals

/**
 * The aspect ratio nearest to `width / height`.
 *
 * @since 0.1.0
 */
export const nearestAspectRatio = (width: number, height: number): AspectRatio => {
  const target = Math.log(width / height)
  let best: AspectRatio = "1:1"
  let distance = Infinity
  for (const ratio of ratios) {
    const d = Math.abs(Math.log(Resolutions.aspectValue(ratio)) - target)
    if (d < distance) {
      best = ratio
      distance = d
    }
  }
  return best
}

/**
 * The resolution class of an image whose long edge is `longEdge` pixels.
 *
 * @since 0.1.0
 */
export const resolutionOfEdge = (longEdge: number): Resolution => longEdge <= 1536 ? "1K" : longEdge <= 2560 ? "2K" : "4K"

const qualityResolution: Readonly<Record<string, Resolution>> = {
  low: "1K",
  medium: "1K",
  standard: "1K",
  auto: "1K",
  high: "2K",
  hd: "2K",
  xhigh: "4K",
  max: "4K"
}

/**
 * The qualities `fromOpenAI` accepts.
 *
 * @since 0.1.0
 */
export const qualities: ReadonlyArray<string> = Object.keys(qualityResolution)

const pixelSize = /^([1-9]\d{0,4})x([1-9]\d{0,4})$/

/**
 * The shape of an OpenAI `images.generate` request, or why its `size` or
 * `quality` is not understood (the message names the parameter's value).
 *
 * @since 0.1.0
 * @example
 * import { Sizing } from "@ballast/gateway"
 *
 * Sizing.fromOpenAI({ size: "3840x2160" }) // Either.right({ resolution: "4K", aspectRatio: "16:9" })
 */
export const fromOpenAI = (
  params: { readonly size?: string | undefined; readonly quality?: string | undefined }
): Either.Either<Shape, { readonly param: "size" | "quality"; readonly message: string }> => {
  const quality = params.quality ?? "auto"
  const byQuality = qualityResolution[quality]
  if (byQuality === undefined) {
    return Either.left({
      param: "quality",
      message: `Invalid value: '${quality}'. Supported values are: ${qualities.map((q) => `'${q}'`).join(", ")}.`
    })
  }
  const size = params.size ?? "auto"
  if (size === "auto") return Either.right({ resolution: byQuality, aspectRatio: "1:1" })
  const match = pixelSize.exec(size)
  if (match === null) {
    return Either.left({
      param: "size",
      message: `Invalid value: '${size}'. Supported values are 'auto' or 'WIDTHxHEIGHT', e.g. '1024x1024', '1536x1024', '3840x2160'.`
    })
  }
  const width = Number(match[1])
  const height = Number(match[2])
  return Either.right({ resolution: resolutionOfEdge(Math.max(width, height)), aspectRatio: nearestAspectRatio(width, height) })
}

const isResolution = Schema.is(Resolution)
const isAspectRatio = Schema.is(Resolutions.AspectRatio)

/**
 * The shape of a Gemini `generateContent` request's `imageConfig`, or which
 * field is wrong and why.
 *
 * @since 0.1.0
 */
export const fromGemini = (
  imageConfig: { readonly aspectRatio?: string | undefined; readonly imageSize?: string | undefined } | undefined
): Either.Either<Shape, { readonly field: "aspectRatio" | "imageSize"; readonly message: string }> => {
  const aspectRatio = imageConfig?.aspectRatio ?? "1:1"
  const imageSize = imageConfig?.imageSize ?? "1K"
  if (!isAspectRatio(aspectRatio)) {
    return Either.left({
      field: "aspectRatio",
      message: `aspect_ratio must be one of ${ratios.map((r) => `'${r}'`).join(", ")}`
    })
  }
  const resolution = imageSize === "512" ? "1K" : imageSize
  if (!isResolution(resolution)) {
    return Either.left({ field: "imageSize", message: "image_size must be one of '512', '1K', '2K' or '4K'" })
  }
  return Either.right({ resolution, aspectRatio })
}
