import { FaultServer, Simulation } from "@ballast/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { run } from "./capture.js"
import { gatewayFile, googleKey, gptImage, openaiKey, pro, withKeys } from "./gatewayFiles.js"
import { tempDir, write } from "./tempFiles.js"

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

  // Live: real provider clients against the fault server on 127.0.0.1.
  it.live("--config builds the gateway configuration's model and writes the fault server's PNG, falling back past an overloaded primary", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      yield* server.script(pro, ["overloaded"])
      const out = join(dir, "fallback.png")
      const result = yield* run([
        "generate",
        "a red fox in the snow",
        "--config",
        gatewayFile(dir, server),
        "--resolution",
        "1K",
        "--aspect-ratio",
        "1:1",
        "--out",
        out
      ]).pipe(withKeys())
      expect(result.err).not.toContain("ballast:")
      expect(result.code).toBe(0)
      expect([...readFileSync(out).subarray(0, 8)]).toEqual(pngSignature)
      expect(result.out).toContain(`wrote ${out}`)
      expect(result.out).toMatch(/route gpt-image · model gpt-image-2 \(\S+\) · resolution 1K · degraded \S+ · attempts 2 · /)
      // one progress line per provider call, from the pipeline's own attempt spans
      const lines = result.err.split("\n").filter((line) => line.startsWith("attempt "))
      expect(lines).toHaveLength(2)
      expect(lines[0]).toMatch(new RegExp(`^attempt 1: gemini-pro \\(${pro}\\) 1K — failed: \\S+ in \\d+\\.\\d s$`))
      expect(lines[1]).toMatch(new RegExp(`^attempt 2: gpt-image \\(${gptImage}\\) 1K — ok in \\d+\\.\\d s$`))
      // the provider calls were real HTTP requests, with the keys from the environment; no probes (health off for one request)
      const requests = yield* server.requests
      expect(requests.map((r) => `${r.method} ${r.model} ${r.fault}`)).toEqual([
        `POST ${pro} overloaded`,
        `POST ${gptImage} ok`
      ])
      expect(requests[0]!.headers["x-goog-api-key"]).toBe(googleKey)
      expect(requests[1]!.headers["authorization"]).toBe(`Bearer ${openaiKey}`)
      for (const key of [googleKey, openaiKey]) expect(`${result.out}\n${result.err}`).not.toContain(key)
    }).pipe(Effect.scoped), 30_000)

  it.live("--model takes an alias; a text model or an unknown name is a usage error naming the image models", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const path = gatewayFile(dir, server, { name: "three.json", extra: true })
      const viaAlias = yield* run(["generate", "a fox", "--config", path, "--model", "image", "--resolution", "1K"]).pipe(withKeys())
      expect(viaAlias.code).toBe(0)
      expect(viaAlias.out).toMatch(/route gemini-pro · model gemini-3-pro-image-preview/)

      const ambiguous = yield* run(["generate", "a fox", "--config", path]).pipe(withKeys())
      expect(ambiguous.code).toBe(2)
      expect(ambiguous.err).toContain(`several image models; pick one with --model: ${pro} (aliases image), gpt-image`)

      const text = yield* run(["generate", "a fox", "--config", path, "--model", "chat"]).pipe(withKeys())
      expect(text.code).toBe(2)
      expect(text.err).toContain(`"chat" is a text model`)
      expect(text.err).toContain("use a chat client")

      const unknown = yield* run(["generate", "a fox", "--config", path, "--model", "dall-e"]).pipe(withKeys())
      expect(unknown.code).toBe(2)
      expect(unknown.err).toContain(`no model "dall-e"`)
      expect(unknown.err).toContain("gpt-5.2 (aliases chat)")
      expect((yield* server.requests).filter((r) => r.method === "POST")).toHaveLength(1)
    }).pipe(Effect.scoped), 30_000)

  it.live("a provider key missing from the environment exits 1 naming its variable, before any call", () =>
    Effect.gen(function*() {
      const server = yield* FaultServer.make()
      const result = yield* run(["generate", "a fox", "--config", gatewayFile(dir, server, { name: "nokey.json" })]).pipe(
        withKeys({ TEST_GOOGLE_KEY: googleKey })
      )
      expect(result.code).toBe(1)
      expect(result.err).toContain("TEST_OPENAI_KEY")
      expect(result.err).toContain("is not set")
      expect(result.err).not.toContain(googleKey)
      expect(yield* server.requests).toEqual([])
    }).pipe(Effect.scoped))

  it.effect("a pipeline configuration without --demo exits 1: it names no providers", () =>
    Effect.gen(function*() {
      const path = write(dir, "pipeline.json", JSON.stringify(Simulation.referenceConfig))
      const result = yield* run(["generate", "a fox", "--config", path])
      expect(result.code).toBe(1)
      expect(result.err).toContain("is a pipeline configuration: it names no providers or keys")
    }))
})
