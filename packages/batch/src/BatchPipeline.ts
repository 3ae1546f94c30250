/**
 * The pipeline a batch worker runs jobs on. Only a full-quality image
 * completes a job, so a batch pipeline keeps the plan's image routes and
 * drops what would only answer below the request: the text-description rung,
 * adaptive degradation and the peak-hour resolution cap. A job whose routes
 * all fail waits for another attempt (in the next window) instead.
 *
 * @since 0.1.0
 */
import { PipelineConfig } from "@ballast/core"

/**
 * `config` made for batch work: no `describe` entry in the plan, `adaptive`
 * and `peak` off; everything else (routes, retries, breakers, limits) as
 * given. A plan of nothing but a description is returned as it is (the
 * worker then fails its jobs as degraded).
 *
 * @since 0.1.0
 * @example
 * import { Pipeline } from "@ballast/core"
 * import { BatchPipeline } from "@ballast/batch"
 *
 * // Pipeline.layer(BatchPipeline.config(config), providers) is what a worker should be given.
 */
export const config = (config: PipelineConfig.PipelineConfig): PipelineConfig.PipelineConfig => {
  const images = config.plan.filter((entry) => entry._tag !== "Describe")
  return new PipelineConfig.PipelineConfig({
    ...config,
    plan: images.length > 0 ? [images[0]!, ...images.slice(1)] : config.plan,
    adaptive: new PipelineConfig.AdaptiveSettings({ ...config.adaptive, enabled: false }),
    peak: new PipelineConfig.PeakSettings({ ...config.peak, enabled: false })
  })
}
