/**
 * What each model can do: which modalities it outputs, which resolutions and
 * aspect ratios it accepts and how a request is sized on the wire. The table
 * validates fallback plans at start-up (a text-only or retired model named as
 * an image step is refused before the first request) and maps a request to the
 * nearest shape a fallback supports.
 *
 * @since 0.1.0
 */
import { Array as Arr, Option, Order, Schema } from "effect"
import { dual } from "effect/Function"
import { AspectRatio, aspectValue, nearest, nearestAspectRatio, Resolution } from "./Resolution.js"

/**
 * What a model outputs.
 *
 * @since 0.1.0
 */
export const Modality = Schema.Literal("image", "text")

/**
 * @since 0.1.0
 */
export type Modality = typeof Modality.Type

/**
 * An OpenAI-style pixel size, `WIDTHxHEIGHT`, e.g. `"1536x1024"`.
 *
 * @since 0.1.0
 */
export const PixelSize = Schema.String.pipe(
  Schema.pattern(/^[1-9]\d*x[1-9]\d*$/, { message: () => "must be WIDTHxHEIGHT, e.g. 1024x1024" })
)

const nonEmpty = <S extends Schema.Schema.Any>(item: S, message: string) =>
  Schema.Array(item).pipe(Schema.filter(Arr.isNonEmptyReadonlyArray, { message: () => message }))

const PositiveInt = Schema.Int.pipe(Schema.positive())

/**
 * The model takes the resolution and aspect ratio by name (Gemini's
 * `imageSize` `"1K" | "2K" | "4K"` and `aspectRatio`), not a pixel size.
 *
 * @since 0.1.0
 */
export const NamedSizing = Schema.Struct({ kind: Schema.Literal("named") })

/**
 * The model accepts only the listed pixel sizes (GPT Image 1.x, DALL·E, most
 * self-hosted diffusion servers).
 *
 * @since 0.1.0
 */
export const FixedSizing = Schema.Struct({
  kind: Schema.Literal("fixed"),
  sizes: nonEmpty(PixelSize, "must list at least one size")
})


/**
 * The model accepts any `WxH` within rules (GPT Image 2): both sides divisible
 * by `multipleOf`, long side / short side at most `maxAspect`, no side above
 * `maxEdge` and at most `maxPixels` pixels in all.
 *
 * @since 0.1.0
 */
export const FlexibleSizing = Schema.Struct({
  kind: Schema.Literal("flexible"),
  multipleOf: PositiveInt,
  maxAspect: Schema.Number.pipe(Schema.greaterThanOrEqualTo(1)),
  maxEdge: PositiveInt,
  maxPixels: PositiveInt
})

/**
 * How a request's resolution and aspect ratio reach the model.
 *
 * @since 0.1.0
 */
export const Sizing = Schema.Union(NamedSizing, FixedSizing, FlexibleSizing)

/**
 * @since 0.1.0
 */
export type Sizing = typeof Sizing.Type

/**
 * When a model was shut down and what replaces it.
 *
 * @since 0.1.0
 */
export const Retirement = Schema.Struct({
  /** The day the provider shut the model down, `YYYY-MM-DD`. */
  on: Schema.String,
  /** The model to use instead. */
  replacement: Schema.String
})

/**
 * @since 0.1.0
 */
export type Retirement = typeof Retirement.Type

const profileFields = {
  modalities: nonEmpty(Modality, "must list at least one modality"),
  /** Empty for text-only models. */
  resolutions: Schema.optionalWith(Schema.Array(Resolution), { default: () => [], exact: true }),
  /** Empty for text-only models. */
  aspectRatios: Schema.optionalWith(Schema.Array(AspectRatio), { default: () => [], exact: true }),
  /** Defaults to `named` (Gemini-style `imageSize` + `aspectRatio`). */
  sizing: Schema.optionalWith(Sizing, { default: () => ({ kind: "named" as const }), exact: true })
}

type ProfileType = Schema.Struct.Type<typeof profileFields>

// An image model must say what it can make; a text-only model must not claim
// image shapes; flexible rules must leave room for at least one size.
const checkProfile = (profile: ProfileType): Schema.FilterOutput => {
  const makesImages = profile.modalities.includes("image")
  if (makesImages && profile.resolutions.length === 0) {
    return { path: ["resolutions"], message: "an image model needs at least one resolution" }
  }
  if (makesImages && profile.aspectRatios.length === 0) {
    return { path: ["aspectRatios"], message: "an image model needs at least one aspect ratio" }
  }
  if (!makesImages && (profile.resolutions.length > 0 || profile.aspectRatios.length > 0)) {
    return { path: ["modalities"], message: "a text-only model has no resolutions or aspect ratios" }
  }
  const sizing = profile.sizing
  if (sizing.kind === "flexible" && (sizing.maxEdge < sizing.multipleOf || sizing.maxPixels < sizing.multipleOf ** 2)) {
    return { path: ["sizing"], message: "maxEdge and maxPixels leave no size that is a multiple of multipleOf" }
  }
  return true
}

