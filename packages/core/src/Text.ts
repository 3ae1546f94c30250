/**
 * What a text generation is asked for and what it answers.
 *
 * @since 0.1.0
 */
import { Duration, Schema } from "effect"

/**
 * One chat message.
 *
 * @since 0.1.0
 */
export const ChatMessage = Schema.Struct({
  role: Schema.Literal("system", "user", "assistant"),
  content: Schema.String
})

/**
 * @since 0.1.0
 */
export type ChatMessage = typeof ChatMessage.Type

/**
 * A request for text: a conversation to continue.
 *
 * @since 0.1.0
 * @example
 * import { TextRequest } from "@ballast/core"
 *
 * const request = TextRequest.make({ messages: [{ role: "user", content: "Describe a fox." }] })
 */
export class TextRequest extends Schema.Class<TextRequest>("@ballast/core/TextRequest")({
  messages: Schema.NonEmptyArray(ChatMessage),
  maxTokens: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { exact: true }),
  temperature: Schema.optionalWith(Schema.Number.pipe(Schema.between(0, 2)), { exact: true }),
  idempotencyKey: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1)), { exact: true }),
  deadline: Schema.optionalWith(Schema.DurationFromMillis, { exact: true })
}) {}

/**
 * The tokens a provider counted for one answer, as it reported them.
 *
 * @since 0.1.0
 */
export const TokenUsage = Schema.Struct({
  inputTokens: Schema.Int,
  outputTokens: Schema.Int
})

/**
 * @since 0.1.0
 */
export type TokenUsage = typeof TokenUsage.Type

/**
 * Generated text and where it came from; `latency`, `providerLatency` and
 * `waited` as in `ImageResult`; `usage`, the tokens the answering provider
 * counted, when it said.
 *
 * @since 0.1.0
 */
export class TextResult extends Schema.Class<TextResult>("@ballast/core/TextResult")({
  text: Schema.String,
  route: Schema.String,
  provider: Schema.String,
  model: Schema.String,
  degraded: Schema.Boolean,
  attempts: Schema.Int,
  latency: Schema.DurationFromMillis,
  providerLatency: Schema.optionalWith(Schema.DurationFromMillis, { default: () => Duration.zero, exact: true }),
  waited: Schema.optionalWith(Schema.DurationFromMillis, { default: () => Duration.zero, exact: true }),
  usage: Schema.optionalWith(TokenUsage, { exact: true })
}) {}
