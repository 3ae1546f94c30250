/**
 * @since 0.1.0
 */
export { OpenAIClient } from "./OpenAIClient.js"
/**
 * @since 0.1.0
 */
export * as OpenAIError from "./OpenAIError.js"
/**
 * @since 0.1.0
 */
export * as OpenAIImageGenerator from "./OpenAIImageGenerator.js"
/**
 * @since 0.1.0
 */
export * as OpenAITextGenerator from "./OpenAITextGenerator.js"
