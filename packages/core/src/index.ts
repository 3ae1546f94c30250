/**
 * @since 0.1.0
 */
export * as Errors from "./Errors.js"
export {
  AllRoutesFailed,
  BadRequest,
  CircuitOpen,
  ContentRejected,
  FailedAttempt,
  GenerationError,
  Overloaded,
  ProviderUnavailable,
  RateLimited,
  Timeout,
  Unauthorized
} from "./Errors.js"
export { DeliveredResolution, GeneratedImage, ImageRequest, ImageResult } from "./Image.js"
export { ChatMessage, TextRequest, TextResult } from "./Text.js"
export { AspectRatio, Resolution } from "./Resolution.js"
export * as Resolutions from "./Resolution.js"
export { ImageGenerator } from "./ImageGenerator.js"
export { TextGenerator } from "./TextGenerator.js"
export * as Deadline from "./Deadline.js"
