import { describe, expect, it } from "@effect/vitest"
import { FastCheck, Option, pipe, Schema } from "effect"
import * as Capabilities from "../src/Capabilities.js"
import { AspectRatio, aspectValue, Resolution } from "../src/Resolution.js"

const caps = (model: string) => Option.getOrThrow(Capabilities.lookup(model))

const dimensions = (size: string) => {
  const [width = 0, height = 0] = size.split("x").map(Number)
  return { width, height }
}

describe("Capabilities", () => {
  describe("known", () => {
    it("lists each model once", () => {
      const models = Capabilities.known.map((c) => c.model)
      expect(new Set(models).size).toBe(models.length)
    })

    it("has the Gemini image models with their resolutions and ratios", () => {
      const pro = caps("gemini-3-pro-image-preview")
      expect(pro.modalities).toEqual(["image", "text"])
      expect(pro.resolutions).toEqual(["1K", "2K", "4K"])
      expect(pro.aspectRatios).toHaveLength(10)
      expect(pro.sizing).toEqual({ kind: "named" })
      expect(caps("gemini-3-pro-image").aspectRatios).toEqual(pro.aspectRatios)
      expect(caps("gemini-3.1-flash-image-preview").aspectRatios).toEqual(
        expect.arrayContaining(["1:4", "4:1", "1:8", "8:1", "21:9"])
      )
      expect(caps("gemini-3.1-flash-image-preview").aspectRatios).toHaveLength(14)
      expect(caps("gemini-2.5-flash-image").resolutions).toEqual(["1K"])
    })

    it("treats gemini-2.5-flash-preview-04-17 as text only", () => {
      const preview = caps("gemini-2.5-flash-preview-04-17")
      expect(Capabilities.supports(preview, "image")).toBe(false)
      expect(Capabilities.supports(preview, "text")).toBe(true)
      expect(preview.resolutions).toEqual([])
      expect(preview.aspectRatios).toEqual([])
    })

    it("knows the text models of every provider", () => {
      for (const model of ["gpt-5.2", "gpt-4.1", "claude-sonnet-4-5", "llama-3.3-70b-versatile", "gemini-2.5-flash", "gemini-2.5-pro"]) {
        const text = caps(model)
        expect(text.modalities).toEqual(["text"])
        expect(Capabilities.adapt(text, { resolution: "1K", aspectRatio: "1:1" })).toEqual(Option.none())
      }
    })

    it("keeps retired models, marked with their replacement", () => {
      expect(Option.getOrThrow(Capabilities.retirementNotice(caps("dall-e-3")))).toBe(
        "retired on 2026-05-12, use gpt-image-2"
      )
      expect(Option.getOrThrow(Capabilities.retirementNotice(caps("dall-e-2")))).toContain("2026-05-12")
      expect(Option.getOrThrow(Capabilities.retirementNotice(caps("gpt-image-1")))).toBe(
        "retired on 2026-10-23, use gpt-image-2"
      )
      expect(Capabilities.retirementNotice(caps("gpt-image-2"))).toEqual(Option.none())
    })

    it("round-trips through its Schema", () => {
      const encode = Schema.encodeSync(Schema.Array(Capabilities.ModelCapabilities))
      const decode = Schema.decodeUnknownSync(Schema.Array(Capabilities.ModelCapabilities))
      expect(decode(encode(Capabilities.known))).toEqual(Capabilities.known)
    })
  })

  describe("lookup", () => {
    it("finds built-in models and misses unknown ones", () => {
      expect(Option.map(Capabilities.lookup("gpt-image-2-2026-04-21"), (c) => c.provider)).toEqual(Option.some("openai"))
      expect(Capabilities.lookup("flux-schnell").pipe(Option.isSome)).toBe(true)
      expect(Capabilities.lookup("black-forest-labs/FLUX-pro").pipe(Option.isSome)).toBe(true)
      expect(Capabilities.lookup("gemni-3-pro-image")).toEqual(Option.none())
    })

    it("lets extra entries win over the table", () => {
      const override = Capabilities.ModelCapabilities.make({
        model: "gemini-2.5-flash-image",
        provider: "google",
        modalities: ["image"],
        resolutions: ["1K", "2K"],
        aspectRatios: ["1:1"]
      })
      expect(caps("gemini-2.5-flash-image").resolutions).toEqual(["1K"])
      expect(Option.getOrThrow(Capabilities.lookup("gemini-2.5-flash-image", [override]))).toBe(override)
      expect(Option.getOrThrow(Capabilities.lookup("gpt-image-2", [override])).model).toBe("gpt-image-2")
    })
  })

  describe("ModelCapabilities", () => {
    it("refuses an image model without resolutions and a text model with some", () => {
      expect(() =>
        Capabilities.ModelCapabilities.make({ model: "m", provider: "p", modalities: ["image"], aspectRatios: ["1:1"] })
      ).toThrow(/at least one resolution/)
      expect(() =>
        Capabilities.ModelCapabilities.make({ model: "m", provider: "p", modalities: ["text"], resolutions: ["1K"] })
      ).toThrow(/text-only model has no resolutions/)
    })
  })

  describe("supports", () => {
    it("is data-first and data-last", () => {
      expect(Capabilities.supports(caps("gpt-image-2"), "image")).toBe(true)
      expect(pipe(caps("gpt-image-2"), Capabilities.supports("text"))).toBe(false)
      expect(pipe(caps("gemini-3-pro-image-preview"), Capabilities.supports("text"))).toBe(true)
    })
  })

  describe("adapt", () => {
    const cases: ReadonlyArray<
      readonly [model: string, wanted: Capabilities.Shape, expected: Capabilities.Shape]
    > = [
      ["gemini-3-pro-image-preview", { resolution: "4K", aspectRatio: "16:9" }, { resolution: "4K", aspectRatio: "16:9" }],
      ["gemini-3-pro-image-preview", { resolution: "2K", aspectRatio: "8:1" }, { resolution: "2K", aspectRatio: "21:9" }],
      ["gemini-3-pro-image-preview", { resolution: "1K", aspectRatio: "1:8" }, { resolution: "1K", aspectRatio: "9:16" }],
      ["gemini-3.1-flash-image-preview", { resolution: "4K", aspectRatio: "1:8" }, { resolution: "4K", aspectRatio: "1:8" }],
      ["gemini-2.5-flash-image", { resolution: "4K", aspectRatio: "16:9" }, { resolution: "1K", aspectRatio: "16:9" }],
      ["gemini-2.5-flash-image", { resolution: "2K", aspectRatio: "4:5" }, { resolution: "1K", aspectRatio: "4:5" }],
      ["gpt-image-1.5", { resolution: "1K", aspectRatio: "21:9" }, { resolution: "1K", aspectRatio: "3:2" }],
      ["gpt-image-1.5", { resolution: "4K", aspectRatio: "9:16" }, { resolution: "1K", aspectRatio: "2:3" }],
      ["gpt-image-1.5", { resolution: "2K", aspectRatio: "5:4" }, { resolution: "1K", aspectRatio: "3:2" }],
      ["gpt-image-2", { resolution: "4K", aspectRatio: "4:1" }, { resolution: "4K", aspectRatio: "21:9" }],
      ["gpt-image-2", { resolution: "2K", aspectRatio: "3:4" }, { resolution: "2K", aspectRatio: "3:4" }],
      ["flux-1.1-pro", { resolution: "4K", aspectRatio: "21:9" }, { resolution: "1K", aspectRatio: "16:9" }],
      ["stable-diffusion-xl", { resolution: "2K", aspectRatio: "4:5" }, { resolution: "1K", aspectRatio: "3:4" }]
    ]
    for (const [model, wanted, expected] of cases) {
      it(`${model}: ${wanted.resolution} ${wanted.aspectRatio} -> ${expected.resolution} ${expected.aspectRatio}`, () => {
        expect(Capabilities.adapt(caps(model), wanted)).toEqual(Option.some(expected))
      })
    }

    it("answers None for a model that makes no images", () => {
      expect(Capabilities.adapt(caps("claude-sonnet-4-5"), { resolution: "1K", aspectRatio: "1:1" })).toEqual(Option.none())
    })

    it("is pipeable", () => {
      expect(pipe(caps("gemini-2.5-flash-image"), Capabilities.adapt({ resolution: "4K", aspectRatio: "1:1" }))).toEqual(
        Option.some({ resolution: "1K", aspectRatio: "1:1" })
      )
    })

    it.prop("always answers a shape the model supports", [Resolution, AspectRatio], ([resolution, aspectRatio]) => {
      for (const model of Capabilities.known.filter(Capabilities.supports("image"))) {
        const shape = Option.getOrThrow(Capabilities.adapt(model, { resolution, aspectRatio }))
        expect(model.resolutions).toContain(shape.resolution)
        expect(model.aspectRatios).toContain(shape.aspectRatio)
      }
    })
  })

  describe("pixelSize", () => {
    const gptImage2 = caps("gpt-image-2")

    it("sizes GPT Image 2 by the long edge of each resolution", () => {
      expect(Capabilities.pixelSize(gptImage2, "4K", "16:9")).toEqual(Option.some("3840x2160"))
      expect(Capabilities.pixelSize(gptImage2, "4K", "9:16")).toEqual(Option.some("2160x3840"))
      expect(Capabilities.pixelSize(gptImage2, "4K", "1:1")).toEqual(Option.some("2880x2880"))
      expect(Capabilities.pixelSize(gptImage2, "2K", "16:9")).toEqual(Option.some("2048x1152"))
      expect(Capabilities.pixelSize(gptImage2, "1K", "1:1")).toEqual(Option.some("1024x1024"))
      expect(Capabilities.pixelSize(gptImage2, "1K", "3:2")).toEqual(Option.some("1024x688"))
      expect(pipe(gptImage2, Capabilities.pixelSize("4K", "21:9"))).toEqual(Option.some("3840x1648"))
    })

    it.prop("every GPT Image 2 size obeys the API's rules", [Resolution, AspectRatio], ([resolution, aspectRatio]) => {
      const { height, width } = dimensions(Option.getOrThrow(Capabilities.pixelSize(gptImage2, resolution, aspectRatio)))
      expect(width % 16).toBe(0)
      expect(height % 16).toBe(0)
      expect(Math.max(width, height) / Math.min(width, height)).toBeLessThanOrEqual(3)
      expect(width * height).toBeLessThanOrEqual(3840 * 2160)
      expect(Math.max(width, height)).toBeLessThanOrEqual(3840)
    })

    it.prop(
      "every flexible size obeys its rules and the resolution's long edge",
      [
        Resolution,
        AspectRatio,
        FastCheck.constantFrom(8, 16, 32, 64),
        FastCheck.double({ min: 1, max: 4, noNaN: true }),
        FastCheck.integer({ min: 64, max: 8192 }),
        FastCheck.integer({ min: 64 * 64, max: 40_000_000 })
      ],
      ([resolution, aspectRatio, multipleOf, maxAspect, maxEdge, maxPixels]) => {
        const model = Capabilities.ModelCapabilities.make({
          model: "flexible",
          provider: "test",
          modalities: ["image"],
          resolutions: ["1K", "2K", "4K"],
          aspectRatios: AspectRatio.literals,
          sizing: { kind: "flexible", multipleOf, maxAspect, maxEdge, maxPixels }
        })
        const { height, width } = dimensions(Option.getOrThrow(Capabilities.pixelSize(model, resolution, aspectRatio)))
        expect(width % multipleOf).toBe(0)
        expect(height % multipleOf).toBe(0)
        expect(Math.max(width, height) / Math.min(width, height)).toBeLessThanOrEqual(maxAspect)
        expect(width * height).toBeLessThanOrEqual(maxPixels)
        expect(Math.max(width, height)).toBeLessThanOrEqual(Math.min(maxEdge, Capabilities.nominalLongEdge[resolution]))
        // Landscape ratios stay landscape, portrait ones portrait.
        if (width !== height) expect(width > height).toBe(aspectValue(aspectRatio) > 1)
      }
    )

    it("picks the listed size closest in aspect ratio for fixed-size models", () => {
      const gptImage15 = caps("gpt-image-1.5")
      expect(Capabilities.pixelSize(gptImage15, "1K", "1:1")).toEqual(Option.some("1024x1024"))
      expect(Capabilities.pixelSize(gptImage15, "4K", "21:9")).toEqual(Option.some("1536x1024"))
      expect(Capabilities.pixelSize(gptImage15, "1K", "9:16")).toEqual(Option.some("1024x1536"))
      expect(Capabilities.pixelSize(caps("flux-schnell"), "1K", "16:9")).toEqual(Option.some("1344x768"))
      expect(Capabilities.pixelSize(caps("stable-diffusion-xl"), "2K", "3:4")).toEqual(Option.some("896x1152"))
      expect(Capabilities.pixelSize(caps("dall-e-2"), "1K", "1:1")).toEqual(Option.some("1024x1024"))
    })

    it("answers None for models sized by name and for text models", () => {
      expect(Capabilities.pixelSize(caps("gemini-3-pro-image-preview"), "4K", "16:9")).toEqual(Option.none())
      expect(Capabilities.pixelSize(caps("gpt-4.1"), "1K", "1:1")).toEqual(Option.none())
    })
  })
})
