import { describe, expect, it } from "@effect/vitest"
import { Array as Arr, FastCheck } from "effect"
import {
  AspectRatio,
  aspectValue,
  descending,
  isBelow,
  nearest,
  nearestAspectRatio,
  Resolution,
  ResolutionOrder
} from "../src/Resolution.js"

const resolutions = Resolution.literals
const ratios = AspectRatio.literals

const resolutionArbitrary = FastCheck.constantFrom(...resolutions)
const supportedResolutions = FastCheck.uniqueArray(resolutionArbitrary, { minLength: 1, maxLength: 3 })
const ratioArbitrary = FastCheck.constantFrom(...ratios)
const supportedRatios = FastCheck.uniqueArray(ratioArbitrary, { minLength: 1, maxLength: ratios.length })
const distance = (a: AspectRatio, b: AspectRatio) => Math.abs(Math.log(aspectValue(a)) - Math.log(aspectValue(b)))

describe("Resolution", () => {
  it("orders 1K < 2K < 4K; descending is the ladder", () => {
    expect(Arr.sort(["4K", "1K", "2K"] as const, ResolutionOrder)).toStrictEqual(["1K", "2K", "4K"])
    expect(descending).toStrictEqual(["4K", "2K", "1K"])
    expect(isBelow("1K", "2K")).toBe(true)
    expect(isBelow("2K", "4K")).toBe(true)
    expect(isBelow("1K", "4K")).toBe(true)
    expect(isBelow("4K", "2K")).toBe(false)
    for (const r of resolutions) expect(isBelow(r, r)).toBe(false)
  })

  it("nearest: the largest supported not above the request, else the smallest supported", () => {
    expect(nearest("4K", ["1K", "2K", "4K"])).toBe("4K")
    expect(nearest("4K", ["1K", "2K"])).toBe("2K")
    expect(nearest("4K", ["2K", "1K"])).toBe("2K")
    expect(nearest("2K", ["1K", "4K"])).toBe("1K")
    expect(nearest("1K", ["2K", "4K"])).toBe("2K")
    expect(nearest("1K", ["4K"])).toBe("4K")
    expect(nearest("2K", ["1K"])).toBe("1K")
    expect(nearest("2K", [])).toBeUndefined()
  })

  it.prop(
    "nearest: property — one of the supported, itself when supported, never above unless nothing is below",
    { requested: resolutionArbitrary, supported: supportedResolutions },
    ({ requested, supported }) => {
      const answer = nearest(requested, supported)!
      expect(supported).toContain(answer)
      if (supported.includes(requested)) expect(answer).toBe(requested)
      const notAbove = supported.filter((r) => !isBelow(requested, r))
      if (notAbove.length > 0) {
        expect(isBelow(requested, answer)).toBe(false)
        for (const r of notAbove) expect(isBelow(answer, r)).toBe(false)
      } else {
        for (const r of supported) expect(isBelow(r, answer)).toBe(false)
      }
    },
    { fastCheck: { numRuns: 200 } }
  )

  it("nearest does not reorder the caller's array", () => {
    const supported: Array<Resolution> = ["4K", "1K", "2K"]
    nearest("2K", supported)
    expect(supported).toStrictEqual(["4K", "1K", "2K"])
  })
})

describe("AspectRatio", () => {
  it("aspectValue is width over height", () => {
    expect(aspectValue("1:1")).toBe(1)
    expect(aspectValue("16:9")).toBeCloseTo(16 / 9)
    expect(aspectValue("1:8")).toBe(0.125)
  })

  it("nearestAspectRatio picks the closest by log ratio", () => {
    expect(nearestAspectRatio("21:9", ["1:1", "16:9", "9:16"])).toBe("16:9")
    expect(nearestAspectRatio("9:16", ["1:1", "16:9", "2:3"])).toBe("2:3")
    // |ln(0.8 / 0.75)| ≈ 0.065 < |ln 0.8| ≈ 0.223
    expect(nearestAspectRatio("4:5", ["1:1", "3:4"])).toBe("3:4")
    expect(nearestAspectRatio("1:8", ["1:1", "1:4", "9:16"])).toBe("1:4")
  })

  it("nearestAspectRatio on a log scale: 1:4 and 4:1 are equally far from 1:1, so the first listed wins", () => {
    expect(nearestAspectRatio("1:1", ["4:1", "1:4"])).toBe("4:1")
    expect(nearestAspectRatio("1:1", ["1:4", "4:1"])).toBe("1:4")
    // 2:3 is 1.5× narrower than 1:1, 16:9 is 1.78× wider
    expect(nearestAspectRatio("1:1", ["16:9", "2:3"])).toBe("2:3")
    expect(nearestAspectRatio("8:1", [])).toBeUndefined()
  })

  it.prop(
    "nearestAspectRatio: property — one of the supported, itself when supported, no supported one closer",
    { requested: ratioArbitrary, supported: supportedRatios },
    ({ requested, supported }) => {
      const answer = nearestAspectRatio(requested, supported)!
      expect(supported).toContain(answer)
      if (supported.includes(requested)) expect(answer).toBe(requested)
      for (const other of supported) expect(distance(requested, answer)).toBeLessThanOrEqual(distance(requested, other))
    },
    { fastCheck: { numRuns: 300 } }
  )
})
