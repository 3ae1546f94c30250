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
export { DeliveredResolution, GeneratedImage, ImageRequest, ImageResult, Prompt } from "./Image.js"
export { ChatMessage, TextRequest, TextResult, TokenUsage } from "./Text.js"
export { AspectRatio, Resolution } from "./Resolution.js"
export * as Resolutions from "./Resolution.js"
export { ImageGenerator } from "./ImageGenerator.js"
export { TextGenerator } from "./TextGenerator.js"
export * as Deadline from "./Deadline.js"
export * as Capabilities from "./Capabilities.js"
export * as CircuitBreaker from "./CircuitBreaker.js"
export * as Retry from "./Retry.js"
export * as RetryBudget from "./RetryBudget.js"
export * as Fallback from "./Fallback.js"
export * as Hedge from "./Hedge.js"
export * as Metrics from "./Metrics.js"
export * as Health from "./Health.js"
export * as Router from "./Router.js"
export * as PeakWindows from "./PeakWindows.js"
export * as Degradation from "./Degradation.js"
export * as PipelineConfig from "./PipelineConfig.js"
export * as Pipeline from "./Pipeline.js"
export { type ClientProviders, createImageClient, type ImageClient, type ImageRequestInput } from "./Client.js"
