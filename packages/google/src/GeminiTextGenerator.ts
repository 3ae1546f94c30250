/**
 * Gemini text models (`generateContent`) as a `TextGenerator`: system messages
 * become `systemInstruction`, the others `user` / `model` turns; the answer is
 * the non-thought text. An empty answer is `ContentRejected` when a safety
 * system blocked it and `ProviderUnavailable` otherwise.
 *
 * @since 0.1.0
 */
import type { Content } from "@google/genai"
import { type GenerationError, TextGenerator } from "@ballast/core"
import { Effect, Layer } from "effect"
import { GeminiClient } from "./GeminiClient.js"
import { noOutput, textOf } from "./internal/response.js"

/**
 * @since 0.1.0
 */
export interface Options {
  /** The model ID, e.g. `"gemini-2.5-flash"`. */
  readonly model: string
  /** The route name; defaults to `google/<model>`. */
  readonly route?: string
}

const provider = "google"

/**
 * Builds the `TextGenerator` service for one model on the `GeminiClient`.
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<TextGenerator.Service, never, GeminiClient> =>
  Effect.map(GeminiClient, (client) => {
    const { model } = options
    const call = <A>(f: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, GenerationError> =>
      Effect.tryPromise({ try: f, catch: (error) => client.translate(error, model) })
    return TextGenerator.make({
      provider,
      model,
      ...(options.route !== undefined ? { route: options.route } : {}),
      generate: (request) => {
        const system = request.messages.filter((m) => m.role === "system").map((m) => m.content)
        const contents: Array<Content> = request.messages
          .filter((m) => m.role !== "system")
          .map((m) => ({ role: m.role === "assistant" ? "model" : "user", parts: [{ text: m.content }] }))
        return call((signal) =>
          client.genai.models.generateContent({
            model,
            contents,
            config: {
              ...(system.length > 0 ? { systemInstruction: system.join("\n\n") } : {}),
              ...(request.maxTokens !== undefined ? { maxOutputTokens: request.maxTokens } : {}),
              ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
              abortSignal: signal
            }
          })
        ).pipe(
          Effect.flatMap((response) => {
            const text = textOf(response)
            const usage = response.usageMetadata
            return text.trim().length > 0
              ? Effect.succeed({
                text,
                ...(usage !== undefined
                  ? { usage: { inputTokens: usage.promptTokenCount ?? 0, outputTokens: usage.candidatesTokenCount ?? 0 } }
                  : {})
              })
              : Effect.fail(noOutput(response, "text", { provider, model, scrub: client.scrub }))
          })
        )
      },
      probe: Effect.asVoid(call((signal) => client.genai.models.get({ model, config: { abortSignal: signal } })))
    })
  })

/**
 * A Layer providing `TextGenerator` for one Gemini model; requires `GeminiClient`.
 *
 * @since 0.1.0
 * @example
 * import { GeminiClient, GeminiTextGenerator } from "@ballast/google"
 * import { Layer } from "effect"
 *
 * const Flash = GeminiTextGenerator.layer({ model: "gemini-2.5-flash" }).pipe(
 *   Layer.provide(GeminiClient.layerConfig())
 * )
 */
export const layer = (options: Options): Layer.Layer<TextGenerator, never, GeminiClient> =>
  Layer.effect(TextGenerator, make(options))
