/**
 * Image resolutions and aspect ratios, and how to compare them.
 *
 * @since 0.1.0
 */
import { Array as Arr, Order, Schema } from "effect"

/**
 * The size class of an image: about 1, 4 or 16 megapixels.
 *
 * @since 0.1.0
 */
export const Resolution = Schema.Literal("1K", "2K", "4K")

/**
 * @since 0.1.0
 */
export type Resolution = typeof Resolution.Type

/**
 * Every resolution, largest first: the order of the resolution ladder.
 *
 * @since 0.1.0
 */
export const descending: ReadonlyArray<Resolution> = ["4K", "2K", "1K"]

const rank: Record<Resolution, number> = { "1K": 1, "2K": 2, "4K": 3 }

/**
 * Orders resolutions from smallest to largest.
 *
 * @since 0.1.0
 */
export const ResolutionOrder: Order.Order<Resolution> = Order.mapInput(Order.number, (r: Resolution) => rank[r])

/**
 * The resolution a model can deliver for a requested one: the largest supported
 * resolution not above the request, or, when the model only makes larger images,
 * the smallest it supports. `undefined` when the model supports none.
 *
 * @since 0.1.0
 */
export const nearest = (
  requested: Resolution,
  supported: ReadonlyArray<Resolution>
): Resolution | undefined => {
  const sorted = Arr.sort(supported, ResolutionOrder)
  const notAbove = sorted.filter((r) => rank[r] <= rank[requested])
  return notAbove.length > 0 ? notAbove[notAbove.length - 1] : sorted[0]
}

/**
 * Whether `a` is smaller than `b`.
 *
 * @since 0.1.0
 */
export const isBelow = (a: Resolution, b: Resolution): boolean => rank[a] < rank[b]

/**
 * The aspect ratios any known model accepts, as `width:height`.
 *
 * @since 0.1.0
 */
export const AspectRatio = Schema.Literal(
  "1:1",
  "2:3",
  "3:2",
  "3:4",
  "4:3",
  "4:5",
  "5:4",
  "9:16",
  "16:9",
  "21:9",
  "1:4",
  "4:1",
  "1:8",
  "8:1"
)

/**
 * @since 0.1.0
 */
export type AspectRatio = typeof AspectRatio.Type

/**
 * The width divided by the height of an aspect ratio.
 *
 * @since 0.1.0
 */
export const aspectValue = (ratio: AspectRatio): number => {
  const [w, h] = ratio.split(":")
  return Number(w) / Number(h)
}

/**
 * The supported aspect ratio closest to the requested one (by the logarithm of
 * their ratio, so 2:1 and 1:2 are equally far from 1:1). `undefined` when the
 * model supports none.
 *
 * @since 0.1.0
 */
export const nearestAspectRatio = (
  requested: AspectRatio,
  supported: ReadonlyArray<AspectRatio>
): AspectRatio | undefined => {
  const target = Math.log(aspectValue(requested))
  let best: AspectRatio | undefined
  let bestDistance = Infinity
  for (const candidate of supported) {
    const distance = Math.abs(Math.log(aspectValue(candidate)) - target)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}
