/**
 * The gateway's text path: OpenAI chat completions and Gemini
 * `generateContent` bodies for a text model, decoded into a `TextRequest`,
 * and a `TextResult` answered in each wire's success shape.
 *
 * Decisions:
 * - Only what `TextRequest` can carry is accepted: text content (a string or
 *   `[{type:"text", text}]` parts). A field that would change the answer and
 *   that the gateway cannot honour — `stream: true`, `n > 1`, `tools`, an
 *   image part, a `tool` message — is a 400 naming it, never silently
 *   dropped. Sampling fields the providers differ on (`top_p`, `seed`, …) are
 *   ignored, as OpenAI-compatible servers commonly do.
 * - `developer` messages are OpenAI's newer name for `system` and map to it;
 *   Gemini's `systemInstruction` becomes the leading system message.
 * - Token usage is the answering provider's own count (`TextResult.usage`);
 *   when it gave none, zeros — an estimate would look like a measurement.
 */
import type { TextResult } from "@ballast/core"
import { ChatMessage, TextRequest } from "@ballast/core"
import { Either, type ParseResult, Predicate, Schema } from "effect"
import { parseIssues } from "./issues.js"
import * as Wire from "./wire.js"

const describeIssue = (error: ParseResult.ParseError) => {
  const issue = parseIssues(error)[0]
  return { path: issue?.path ?? "", message: issue?.message ?? "is invalid", missing: issue?.missing ?? false }
}

const optional = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

const Temperature = Schema.Number.pipe(
  Schema.filter((t) => t >= 0 && t <= 2, { message: () => "must be a number from 0 to 2" })
)

const MaxTokens = Schema.Number.pipe(
  Schema.filter((n) => Number.isInteger(n) && n > 0, { message: () => "must be a positive integer" })
)

const OpenAIRole = Schema.Literal("system", "developer", "user", "assistant")

const ChatBody = Schema.Struct({
  model: Schema.String,
  messages: Schema.Array(Schema.Struct({ role: OpenAIRole, content: Schema.Unknown })),
  max_tokens: optional(MaxTokens),
  max_completion_tokens: optional(MaxTokens),
  temperature: optional(Temperature),
  n: optional(Schema.Number),
  stream: optional(Schema.Boolean),
  tools: optional(Schema.Array(Schema.Unknown))
})

/** What a chat completion request asks of a text model. */
export interface ChatCall {
  readonly model: string
  readonly request: TextRequest
}

const openAIInvalid = (path: string, message: string) =>
  Wire.badRequest(`Invalid value for '${path}': ${message}`, path, "invalid_value")

// A string, or text parts joined by newlines (as OpenAI concatenates them).
const contentText = (content: unknown, at: string): Either.Either<string, Wire.Problem> => {
  if (typeof content === "string") return Either.right(content)
  if (content === undefined || content === null) {
    return Either.left(Wire.badRequest(`Missing required parameter: '${at}'.`, at, "missing_required_parameter"))
  }
  if (!Array.isArray(content)) {
    return Either.left(openAIInvalid(at, "expected a string or an array of {type: \"text\", text} parts."))
  }
  const texts: Array<string> = []
  for (const [i, part] of content.entries()) {
    const here = `${at}[${i}]`
    if (!Predicate.isRecord(part)) return Either.left(openAIInvalid(here, "expected an object {type: \"text\", text}."))
    if (part.type !== "text") {
      return Either.left(
        openAIInvalid(`${here}.type`, `only "text" parts are supported by this gateway, got ${JSON.stringify(part.type)}.`)
      )
    }
    if (typeof part.text !== "string") return Either.left(openAIInvalid(`${here}.text`, "expected a string."))
    texts.push(part.text)
  }
  return Either.right(texts.join("\n"))
}

const withLimits = (
  messages: ReadonlyArray<ChatMessage>,
  maxTokens: number | null | undefined,
  temperature: number | null | undefined
): TextRequest =>
  TextRequest.make({
    messages: messages as [ChatMessage, ...Array<ChatMessage>],
    ...(maxTokens != null ? { maxTokens } : {}),
    ...(temperature != null ? { temperature } : {})
  })

/**
 * Decodes an OpenAI chat completions body; every failure is a 400 in the
 * OpenAI shape whose `param` names the field.
 */
export const decodeChat = (json: unknown): Either.Either<ChatCall, Wire.Problem> =>
  Either.gen(function*() {
    const body = yield* Either.mapLeft(Schema.decodeUnknownEither(ChatBody)(json), (error) => {
      const issue = describeIssue(error)
      return issue.missing
        ? Wire.badRequest(`Missing required parameter: '${issue.path}'.`, issue.path, "missing_required_parameter")
        : issue.path === ""
        ? Wire.badRequest(`Invalid request body: expected a JSON object. ${issue.message}`, null, "invalid_type")
        : openAIInvalid(issue.path, issue.message)
    })
    if (body.stream === true) {
      return yield* Either.left(
        Wire.badRequest("Streaming is not supported by this gateway; send 'stream': false.", "stream", "unsupported_value")
      )
    }
    if (body.n != null && body.n !== 1) {
      return yield* Either.left(Wire.badRequest("Only 'n': 1 is supported by this gateway.", "n", "unsupported_value"))
    }
    if (body.tools != null && body.tools.length > 0) {
      return yield* Either.left(Wire.badRequest("Tool calling is not supported by this gateway.", "tools", "unsupported_value"))
    }
    if (body.messages.length === 0) {
      return yield* Either.left(
        Wire.badRequest("Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages", "empty_array")
      )
    }
    const messages: Array<ChatMessage> = []
    for (const [i, message] of body.messages.entries()) {
      const content = yield* contentText(message.content, `messages[${i}].content`)
      messages.push({ role: message.role === "developer" ? "system" : message.role, content })
    }
    return {
      model: body.model,
      request: withLimits(messages, body.max_completion_tokens ?? body.max_tokens, body.temperature)
    }
  })

