/**
 * The `openai` SDK client as a service: one API key, one base URL, one timeout,
 * shared by every model adapter of that endpoint (OpenAI itself or any
 * OpenAI-compatible server: Flux / Stable Diffusion servers, Groq, Anthropic's
 * compatibility endpoint) or one Azure OpenAI resource (option `azure`).
 *
 * @since 0.1.0
 */
import { Config, type ConfigError, Context, Duration, Effect, Layer, Option, Redacted } from "effect"
import OpenAI, { AzureOpenAI } from "openai"

/**
 * The configured `openai` SDK client. The SDK's own retries are off
 * (`maxRetries: 0`): Ballast owns every retry.
 *
 * @since 0.1.0
 * @example
 * import { Layer, Redacted } from "effect"
 * import { OpenAIClient, OpenAIImageGenerator } from "@ballast/openai"
 *
 * const ImagesLive = OpenAIImageGenerator.layer({ model: "gpt-image-2" }).pipe(
 *   Layer.provide(OpenAIClient.layer({ apiKey: Redacted.make("sk-...") }))
 * )
 *
 * @example
 * // Azure OpenAI: one client per region (each its own route). The model is
 * // the deployment name: requests go to
 * // `{endpoint}/openai/deployments/{model}/images/generations?api-version=…`
 * // with the key in the `api-key` header.
 * import { Layer, Redacted } from "effect"
 * import { OpenAIClient, OpenAIImageGenerator } from "@ballast/openai"
 *
 * const apiKey = Redacted.make("<azure key>")
 * const apiVersion = "2025-04-01-preview"
 * const EastUs = OpenAIClient.layer({ apiKey, azure: { endpoint: "https://ballast-eastus.openai.azure.com", apiVersion } })
 * const SwedenCentral = OpenAIClient.layer({
 *   apiKey,
 *   azure: { endpoint: "https://ballast-swedencentral.openai.azure.com", apiVersion },
 *   provider: "azure-openai-swedencentral"
 * })
 * // a deployment named after its model; otherwise pass `capabilities`
 * const ImagesEastUs = OpenAIImageGenerator.layer({ model: "gpt-image-2", route: "azure-eastus" }).pipe(Layer.provide(EastUs))
 * const ImagesSweden = OpenAIImageGenerator.layer({ model: "gpt-image-2", route: "azure-swedencentral" }).pipe(
 *   Layer.provide(SwedenCentral)
 * )
 */
export class OpenAIClient extends Context.Tag("@ballast/openai/OpenAIClient")<OpenAIClient, OpenAIClient.Service>() {
  /**
   * Builds the client (see the module's `make`).
   *
   * @since 0.1.0
   */
  static readonly make = (options: OpenAIClient.Options) => make(options)
  /**
   * A Layer providing the client (see the module's `layer`).
   *
   * @since 0.1.0
   */
  static readonly layer = (options: OpenAIClient.Options) => layer(options)
  /**
   * A Layer providing the client from configuration (see the module's `layerConfig`).
   *
   * @since 0.1.0
   */
  static readonly layerConfig = (options?: Config.Config<OpenAIClient.Options>) => layerConfig(options)
}

/**
 * @since 0.1.0
 */
export declare namespace OpenAIClient {
  /**
   * @since 0.1.0
   */
  export interface Service {
    /** The SDK client (an `AzureOpenAI` with the `azure` option), constructed with `maxRetries: 0`. */
    readonly client: OpenAI
    /** The label errors carry, e.g. `"openai"`, `"azure-openai"`, `"groq"`, `"flux-local"`. */
    readonly provider: string
    /** The key, kept so error messages can be scrubbed of it. */
    readonly apiKey: Redacted.Redacted<string>
    /** The values of `headers`, kept (redacted) so error messages can be scrubbed of them too. */
    readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
  }

