import type { GenerationError, ImageGenerator, PipelineConfig, TextGenerator } from "@ballast/core"
import { Scenario, Simulation } from "@ballast/testing"
import { Clock, Effect, Exit } from "effect"

/** One provider call of a demo pipeline, as reported to `onCall`. */
export interface ProviderCall {
  readonly route: string
  readonly model: string
  /** The resolution asked for, or "description" for the text rung. */
  readonly resolution: string
  readonly durationMs: number
  /** The error's tag, or undefined for a success. */
  readonly error: string | undefined
}

export interface DemoOptions {
  /** Scales the scenario's latencies (1 = as in the field, 0.05 = twenty times faster). */
  readonly latency?: number
  /** Told of every generation call (not probes) when it ends. */
  readonly onCall?: (call: ProviderCall) => Effect.Effect<void>
}

const observed = <A>(
  route: string,
  model: string,
  resolution: string,
  effect: Effect.Effect<A, GenerationError>,
  onCall: ((call: ProviderCall) => Effect.Effect<void>) | undefined
): Effect.Effect<A, GenerationError> =>
  onCall === undefined ? effect : Effect.flatMap(Clock.currentTimeMillis, (start) =>
    Effect.onExit(effect, (exit) =>
      Effect.flatMap(Clock.currentTimeMillis, (end) =>
        onCall({
          route,
          model,
          resolution,
          durationMs: end - start,
          error: Exit.isSuccess(exit) ? undefined : Exit.isFailure(exit) && exit.cause._tag === "Fail"
            ? exit.cause.error._tag
            : "interrupted"
        }))))

/**
 * Simulated providers for every route of a configuration, playing their
 * reference roles (`Simulation.referenceRoles`; other routes play "openai")
 * in a scenario, with scaled latencies and every call observed.
 */
export const providers = (
  scenario: Scenario.Scenario,
  config: PipelineConfig.PipelineConfig,
  options: DemoOptions = {}
): Effect.Effect<{
  readonly image: Record<string, ImageGenerator.Service>
  readonly text: Record<string, TextGenerator.Service>
}> =>
  Effect.gen(function*() {
    const image: Record<string, ImageGenerator.Service> = {}
    const text: Record<string, TextGenerator.Service> = {}
    for (const [name, route] of Object.entries(config.routes)) {
      const role = Simulation.referenceRoles[name] ?? "openai"
      const fakeOptions = {
        model: route.model,
        provider: route.provider,
        route: name,
        ...(options.latency !== undefined ? { latency: options.latency } : {})
      }
      if (role === "text") {
        const { service } = yield* Scenario.fakeText(scenario, role, fakeOptions)
        text[name] = {
          ...service,
          generate: (request) => observed(name, route.model, "description", service.generate(request), options.onCall)
        }
      } else {
        const { service } = yield* Scenario.fakeImage(scenario, role, fakeOptions)
        image[name] = {
          ...service,
          generate: (request) => observed(name, route.model, request.resolution, service.generate(request), options.onCall)
        }
      }
    }
    return { image, text }
  })
