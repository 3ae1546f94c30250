import type { GenerateContentResponse, Part } from "@google/genai"
import { ContentRejected, type GenerationError, ProviderUnavailable } from "@ballast/core"

// Finish and block reasons that mean a safety system refused: retrying the
// same route will not help, another provider may answer.
const safetyReasons: ReadonlySet<string> = new Set([
  "SAFETY",
  "IMAGE_SAFETY",
  "PROHIBITED_CONTENT",
  "IMAGE_PROHIBITED_CONTENT",
  "BLOCKLIST",
  "SPII",
  "RECITATION",
  "IMAGE_RECITATION",
  "MODEL_ARMOR",
  "JAILBREAK"
])

/** The parts of the first candidate. */
export const partsOf = (response: GenerateContentResponse): ReadonlyArray<Part> =>
  response.candidates?.[0]?.content?.parts ?? []

/** The concatenated non-thought text of the first candidate. */
export const textOf = (response: GenerateContentResponse): string =>
  partsOf(response)
    .filter((part) => part.thought !== true && typeof part.text === "string")
    .map((part) => part.text)
    .join("")

/**
 * Why a 200 carried no usable output: a safety block (`ContentRejected`) or
 * anything else (`ProviderUnavailable`: `NO_IMAGE`, `OTHER`, no candidates).
 */
export const noOutput = (
  response: GenerateContentResponse,
  what: string,
  context: { readonly provider: string; readonly model: string; readonly scrub: (text: string) => string }
): GenerationError => {
  const blockReason = response.promptFeedback?.blockReason
  const finishReason = response.candidates?.[0]?.finishReason
  const fields = (message: string) => ({ provider: context.provider, model: context.model, message: context.scrub(message) })
  if (blockReason !== undefined) {
    return new ContentRejected(fields(`Gemini blocked the prompt (${blockReason}) and returned no ${what}`))
  }
  if (finishReason !== undefined && safetyReasons.has(finishReason)) {
    return new ContentRejected(fields(`Gemini returned no ${what}: finish reason ${finishReason}`))
  }
  const said = textOf(response).trim()
  const reason = finishReason === undefined
    ? (response.candidates === undefined || response.candidates.length === 0 ? "no candidates" : "no finish reason")
    : `finish reason ${finishReason}`
  return new ProviderUnavailable(
    fields(`Gemini returned no ${what} (${reason})${said.length > 0 ? `; it said: ${said.slice(0, 200)}` : ""}`)
  )
}
