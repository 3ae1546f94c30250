/**
 * Gemini image and text providers for Ballast, on the official `@google/genai` SDK.
 *
 * @since 0.1.0
 */
export { GeminiClient } from "./GeminiClient.js"
export * as GeminiError from "./GeminiError.js"
export * as GeminiImageGenerator from "./GeminiImageGenerator.js"
export * as GeminiTextGenerator from "./GeminiTextGenerator.js"
