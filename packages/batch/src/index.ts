/**
 * @since 0.1.0
 */
export * as Job from "./Job.js"
export { Attempt, JobId, JobResult, JobState, StoredImage, Submission } from "./Job.js"
export * as JobStore from "./JobStore.js"
export * as SqlStore from "./SqlStore.js"
export * as Window from "./Window.js"
export * as Results from "./Results.js"
export * as BatchQueue from "./BatchQueue.js"
export * as Worker from "./Worker.js"
export * as BatchPipeline from "./BatchPipeline.js"
