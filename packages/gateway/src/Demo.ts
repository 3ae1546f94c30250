/**
 * The demo gateway: a `FaultServer` playing a named outage scenario stands in
 * for Gemini, OpenAI, an OpenAI-compatible Flux server, Anthropic's
 * OpenAI-compatible endpoint and Groq, and a gateway serves the two reference
 * chains: image model `gemini-3-pro-image-preview` — Gemini 3 Pro at 4K then
 * 2K → Gemini 3.1 Flash Image → OpenAI gpt-image-2 → Flux (`flux-1.1-pro`,
 * OpenAI-compatible) → a text description by gpt-5.2 — and text model
 * `gpt-5.2` — OpenAI gpt-5.2 → Claude Sonnet 4.5 (Anthropic, OpenAI-compatible)
 * → Llama 3.3 70B (Groq, OpenAI-compatible). No provider keys are needed;
 * callers use the virtual key `ballast-demo`.
 *
 * @since 0.1.0
 */
import { FaultServer, Scenario } from "@ballast/testing"
import { ConfigProvider, Context, Effect, Either, Layer, type Scope } from "effect"
import * as Gateway from "./Gateway.js"
import * as GatewayConfig from "./GatewayConfig.js"
import * as VirtualKeys from "./VirtualKeys.js"

/**
 * The virtual key the demo accepts.
 *
 * @since 0.1.0
 */
export const key = "ballast-demo"

/**
 * The public image model the demo serves.
 *
 * @since 0.1.0
 */
export const model = "gemini-3-pro-image-preview"

/**
 * The public text model the demo serves (`/v1/chat/completions`, Gemini `generateContent`).
 *
 * @since 0.1.0
 */
export const textModel = "gpt-5.2"

// Fake provider keys, given to the provider clients through a ConfigProvider (the fault server ignores them).
const fakeKeys = new Map<string, string>([
  ["BALLAST_DEMO_GOOGLE_API_KEY", "demo-google-key"],
  ["BALLAST_DEMO_OPENAI_API_KEY", "sk-demo-openai-key"],
  ["BALLAST_DEMO_FLUX_API_KEY", "demo-flux-key"],
  ["BALLAST_DEMO_ANTHROPIC_API_KEY", "demo-anthropic-key"],
  ["BALLAST_DEMO_GROQ_API_KEY", "demo-groq-key"]
])

/**
 * Options of the demo.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The scenario the simulated providers play (default `"outage-2h"`). */
  readonly scenario?: Scenario.ScenarioName | undefined
  /** Multiplies the scenario's latencies (default 0.01, so a 30 s Gemini call takes 0.3 s). */
  readonly latencyScale?: number | undefined
  /** The gateway's host and port (default 127.0.0.1:8080; 0 picks a free port). */
  readonly host?: string | undefined
  readonly port?: number | undefined
}

/**
 * The demo's gateway configuration document for providers at `faultServerUrl`
 * (plain data, as a configuration file would hold it).
 *
 * @since 0.1.0
 */
