import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { run } from "./capture.js"
import { tempDir } from "./tempFiles.js"

const dir = tempDir()
const pngSignature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]

describe("ballast generate", () => {
  // Live clock: the demo's simulated providers answer in 1–3 s (the field's latencies, 20 times faster).
  it.live("--demo writes a PNG to --out and names the route, model and attempts", () =>
    Effect.gen(function*() {
      const out = join(dir, "fox.png")
      const result = yield* run(["generate", "a red fox in the snow", "--demo", "--resolution", "2K", "--out", out])
      expect(result.code).toBe(0)
      expect([...readFileSync(out).subarray(0, 8)]).toEqual(pngSignature)
      expect(result.out).toContain(`wrote ${out}`)
      expect(result.out).toMatch(
        /route (gemini-pro|gemini-flash|openai|flux) · model \S+ \(\S+\) · resolution .* · attempts \d+ · latency \d+\.\d s/
      )
      // one progress line per provider call, on stderr
      const attempts = Number(/attempts (\d+)/.exec(result.out)![1])
      expect(result.err.split("\n").filter((line) => /^attempt \d+: \S+ \(\S+\) \S+ — /.test(line))).toHaveLength(attempts)
    }), 30_000)

  it.effect("rejects a bad resolution with exit code 2, listing the valid ones", () =>
    Effect.gen(function*() {
      const { code, err } = yield* run(["generate", "a fox", "--demo", "--resolution", "8K"])
      expect(code).toBe(2)
      expect(err).toContain("--resolution must be one of: 1K, 2K, 4K")
    }))

  it.effect("needs --demo or --config (exit code 2) and a prompt", () =>
    Effect.gen(function*() {
      const bare = yield* run(["generate", "a fox"])
      expect(bare.code).toBe(2)
      expect(bare.err).toContain("--demo")
      const noPrompt = yield* run(["generate", "--demo"])
      expect(noPrompt.code).toBe(2)
      expect(noPrompt.err).toContain("<prompt>")
    }))
})
