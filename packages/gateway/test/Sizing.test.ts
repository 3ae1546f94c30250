import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { Sizing } from "../src/index.js"

const shape = (params: { size?: string; quality?: string }) => Either.getOrThrow(Sizing.fromOpenAI(params))

describe("Sizing", () => {
  it("maps OpenAI sizes to the nearest aspect ratio and the long edge's class", () => {
    expect(shape({ size: "1024x1024" })).toStrictEqual({ resolution: "1K", aspectRatio: "1:1" })
    expect(shape({ size: "1536x1024" })).toStrictEqual({ resolution: "1K", aspectRatio: "3:2" })
    expect(shape({ size: "1024x1536" })).toStrictEqual({ resolution: "1K", aspectRatio: "2:3" })
    expect(shape({ size: "1792x1024" })).toStrictEqual({ resolution: "2K", aspectRatio: "16:9" })
    expect(shape({ size: "2048x2048" })).toStrictEqual({ resolution: "2K", aspectRatio: "1:1" })
    expect(shape({ size: "2560x1440" })).toStrictEqual({ resolution: "2K", aspectRatio: "16:9" })
    expect(shape({ size: "3840x2160" })).toStrictEqual({ resolution: "4K", aspectRatio: "16:9" })
    expect(shape({ size: "1000x3000" })).toStrictEqual({ resolution: "4K", aspectRatio: "1:4" })
  })

  it("uses quality only when size is auto or absent", () => {
    expect(shape({})).toStrictEqual({ resolution: "1K", aspectRatio: "1:1" })
    expect(shape({ size: "auto", quality: "high" })).toStrictEqual({ resolution: "2K", aspectRatio: "1:1" })
    expect(shape({ quality: "hd" })).toStrictEqual({ resolution: "2K", aspectRatio: "1:1" })
    expect(shape({ quality: "max" })).toStrictEqual({ resolution: "4K", aspectRatio: "1:1" })
    expect(shape({ quality: "low" })).toStrictEqual({ resolution: "1K", aspectRatio: "1:1" })
    expect(shape({ size: "1024x1024", quality: "high" })).toStrictEqual({ resolution: "1K", aspectRatio: "1:1" })
  })

  it("names the parameter it does not understand", () => {
    expect(Either.getLeft(Sizing.fromOpenAI({ size: "1024×1024" })).pipe((o) => o._tag === "Some" && o.value.param)).toBe("size")
    expect(Either.getLeft(Sizing.fromOpenAI({ size: "0x10" })).pipe((o) => o._tag === "Some" && o.value.param)).toBe("size")
    expect(Either.getLeft(Sizing.fromOpenAI({ quality: "ultra" })).pipe((o) => o._tag === "Some" && o.value.param)).toBe("quality")
  })

  it("maps Gemini imageConfig, with Gemini's defaults", () => {
    expect(Sizing.fromGemini(undefined)).toStrictEqual(Either.right({ resolution: "1K", aspectRatio: "1:1" }))
    expect(Sizing.fromGemini({ aspectRatio: "21:9", imageSize: "4K" })).toStrictEqual(
      Either.right({ resolution: "4K", aspectRatio: "21:9" })
    )
    expect(Sizing.fromGemini({ imageSize: "512" })).toStrictEqual(Either.right({ resolution: "1K", aspectRatio: "1:1" }))
    expect(Either.isLeft(Sizing.fromGemini({ aspectRatio: "7:3" }))).toBe(true)
    expect(Either.isLeft(Sizing.fromGemini({ imageSize: "8K" }))).toBe(true)
  })
})