export const document = (faultServerUrl: string, options: Pick<Options, "host" | "port"> = {}) => ({
  server: { host: options.host ?? "127.0.0.1", port: options.port ?? 8080, shutdownTimeout: "5 seconds" },
  keys: [{ name: "demo", sha256: VirtualKeys.hash(key) }],
  providers: {
    google: { kind: "google", baseUrl: faultServerUrl, apiKeyEnv: "BALLAST_DEMO_GOOGLE_API_KEY", timeout: "60 seconds" },
    openai: { kind: "openai", baseUrl: `${faultServerUrl}/v1`, apiKeyEnv: "BALLAST_DEMO_OPENAI_API_KEY", timeout: "60 seconds" },
    flux: {
      kind: "openai-compatible",
      baseUrl: `${faultServerUrl}/v1`,
      apiKeyEnv: "BALLAST_DEMO_FLUX_API_KEY",
      timeout: "60 seconds"
    },
    // Anthropic's OpenAI-compatible endpoint (https://api.anthropic.com/v1/) and Groq's
    // (https://api.groq.com/openai/v1), both played by the fault server.
    anthropic: {
      kind: "openai-compatible",
      baseUrl: `${faultServerUrl}/v1`,
      apiKeyEnv: "BALLAST_DEMO_ANTHROPIC_API_KEY",
      timeout: "30 seconds"
    },
    groq: { kind: "openai-compatible", baseUrl: `${faultServerUrl}/v1`, apiKeyEnv: "BALLAST_DEMO_GROQ_API_KEY", timeout: "30 seconds" }
  },
  models: {
    [model]: {
      aliases: ["ballast-image"],
      pipeline: {
        routes: {
          "gemini-pro": { provider: "google", model: "gemini-3-pro-image-preview" },
          "gemini-flash": { provider: "google", model: "gemini-3.1-flash-image-preview" },
          "gpt-image": { provider: "openai", model: "gpt-image-2" },
          flux: { provider: "flux", model: "flux-1.1-pro" },
          describe: { provider: "openai", model: "gpt-5.2" }
        },
        plan: [
          { route: "gemini-pro", resolutions: ["4K", "2K"] },
          { route: "gemini-flash" },
          { route: "gpt-image" },
          { route: "flux" },
          { describe: "describe" }
        ],
        // Short, so that a demo outage shows failover in seconds rather than minutes.
        retry: { attempts: 2, initialDelay: "100 millis", maxDelay: "1 second" },
        deadline: "60 seconds"
      }
    },
    [textModel]: {
      aliases: ["ballast-text"],
      pipeline: {
        kind: "text",
        routes: {
          gpt: { provider: "openai", model: "gpt-5.2" },
          claude: { provider: "anthropic", model: "claude-sonnet-4-5" },
          llama: { provider: "groq", model: "llama-3.3-70b-versatile" }
        },
        plan: [{ route: "gpt" }, { route: "claude" }, { route: "llama" }],
        retry: { attempts: 2, initialDelay: "100 millis", maxDelay: "1 second" },
        deadline: "30 seconds"
      }
    }
  }
})

/**
 * The demo's validated gateway configuration for providers at `faultServerUrl`.
 *
 * @since 0.1.0
 */
export const config = (
  faultServerUrl: string,
  options: Pick<Options, "host" | "port"> = {}
): Effect.Effect<GatewayConfig.GatewayConfig, GatewayConfig.GatewayConfigError> =>
  GatewayConfig.decode(document(faultServerUrl, options))

/**
 * Starts the fault server playing the scenario and a gateway in front of it,
 * both living in the scope. The fault server is returned too, so a test can
 * script it on top of the scenario (`server.script(model, [...])`).
 *
 * @since 0.1.0
 */
export const make = (
  options: Options = {}
): Effect.Effect<
  { readonly gateway: Gateway.Gateway.Service; readonly faultServer: FaultServer.FaultServer },
  Gateway.GatewayError | GatewayConfig.GatewayConfigError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const scenario = Either.getOrThrow(Scenario.get(options.scenario ?? "outage-2h"))
    const faultServer = yield* FaultServer.make({
      fallback: FaultServer.fromScenario(scenario, { latencyScale: options.latencyScale ?? 0.01 })
    })
    const gatewayConfig = yield* config(faultServer.url, options)
    const gateway = yield* Gateway.make(gatewayConfig).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(fakeKeys))
    )
    return { gateway, faultServer }
  })

/**
 * The demo as a Layer: the running `Gateway` and the `FaultServer` behind it.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { Demo, Gateway } from "@ballast/gateway"
 *
 * const program = Effect.gen(function*() {
 *   const gateway = yield* Gateway.Gateway
 *   console.log(`curl ${gateway.url}/v1/images/generations -H "Authorization: Bearer ballast-demo" ...`)
 * }).pipe(Effect.provide(Demo.layer({ port: 0 })))
 */
export const layer = (
  options: Options = {}
): Layer.Layer<Gateway.Gateway | FaultServer.FaultServerTag, Gateway.GatewayError | GatewayConfig.GatewayConfigError> =>
  Layer.scopedContext(
    Effect.map(make(options), ({ faultServer, gateway }) =>
      Context.make(Gateway.Gateway, gateway).pipe(Context.add(FaultServer.FaultServerTag, faultServer)))
  )
