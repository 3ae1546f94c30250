import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, TestClock } from "effect"
import { VirtualKeys } from "../src/index.js"

describe("VirtualKeys", () => {
  it("hashes keys to lowercase hex SHA-256", () => {
    expect(VirtualKeys.hash("ballast-demo")).toMatch(/^[0-9a-f]{64}$/)
    // sha256("abc"), the FIPS 180-2 test vector
    expect(VirtualKeys.hash("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  })

  it("compares digests in constant time, refusing different lengths", () => {
    const a = VirtualKeys.hash("a")
    expect(VirtualKeys.digestsEqual(a, a.toUpperCase())).toBe(true)
    expect(VirtualKeys.digestsEqual(a, VirtualKeys.hash("b"))).toBe(false)
    expect(VirtualKeys.digestsEqual(a, a.slice(0, 10))).toBe(false)
    expect(VirtualKeys.digestsEqual("", "")).toBe(false)
  })

  it.effect("tells a missing, a wrong and a known key apart", () =>
    Effect.gen(function*() {
      const keys = VirtualKeys.make([{ name: "app", sha256: VirtualKeys.hash("secret") }, { name: "b", sha256: VirtualKeys.hash("other") }])
      expect(yield* keys.check(Option.none())).toStrictEqual({ _tag: "Missing" })
      expect(yield* keys.check(Option.some(""))).toStrictEqual({ _tag: "Missing" })
      expect(yield* keys.check(Option.some("guess"))).toStrictEqual({ _tag: "Invalid" })
      expect(yield* keys.check(Option.some("secret"))).toStrictEqual({ _tag: "Allowed", key: "app" })
      expect(yield* keys.check(Option.some("other"))).toStrictEqual({ _tag: "Allowed", key: "b" })
    }))

  it.effect("limits a key with a token bucket and says how long to wait", () =>
    Effect.gen(function*() {
      const keys = VirtualKeys.make([{ name: "app", sha256: VirtualKeys.hash("secret"), requestsPerMinute: 2 }])
      const check = keys.check(Option.some("secret"))
      expect((yield* check)._tag).toBe("Allowed")
      expect((yield* check)._tag).toBe("Allowed")
      expect(yield* check).toStrictEqual({ _tag: "Limited", key: "app", retryAfterMs: 30_000 })
      yield* TestClock.adjust("10 seconds")
      expect(yield* check).toStrictEqual({ _tag: "Limited", key: "app", retryAfterMs: 20_000 })
      yield* TestClock.adjust("20 seconds")
      expect((yield* check)._tag).toBe("Allowed")
      expect((yield* check)._tag).toBe("Limited")
    }))
})