/**
 * What a model can do, without its name: the `capabilities` a route may
 * declare for a model the built-in table does not know (or to override it).
 *
 * @since 0.1.0
 */
export const Profile = Schema.Struct(profileFields).pipe(Schema.filter(checkProfile))

/**
 * @since 0.1.0
 */
export type Profile = typeof Profile.Type

/**
 * The capabilities of one model: what it outputs, which resolutions and aspect
 * ratios it accepts, how it is sized and whether it has been retired.
 *
 * @since 0.1.0
 */
export class ModelCapabilities extends Schema.Class<ModelCapabilities>("@ballast/core/ModelCapabilities")(
  Schema.Struct({
    /** The model ID as sent to the provider. */
    model: Schema.String,
    /** The provider whose API usually serves the model (informational). */
    provider: Schema.String,
    ...profileFields,
    /** Present once the provider has shut the model down. */
    retired: Schema.optionalWith(Retirement, { exact: true })
  }).pipe(Schema.filter(checkProfile))
) {}

/**
 * A resolution and an aspect ratio: the shape of an image request.
 *
 * @since 0.1.0
 */
export interface Shape {
  readonly resolution: Resolution
  readonly aspectRatio: AspectRatio
}

// The ten ratios of Gemini 3 Pro Image, which are also every ratio within 1:3–3:1.
const standardRatios: ReadonlyArray<AspectRatio> = ["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"]
const geminiFlashRatios: ReadonlyArray<AspectRatio> = [...standardRatios, "1:4", "4:1", "1:8", "8:1"]
const diffusionRatios: ReadonlyArray<AspectRatio> = ["1:1", "3:2", "2:3", "4:3", "3:4", "16:9", "9:16"]
// The about-one-megapixel sizes SDXL was trained on; Flux servers accept them too.
const diffusionSizes = ["1024x1024", "1216x832", "832x1216", "1152x896", "896x1152", "1344x768", "768x1344"] as const
const gptImageSizes = ["1024x1024", "1536x1024", "1024x1536"] as const

const models = (
  ids: ReadonlyArray<string>,
  capabilities: Omit<ConstructorParameters<typeof ModelCapabilities>[0], "model">
): ReadonlyArray<ModelCapabilities> => ids.map((model) => ModelCapabilities.make({ ...capabilities, model }))

const textModels = (provider: string, ids: ReadonlyArray<string>) => models(ids, { provider, modalities: ["text"] })

/**
 * The built-in capability table (November 2026). Sources: the Gemini image
 * documentation and the `400` it answers for an unsupported ratio, the `openai`
 * SDK's `images.generate` parameters and its retirement notes.
 *
 * - `gemini-2.5-flash-preview-04-17` is listed as text only: it is often quoted
 *   as an image fallback and answers `400` when asked for an image.
 * - Retired models stay in the table, marked, so a plan naming them is refused
 *   with the replacement instead of failing at the first request.
 *
 * @since 0.1.0
 */
