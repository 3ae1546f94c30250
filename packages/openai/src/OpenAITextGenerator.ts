/**
 * OpenAI chat models and OpenAI-compatible chat endpoints (Groq, Anthropic's
 * compatibility endpoint, Azure) as a Layer of the generic `TextGenerator`.
 *
 * @since 0.1.0
 */
import { ContentRejected, ProviderUnavailable, TextGenerator, type TextRequest } from "@ballast/core"
import { Effect, Layer, Predicate } from "effect"
import type { ChatCompletion } from "openai/resources/chat/completions"
import { OpenAIClient } from "./OpenAIClient.js"
import { call } from "./internal/call.js"

/**
 * @since 0.1.0
 */
export interface Options {
  /** The model ID sent as `model`, e.g. `"gpt-4.1"` or `"llama-3.3-70b-versatile"`. */
  readonly model: string
  /** The route name; defaults to `provider/model`. */
  readonly route?: string | undefined
  /** The provider label; defaults to the client's. */
  readonly provider?: string | undefined
}

/**
 * Builds the `TextGenerator` service for one model on the client's endpoint.
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<TextGenerator.Service, never, OpenAIClient> =>
  Effect.gen(function*() {
    const { apiKey, client, provider: clientProvider, secrets } = yield* OpenAIClient
    const model = options.model
    const provider = options.provider ?? clientProvider
    const context = { provider, model, apiKey, secrets }
    const unusable = (why: string) => new ProviderUnavailable({ provider, model, message: `${provider} ${model}: ${why}` })

    const textOf = (
      response: ChatCompletion | string
    ): Effect.Effect<TextGenerator.Output, ProviderUnavailable | ContentRejected> => {
      if (!Predicate.isObject(response)) return Effect.fail(unusable("the response was not JSON"))
      const choice = response.choices?.[0]
      if (choice === undefined) return Effect.fail(unusable("the response carried no choice"))
      if (choice.finish_reason === "content_filter") {
        return Effect.fail(
          new ContentRejected({ provider, model, message: `${provider} ${model}: the content filter stopped the answer` })
        )
      }
      // A cut stream or a gateway that lost the end: without a finish reason the text may be partial.
      if (choice.finish_reason == null) return Effect.fail(unusable("the answer has no finish reason"))
      const content = choice.message?.content
      if (typeof content !== "string") return Effect.fail(unusable("the answer has no text"))
      const usage = response.usage
      return Effect.succeed({
        text: content,
        ...(usage != null ? { usage: { inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens } } : {})
      })
    }

    const generate = (request: TextRequest) =>
      call(context, (signal) =>
        client.chat.completions.create({
          model,
          messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
          ...(request.maxTokens !== undefined ? { max_tokens: request.maxTokens } : {}),
          ...(request.temperature !== undefined ? { temperature: request.temperature } : {})
        }, { signal })).pipe(
          // A 200 with a non-JSON content type resolves to a string in this SDK.
          Effect.flatMap((response: ChatCompletion | string) => textOf(response))
        )

    const probe = Effect.asVoid(call(context, (signal) => client.models.retrieve(model, { signal })))

    return TextGenerator.make({
      provider,
      model,
      ...(options.route !== undefined ? { route: options.route } : {}),
      generate,
      probe
    })
  })

/**
 * A Layer providing `TextGenerator` for one chat model.
 *
 * @since 0.1.0
 * @example
 * import { Config, Layer } from "effect"
 * import { OpenAIClient, OpenAITextGenerator } from "@ballast/openai"
 *
 * const Text = OpenAITextGenerator.layer({ model: "gpt-4.1" }).pipe(Layer.provide(OpenAIClient.layerConfig()))
 */
export const layer = (options: Options): Layer.Layer<TextGenerator, never, OpenAIClient> =>
  Layer.effect(TextGenerator, make(options))
