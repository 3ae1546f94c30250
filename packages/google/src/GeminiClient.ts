/**
 * The Gemini client: one `GoogleGenAI` instance (key, base URL, API version,
 * timeout), separate from the model adapters that use it.
 *
 * @since 0.1.0
 */
import { GoogleGenAI, type GoogleGenAIOptions } from "@google/genai"
import type { GenerationError } from "@ballast/core"
import { Config, type ConfigError, Context, Duration, Effect, Layer, Option, Redacted } from "effect"
import * as GeminiError from "./GeminiError.js"

/**
 * A configured Gemini client. Adapters call `genai` with an `abortSignal` and
 * translate failures with `translate`, which knows the key to scrub.
 *
 * @since 0.1.0
 * @example
 * import { GeminiClient } from "@ballast/google"
 * import { Redacted } from "effect"
 *
 * const client = GeminiClient.layer({ apiKey: Redacted.make("AIza..."), baseUrl: "http://127.0.0.1:8787" })
 */
export class GeminiClient extends Context.Tag("@ballast/google/GeminiClient")<GeminiClient, GeminiClient.Service>() {
  /**
   * Builds the client. The SDK is constructed with its own retries off (no
   * `retryOptions`: Ballast owns every retry), a per-call timeout (default
   * 120 s) and `apiVersion` `v1beta` (`v1beta1` in Vertex mode). The key is
   * unwrapped only here, for the SDK constructor.
   *
   * @since 0.1.0
   */
  static readonly make = (options: GeminiClient.Options): Effect.Effect<GeminiClient.Service> =>
    Effect.sync(() => {
      const vertex = options.vertex
      const sdkOptions: GoogleGenAIOptions = {
        apiKey: Redacted.value(options.apiKey),
        apiVersion: options.apiVersion ?? (vertex === undefined ? "v1beta" : "v1beta1"),
        httpOptions: {
          timeout: Duration.toMillis(options.timeout ?? Duration.seconds(120)),
          ...(options.baseUrl !== undefined ? { baseUrl: options.baseUrl } : {}),
          ...(options.headers !== undefined ? { headers: { ...options.headers } } : {}),
          ...(options.fetch !== undefined ? { fetch: options.fetch } : {})
        },
        ...(vertex !== undefined ? { vertexai: true, project: vertex.project, location: vertex.location } : {})
      }
      // Header values may carry credentials too; short ones are left alone so
      // that scrubbing does not mangle ordinary words.
      const secrets = [
        options.apiKey,
        ...Object.values(options.headers ?? {}).filter((v) => v.length >= 8).map((v) => Redacted.make(v))
      ]
      return {
        genai: new GoogleGenAI(sdkOptions),
        location: Option.fromNullable(vertex?.location),
        translate: (error, model) => GeminiError.fromUnknown(error, { provider: "google", model, secrets }),
        scrub: (text) => GeminiError.scrub(text, secrets)
      }
    })

  /**
   * A Layer providing the client built by `make`.
   *
   * @since 0.1.0
   */
  static readonly layer = (options: GeminiClient.Options): Layer.Layer<GeminiClient> =>
    Layer.effect(GeminiClient, GeminiClient.make(options))

  /**
   * A Layer reading the key from `GEMINI_API_KEY` (redacted) and the base URL
   * from the optional `GEMINI_BASE_URL`; the other options are given.
   *
   * @since 0.1.0
   */
  static readonly layerConfig = (
    options: Omit<GeminiClient.Options, "apiKey" | "baseUrl"> = {}
  ): Layer.Layer<GeminiClient, ConfigError.ConfigError> =>
    Layer.effect(
      GeminiClient,
      Effect.flatMap(
        Config.all({
          apiKey: Config.redacted("GEMINI_API_KEY"),
          baseUrl: Config.option(Config.string("GEMINI_BASE_URL"))
        }),
        ({ apiKey, baseUrl }) =>
          GeminiClient.make({
            ...options,
            apiKey,
            ...(Option.isSome(baseUrl) ? { baseUrl: baseUrl.value } : {})
          })
      )
    )
}

/**
 * @since 0.1.0
 */
export declare namespace GeminiClient {
  /**
   * @since 0.1.0
   */
  export interface Service {
    /** The SDK instance. Pass `config.abortSignal` on every call. */
    readonly genai: GoogleGenAI
    /** The Vertex location in Vertex mode, e.g. `"us-central1"`. */
    readonly location: Option.Option<string>
    /** Translates an SDK failure for a model, scrubbing the key and header values. */
    readonly translate: (error: unknown, model: string) => GenerationError
    /** Removes the key and header values from a text meant for a message. */
    readonly scrub: (text: string) => string
  }

  /**
   * @since 0.1.0
   */
  export interface Options {
    readonly apiKey: Redacted.Redacted<string>
    /** E.g. `http://127.0.0.1:8787`; may carry a path prefix. */
    readonly baseUrl?: string
    /** Defaults to `"v1beta"` (`"v1beta1"` in Vertex mode). */
    readonly apiVersion?: string
    /** Per call; defaults to 120 seconds. */
    readonly timeout?: Duration.DurationInput
    /** Vertex mode with API-key ("express") authentication. */
    readonly vertex?: { readonly project: string; readonly location: string }
    /** Extra headers sent with every request. */
    readonly headers?: Readonly<Record<string, string>>
    /**
     * The `fetch` the SDK sends requests with; defaults to the global one.
     * The gateway passes a pooled one (`Upstream` in `@ballast/gateway`).
     */
    readonly fetch?: typeof globalThis.fetch
  }
}