export const known: ReadonlyArray<ModelCapabilities> = [
  ...models(["gemini-3-pro-image-preview", "gemini-3-pro-image"], {
    provider: "google",
    modalities: ["image", "text"],
    resolutions: ["1K", "2K", "4K"],
    aspectRatios: standardRatios
  }),
  ...models(["gemini-3.1-flash-image-preview", "gemini-3.1-flash-image"], {
    provider: "google",
    modalities: ["image", "text"],
    resolutions: ["1K", "2K", "4K"],
    aspectRatios: geminiFlashRatios
  }),
  ...models(["gemini-2.5-flash-image"], {
    provider: "google",
    modalities: ["image", "text"],
    resolutions: ["1K"],
    aspectRatios: standardRatios
  }),
  ...models(["gpt-image-2", "gpt-image-2-2026-04-21"], {
    provider: "openai",
    modalities: ["image"],
    resolutions: ["1K", "2K", "4K"],
    aspectRatios: standardRatios,
    sizing: { kind: "flexible", multipleOf: 16, maxAspect: 3, maxEdge: 3840, maxPixels: 3840 * 2160 }
  }),
  ...models(["gpt-image-1.5", "gpt-image-1-mini"], {
    provider: "openai",
    modalities: ["image"],
    resolutions: ["1K"],
    aspectRatios: ["1:1", "3:2", "2:3"],
    sizing: { kind: "fixed", sizes: gptImageSizes }
  }),
  ...models(["flux-1.1-pro", "flux-pro", "flux-dev", "flux-schnell", "black-forest-labs/FLUX-pro"], {
    provider: "black-forest-labs",
    modalities: ["image"],
    resolutions: ["1K"],
    aspectRatios: diffusionRatios,
    sizing: { kind: "fixed", sizes: diffusionSizes }
  }),
  ...models(["stable-diffusion-xl", "stabilityai/stable-diffusion-xl-base-1.0"], {
    provider: "stability",
    modalities: ["image"],
    resolutions: ["1K"],
    aspectRatios: diffusionRatios,
    sizing: { kind: "fixed", sizes: diffusionSizes }
  }),
  ...textModels("openai", ["gpt-5.2", "gpt-4.1"]),
  ...textModels("anthropic", ["claude-sonnet-4-5"]),
  ...textModels("groq", ["llama-3.3-70b-versatile"]),
  ...textModels("google", ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-preview-04-17"]),
  ...models(["gpt-image-1"], {
    provider: "openai",
    modalities: ["image"],
    resolutions: ["1K"],
    aspectRatios: ["1:1", "3:2", "2:3"],
    sizing: { kind: "fixed", sizes: gptImageSizes },
    retired: { on: "2026-10-23", replacement: "gpt-image-2" }
  }),
  ...models(["dall-e-3"], {
    provider: "openai",
    modalities: ["image"],
    resolutions: ["1K"],
    aspectRatios: ["1:1", "16:9", "9:16"],
    sizing: { kind: "fixed", sizes: ["1024x1024", "1792x1024", "1024x1792"] },
    retired: { on: "2026-05-12", replacement: "gpt-image-2" }
  }),
  ...models(["dall-e-2"], {
    provider: "openai",
    modalities: ["image"],
    resolutions: ["1K"],
    aspectRatios: ["1:1"],
    sizing: { kind: "fixed", sizes: ["1024x1024", "512x512", "256x256"] },
    retired: { on: "2026-05-12", replacement: "gpt-image-2" }
  })
]

const knownByModel: ReadonlyMap<string, ModelCapabilities> = new Map(known.map((caps) => [caps.model, caps]))

/**
 * The capabilities of a model by its ID: from `extra` first (so configured
 * entries override the table), then from the built-in table.
 *
 * @since 0.1.0
 * @example
 * import { Capabilities } from "@ballast/core"
 *
 * const flash = Capabilities.lookup("gemini-2.5-flash-image") // Option.some(...)
 */
export const lookup = (
  model: string,
  extra: ReadonlyArray<ModelCapabilities> = []
): Option.Option<ModelCapabilities> =>
  Option.fromNullable(extra.find((caps) => caps.model === model) ?? knownByModel.get(model))

/**
 * Whether a model outputs the given modality.
 *
 * @since 0.1.0
 */
export const supports: {
  (modality: Modality): (caps: ModelCapabilities) => boolean
  (caps: ModelCapabilities, modality: Modality): boolean
} = dual(2, (caps: ModelCapabilities, modality: Modality): boolean => caps.modalities.includes(modality))

/**
 * Why a model cannot be used any more, e.g. `"retired on 2026-05-12, use
 * gpt-image-2"`, or `None` while it is live.
 *
 * @since 0.1.0
 */
export const retirementNotice = (caps: ModelCapabilities): Option.Option<string> =>
  Option.map(Option.fromNullable(caps.retired), (r) => `retired on ${r.on}, use ${r.replacement}`)

/**
 * The shape a model can deliver for the one wanted: the largest supported
 * resolution not above the request (or the smallest, when all are larger) and
 * the nearest supported aspect ratio. `None` when the model makes no images.
 *
 * @since 0.1.0
 * @example
 * import { Capabilities } from "@ballast/core"
 * import { Option } from "effect"
 *
 * const flash = Option.getOrThrow(Capabilities.lookup("gemini-2.5-flash-image"))
 * Capabilities.adapt(flash, { resolution: "4K", aspectRatio: "16:9" })
 * // Option.some({ resolution: "1K", aspectRatio: "16:9" })
 */
export const adapt: {
  (wanted: Shape): (caps: ModelCapabilities) => Option.Option<Shape>
  (caps: ModelCapabilities, wanted: Shape): Option.Option<Shape>
} = dual(2, (caps: ModelCapabilities, wanted: Shape): Option.Option<Shape> => {
  if (!supports(caps, "image")) return Option.none()
  const resolution = nearest(wanted.resolution, caps.resolutions)
  const aspectRatio = nearestAspectRatio(wanted.aspectRatio, caps.aspectRatios)
  return resolution !== undefined && aspectRatio !== undefined
    ? Option.some({ resolution, aspectRatio })
    : Option.none()
})

/**
 * The nominal long edge of each resolution class, in pixels.
 *
 * @since 0.1.0
 */
export const nominalLongEdge: Readonly<Record<Resolution, number>> = { "1K": 1024, "2K": 2048, "4K": 4096 }

interface Dimensions {
  readonly width: number
  readonly height: number
}

const parseSize = (size: string): Dimensions => {
  const [width, height] = size.split("x").map(Number)
  return { width: width ?? 0, height: height ?? 0 }
}

const formatSize = (d: Dimensions): string => `${d.width}x${d.height}`

// How far apart two positive quantities are, symmetric in their ratio.
const logDistance = (a: number, b: number): number => Math.abs(Math.log(a / b))

// The resolution class of a pixel count: 1K ≈ 1 MP, 2K ≈ 4 MP, 4K ≈ 16 MP.
const resolutionClass = (d: Dimensions): Resolution => {
  const pixels = d.width * d.height
  return Arr.reduce(["2K", "4K"] as const, "1K" as Resolution, (best, r) =>
    logDistance(pixels, nominalLongEdge[r] ** 2) < logDistance(pixels, nominalLongEdge[best] ** 2) ? r : best)
}

// Among the listed sizes of the wanted class (all of them if none is), the one
// closest in aspect ratio, then closest in pixel count.
const fixedSize = (sizes: Arr.NonEmptyReadonlyArray<string>, shape: Shape): Dimensions => {
  const all = Arr.map(sizes, parseSize)
  const inClass = all.filter((d) => resolutionClass(d) === shape.resolution)
  const target = aspectValue(shape.aspectRatio)
  const targetPixels = nominalLongEdge[shape.resolution] ** 2
  const byFit = Order.combine(
    Order.mapInput(Order.number, (d: Dimensions) => logDistance(d.width / d.height, target)),
    Order.mapInput(Order.number, (d: Dimensions) => logDistance(d.width * d.height, targetPixels))
  )
  return Arr.headNonEmpty(Arr.sort(Arr.isNonEmptyReadonlyArray(inClass) ? inClass : all, byFit))
}

// The largest size whose long edge is at most the class's nominal edge and
// that obeys every rule, with the ratio closest to the wanted one. Ratios
// beyond the rules are clamped to `maxAspect`.
const flexibleSize = (rules: typeof FlexibleSizing.Type, shape: Shape): Dimensions | undefined => {
  const { maxAspect, maxEdge, maxPixels, multipleOf: m } = rules
  const wanted = aspectValue(shape.aspectRatio)
  const ratio = Math.min(Math.max(wanted, 1 / wanted), maxAspect)
  const limit = Math.min(nominalLongEdge[shape.resolution], maxEdge, Math.sqrt(maxPixels * ratio))
  // The epsilon keeps a limit computed as 3839.9999… from losing a step.
  for (let long = Math.floor(limit / m + 1e-9) * m; long >= m; long -= m) {
    const exactShort = long / ratio
    const fits = [Math.floor(exactShort / m) * m, Math.ceil(exactShort / m) * m].filter((short) =>
      short >= m && short <= long && long * short <= maxPixels && long / short <= maxAspect
    )
    const short = Arr.head(Arr.sort(fits, Order.mapInput(Order.number, (s: number) => logDistance(long / s, ratio))))
    if (Option.isSome(short)) {
      return wanted >= 1 ? { width: long, height: short.value } : { width: short.value, height: long }
    }
  }
  return undefined
}

/**
 * The OpenAI-style `size` (`"WxH"`) for a request, after adapting it to the
 * model (see `adapt`). Fixed-size models answer the listed size closest in
 * aspect ratio; flexible models (GPT Image 2) the largest valid size whose long
 * edge is at most 1024 (1K), 2048 (2K) or 4096 (4K) pixels, shrunk to the
 * edge and pixel limits (4K 16:9 is `3840x2160`, 4K 1:1 is `2880x2880`).
 * `None` for models sized by name (Gemini) and for models that make no images.
 *
 * @since 0.1.0
 * @example
 * import { Capabilities } from "@ballast/core"
 * import { Option } from "effect"
 *
 * const gpt = Option.getOrThrow(Capabilities.lookup("gpt-image-2"))
 * Capabilities.pixelSize(gpt, "4K", "16:9") // Option.some("3840x2160")
 */
export const pixelSize: {
  (resolution: Resolution, aspectRatio: AspectRatio): (caps: ModelCapabilities) => Option.Option<string>
  (caps: ModelCapabilities, resolution: Resolution, aspectRatio: AspectRatio): Option.Option<string>
} = dual(
  3,
  (caps: ModelCapabilities, resolution: Resolution, aspectRatio: AspectRatio): Option.Option<string> =>
    Option.flatMap(adapt(caps, { resolution, aspectRatio }), (shape) => {
      const sizing = caps.sizing
      switch (sizing.kind) {
        case "named":
          return Option.none()
        case "fixed":
          return Option.some(formatSize(fixedSize(sizing.sizes, shape)))
        case "flexible":
          return Option.map(Option.fromNullable(flexibleSize(sizing, shape)), formatSize)
      }
    })
)