/**
 * The OpenAI chat completion for a text result, as the `openai` SDK parses it.
 */
export const chatCompletion = (result: TextResult, id: string, created: number) => ({
  id,
  object: "chat.completion" as const,
  created,
  model: result.model,
  choices: [{
    index: 0,
    message: { role: "assistant" as const, content: result.text, refusal: null, annotations: [] },
    logprobs: null,
    finish_reason: "stop" as const
  }],
  usage: {
    prompt_tokens: result.usage?.inputTokens ?? 0,
    completion_tokens: result.usage?.outputTokens ?? 0,
    total_tokens: (result.usage?.inputTokens ?? 0) + (result.usage?.outputTokens ?? 0)
  }
})

const GeminiPart = Schema.Struct({
  text: Schema.optional(Schema.String),
  thought: Schema.optional(Schema.Boolean),
  inlineData: Schema.optional(Schema.Unknown),
  fileData: Schema.optional(Schema.Unknown)
})

/**
 * The fields of a Gemini `generateContent` body a text model reads.
 */
export const GeminiTextBody = Schema.Struct({
  contents: Schema.Array(Schema.Struct({ role: Schema.optional(Schema.String), parts: Schema.Array(GeminiPart) })),
  systemInstruction: Schema.optional(Schema.Struct({ parts: Schema.Array(GeminiPart) })),
  generationConfig: Schema.optional(Schema.Struct({
    responseModalities: Schema.optional(Schema.Array(Schema.String)),
    maxOutputTokens: Schema.optional(MaxTokens),
    temperature: Schema.optional(Temperature)
  }))
})

/**
 * @since 0.1.0
 */
export type GeminiTextBody = typeof GeminiTextBody.Type

/**
 * Decodes a Gemini body for text model `model`: roles `user` / `model` become
 * `user` / `assistant`, `systemInstruction` the leading system message. A
 * failure is a 400 naming the field in Gemini's words
 * (`* GenerateContentRequest.<field>: …`).
 */
export const decodeGeminiText = (json: unknown, model: string): Either.Either<TextRequest, Wire.Problem> =>
  Either.gen(function*() {
    const invalid = (path: string, message: string) => Wire.badRequest(`* GenerateContentRequest.${path}: ${message}`, path, null)
    const body = yield* Either.mapLeft(Schema.decodeUnknownEither(GeminiTextBody)(json), (error) => {
      const issue = describeIssue(error)
      return issue.path === ""
        ? Wire.badRequest(`Invalid JSON payload received. ${issue.message}`, null, null)
        : invalid(issue.path, issue.missing ? `${issue.path.split(".").pop()} is not specified` : issue.message)
    })
    const modalities = body.generationConfig?.responseModalities
    if (modalities !== undefined && modalities.some((m) => m.toUpperCase() !== "TEXT")) {
      return yield* Either.left(invalid(
        "generationConfig.responseModalities",
        `model ${model} generates text only: responseModalities must be [TEXT]`
      ))
    }
    const textOf = (parts: ReadonlyArray<typeof GeminiPart.Type>, at: string) =>
      Either.gen(function*() {
        const texts: Array<string> = []
        for (const [j, part] of parts.entries()) {
          if (part.inlineData !== undefined || part.fileData !== undefined) {
            const field = part.inlineData !== undefined ? "inlineData" : "fileData"
            return yield* Either.left(
              invalid(`${at}[${j}].${field}`, `this gateway sends text model ${model} text parts only`)
            )
          }
          if (part.text !== undefined && part.thought !== true) texts.push(part.text)
        }
        return texts.join("")
      })
    const messages: Array<ChatMessage> = []
    if (body.systemInstruction !== undefined) {
      const system = yield* textOf(body.systemInstruction.parts, "systemInstruction.parts")
      if (system.trim() !== "") messages.push({ role: "system", content: system })
    }
    for (const [i, content] of body.contents.entries()) {
      const role = content.role ?? "user"
      if (role !== "user" && role !== "model") {
        return yield* Either.left(invalid(`contents[${i}].role`, `role must be "user" or "model", got ${JSON.stringify(role)}`))
      }
      const text = yield* textOf(content.parts, `contents[${i}].parts`)
      messages.push({ role: role === "model" ? "assistant" : "user", content: text })
    }
    if (!messages.some((m) => m.role !== "system" && m.content.trim() !== "")) {
      return yield* Either.left(invalid("contents", "contents has no text part: the conversation is empty"))
    }
    const config = body.generationConfig
    return withLimits(messages, config?.maxOutputTokens, config?.temperature)
  })

/**
 * The Gemini `generateContent` response for a text result.
 */
export const geminiText = (result: TextResult, responseId: string) => ({
  candidates: [{ content: { role: "model", parts: [{ text: result.text }] }, finishReason: "STOP", index: 0 }],
  usageMetadata: {
    promptTokenCount: result.usage?.inputTokens ?? 0,
    candidatesTokenCount: result.usage?.outputTokens ?? 0,
    totalTokenCount: (result.usage?.inputTokens ?? 0) + (result.usage?.outputTokens ?? 0)
  },
  modelVersion: result.model,
  responseId
})