  /**
   * @since 0.1.0
   */
  export interface Options {
    readonly apiKey: Redacted.Redacted<string>
    /**
     * Any OpenAI-compatible endpoint, e.g. `"http://127.0.0.1:8788/v1"`. Defaults to OpenAI's.
     * Not used with `azure` (whose `endpoint` gives the base URL).
     */
    readonly baseUrl?: string | undefined
    /** Per request; defaults to 120 seconds. */
    readonly timeout?: Duration.DurationInput | undefined
    /** Sent with every request (e.g. `OpenAI-Project`). */
    readonly headers?: Readonly<Record<string, string>> | undefined
    /** The label errors carry; defaults to `"openai"`, or `"azure-openai"` with `azure`. */
    readonly provider?: string | undefined
    /**
     * An Azure OpenAI resource (one region): the SDK's `AzureOpenAI` is built
     * instead of `OpenAI`. It sends the key in the `api-key` header and
     * `?api-version=…` with every request, and addresses
     * `{endpoint}/openai/deployments/{deployment}/…`, where the deployment is
     * `deployment` when given, else the `model` of each request (so an adapter's
     * `model` is the deployment name).
     */
    readonly azure?: Azure | undefined
    /**
     * The `fetch` the SDK sends requests with; defaults to the global one.
     * The gateway passes a pooled one (`Upstream` in `@ballast/gateway`).
     */
    readonly fetch?: typeof globalThis.fetch | undefined
  }

  /**
   * @since 0.1.0
   */
  export interface Azure {
    /** The resource's endpoint, e.g. `"https://ballast-eastus.openai.azure.com"`. */
    readonly endpoint: string
    /** Sent as `api-version`, e.g. `"2025-04-01-preview"`. */
    readonly apiVersion: string
    /** Fixes every request to this deployment, whatever the adapter's `model`. */
    readonly deployment?: string | undefined
  }
}

/**
 * The default per-request timeout: 120 seconds.
 *
 * @since 0.1.0
 */
export const defaultTimeout: Duration.Duration = Duration.seconds(120)

/**
 * Builds the client. The key stays `Redacted` until the SDK constructor.
 *
 * @since 0.1.0
 */
export const make = (options: OpenAIClient.Options): Effect.Effect<OpenAIClient.Service> =>
  Effect.sync(() => {
    const common = {
      apiKey: Redacted.value(options.apiKey),
      maxRetries: 0,
      timeout: Duration.toMillis(Duration.decode(options.timeout ?? defaultTimeout)),
      ...(options.headers !== undefined ? { defaultHeaders: { ...options.headers } } : {}),
      ...(options.fetch !== undefined ? { fetch: options.fetch } : {})
    }
    const secrets = Object.values(options.headers ?? {}).map((value) => Redacted.make(value))
    const azure = options.azure
    if (azure !== undefined) {
      return {
        // `baseURL` (what the SDK derives from `endpoint`) rather than `endpoint`, so that
        // an `OPENAI_BASE_URL` in the environment can neither override nor conflict with it.
        client: new AzureOpenAI({
          ...common,
          baseURL: `${azure.endpoint.replace(/\/+$/, "")}/openai`,
          apiVersion: azure.apiVersion,
          ...(azure.deployment !== undefined ? { deployment: azure.deployment } : {})
        }),
        provider: options.provider ?? "azure-openai",
        apiKey: options.apiKey,
        secrets
      }
    }
    return {
      client: new OpenAI({ ...common, ...(options.baseUrl !== undefined ? { baseURL: options.baseUrl } : {}) }),
      provider: options.provider ?? "openai",
      apiKey: options.apiKey,
      secrets
    }
  })

/**
 * A Layer providing the client built with `make`.
 *
 * @since 0.1.0
 */
export const layer = (options: OpenAIClient.Options): Layer.Layer<OpenAIClient> =>
  Layer.effect(OpenAIClient, make(options))

/**
 * The options read from the environment: `OPENAI_API_KEY` (redacted) and the
 * optional `OPENAI_BASE_URL`.
 *
 * @since 0.1.0
 */
export const config: Config.Config<OpenAIClient.Options> = Config.all({
  apiKey: Config.redacted("OPENAI_API_KEY"),
  baseUrl: Config.option(Config.string("OPENAI_BASE_URL"))
}).pipe(Config.map(({ apiKey, baseUrl }) => ({ apiKey, baseUrl: Option.getOrUndefined(baseUrl) })))

/**
 * A Layer providing the client from configuration, by default `config`
 * (`OPENAI_API_KEY`, optional `OPENAI_BASE_URL`).
 *
 * @since 0.1.0
 * @example
 * import { OpenAIClient } from "@ballast/openai"
 * import { Config } from "effect"
 *
 * const GroqClient = OpenAIClient.layerConfig(Config.map(Config.redacted("GROQ_API_KEY"), (apiKey) => ({
 *   apiKey, baseUrl: "https://api.groq.com/openai/v1", provider: "groq"
 * })))
 */
export const layerConfig = (
  options: Config.Config<OpenAIClient.Options> = config
): Layer.Layer<OpenAIClient, ConfigError.ConfigError> =>
  Layer.effect(OpenAIClient, Effect.flatMap(options, make))
