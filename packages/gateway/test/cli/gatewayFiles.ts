import type { FaultServer } from "@ballast/testing"
import { ConfigProvider, Effect } from "effect"
import { VirtualKeys } from "../../src/index.js"
import { write } from "./tempFiles.js"

export const pro = "gemini-3-pro-image-preview"
export const gptImage = "gpt-image-2"
export const googleKey = "g-secret-key-123"
export const openaiKey = "sk-secret-456"

/** The provider keys the test configurations name, as the environment would hold them. */
export const withKeys = (keys: Readonly<Record<string, string>> = { TEST_GOOGLE_KEY: googleKey, TEST_OPENAI_KEY: openaiKey }) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.withConfigProvider(effect, ConfigProvider.fromMap(new Map(Object.entries(keys))))

const imagePipeline = (health: boolean) => ({
  routes: {
    "gemini-pro": { provider: "google", model: pro },
    "gpt-image": { provider: "openai", model: gptImage }
  },
  plan: [{ route: "gemini-pro" }, { route: "gpt-image" }],
  retry: { attempts: 1 },
  health: { enabled: health },
  routing: { canary: 0 }
})

/**
 * Writes a gateway configuration whose providers are the fault server: an image
 * model (alias "image"), and, with `extra`, a second image model and a text model.
 */
export const gatewayFile = (
  dir: string,
  server: FaultServer.FaultServer,
  options: { readonly name?: string; readonly extra?: boolean; readonly health?: boolean } = {}
): string =>
  write(
    dir,
    options.name ?? "gateway.json",
    JSON.stringify({
      keys: [{ name: "test", sha256: VirtualKeys.hash("sk-ballast-test-key") }],
      providers: {
        google: { kind: "google", baseUrl: server.url, apiKeyEnv: "TEST_GOOGLE_KEY", timeout: "5 seconds" },
        openai: { kind: "openai", baseUrl: `${server.url}/v1`, apiKeyEnv: "TEST_OPENAI_KEY", timeout: "5 seconds" }
      },
      models: {
        [pro]: { aliases: ["image"], pipeline: imagePipeline(options.health ?? false) },
        ...(options.extra === true
          ? {
            "gpt-image": {
              pipeline: {
                routes: { "gpt-image": { provider: "openai", model: gptImage } },
                plan: [{ route: "gpt-image" }],
                retry: { attempts: 1 },
                routing: { canary: 0 }
              }
            },
            "gpt-5.2": {
              aliases: ["chat"],
              pipeline: {
                kind: "text",
                routes: { gpt: { provider: "openai", model: "gpt-5.2" } },
                plan: [{ route: "gpt" }],
                retry: { attempts: 1 },
                health: { enabled: false },
                routing: { canary: 0 }
              }
            }
          }
          : {})
      }
    })
  )
