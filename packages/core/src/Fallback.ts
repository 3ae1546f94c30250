/**
 * Fallback chains: an ordered plan of steps (route × resolution), each tried
 * when the one before it failed.
 *
 * @since 0.1.0
 */
import { Array as Arr, Effect } from "effect"
import { AllRoutesFailed, FailedAttempt, type GenerationError, isFatalForRequest } from "./Errors.js"

/**
 * One step of a plan: an effect that tries one route at one resolution.
 *
 * @since 0.1.0
 */
export interface Step<A, R = never> {
  /** The route the step calls. */
  readonly route: string
  /** The resolution it asks for, or `"description"` for the text rung. */
  readonly resolution: string
  readonly run: Effect.Effect<A, GenerationError, R>
}

/**
 * Builds a step.
 *
 * @since 0.1.0
 */
export const step = <A, R = never>(
  route: string,
  resolution: string,
  run: Effect.Effect<A, GenerationError, R>
): Step<A, R> => ({ route, resolution, run })

const failedAttempts = (
  step: { readonly route: string; readonly resolution: string },
  error: GenerationError
): ReadonlyArray<FailedAttempt> =>
  error._tag === "AllRoutesFailed"
    ? error.attempts
    : [new FailedAttempt({ route: step.route, resolution: step.resolution, error })]

/**
 * Tries the steps in order, each one only when the previous failed (the chain
 * `step1.pipe(Effect.orElse(() => step2), …)`, keeping every error).
 *
 * - A `BadRequest` about the request itself (`scope: "request"`) stops the
 *   chain at once and is returned as it is: every other route would refuse it too.
 * - Any other error — including a `BadRequest` about the route's capabilities,
 *   and a nested `AllRoutesFailed`, whose attempts are flattened in — moves on.
 * - When every step has failed, the result is `AllRoutesFailed` with one
 *   `FailedAttempt` per step, in order.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { Fallback } from "@ballast/core"
 *
 * const chain = Fallback.run([
 *   Fallback.step("gemini-pro", "4K", Effect.succeed("pro")),
 *   Fallback.step("gemini-flash", "2K", Effect.succeed("flash"))
 * ], { provider: "ballast", model: "image" })
 */
export const run = <A, R>(
  steps: Arr.NonEmptyReadonlyArray<Step<A, R>>,
  labels: { readonly provider: string; readonly model: string }
): Effect.Effect<A, GenerationError, R> => {
  const attempt = (index: number, failed: ReadonlyArray<FailedAttempt>): Effect.Effect<A, GenerationError, R> => {
    const current = steps[index]!
    return Effect.catchAll(current.run, (error) => {
      if (isFatalForRequest(error)) return Effect.fail(error)
      const sofar = [...failed, ...failedAttempts(current, error)]
      if (index + 1 < steps.length) return attempt(index + 1, sofar)
      return Effect.fail(
        new AllRoutesFailed({
          provider: labels.provider,
          model: labels.model,
          message: summarize(sofar),
          attempts: sofar
        })
      )
    })
  }
  return attempt(0, [])
}

/**
 * A one-line account of what failed, in order, repeats counted, e.g.
 * `7 attempts failed: gemini-pro@4K Overloaded ×5; gemini-pro@2K CircuitOpen; openai@1K RateLimited`.
 *
 * @since 0.1.0
 */
export const summarize = (attempts: ReadonlyArray<FailedAttempt>): string => {
  const parts: Array<string> = []
  let previous = ""
  let repeats = 0
  const flush = () => {
    if (repeats > 0) parts.push(repeats > 1 ? `${previous} ×${repeats}` : previous)
  }
  for (const attempt of attempts) {
    const label = `${attempt.route}@${attempt.resolution} ${attempt.error._tag}`
    if (label === previous) {
      repeats++
    } else {
      flush()
      previous = label
      repeats = 1
    }
  }
  flush()
  return `${attempts.length} attempt${attempts.length === 1 ? "" : "s"} failed: ${parts.join("; ")}`
}
