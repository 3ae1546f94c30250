import type { FileSystem as FS } from "@effect/platform"
import * as FileSystem from "@effect/platform/FileSystem"
import { Effect, Predicate, Tracer } from "effect"
import * as YAML from "yaml"
import * as Gateway from "../../Gateway.js"
import * as GatewayConfig from "../../GatewayConfig.js"
import * as CliFailure from "../CliFailure.js"

/**
 * Whether the file at `path` is a gateway configuration: it maps public model
 * names to plans under a top-level `models` key. A file that cannot be read or
 * parsed here is left to the pipeline configuration's reader, which names the
 * problem.
 */
export const isGatewayConfig = (path: string): Effect.Effect<boolean, never, FS.FileSystem> =>
  FileSystem.FileSystem.pipe(
    Effect.flatMap((fs) => fs.readFileString(path)),
    Effect.flatMap((text) => Effect.try(() => YAML.parse(text) as unknown)),
    Effect.map((document) => Predicate.isRecord(document) && Object.hasOwn(document, "models")),
    Effect.orElseSucceed(() => false)
  )

/** Reads and validates a gateway configuration; every problem becomes the failure's message. */
export const loadGatewayConfig = (
  path: string
): Effect.Effect<GatewayConfig.GatewayConfig, CliFailure.CliFailure, FS.FileSystem> =>
  GatewayConfig.fromFile(path).pipe(Effect.catchTag("GatewayConfigError", (error) => CliFailure.failure(error.message)))

/** The configured name of the model `name` calls (its own name or one of its aliases). */
export const modelNamed = (config: GatewayConfig.GatewayConfig, name: string): string | undefined =>
  Object.hasOwn(config.models, name)
    ? name
    : Object.entries(config.models).find(([, model]) => model.aliases.includes(name))?.[0]

/** `name (aliases a, b)`, for usage messages. */
export const modelLabel = (config: GatewayConfig.GatewayConfig, name: string): string => {
  const aliases = config.models[name]?.aliases ?? []
  return aliases.length === 0 ? name : `${name} (aliases ${aliases.join(", ")})`
}

/**
 * The configuration reduced to `models` and the providers their routes name,
 * so that only the keys those providers need are read from the environment.
 */
export const restrictTo = (
  config: GatewayConfig.GatewayConfig,
  models: Readonly<Record<string, GatewayConfig.ModelSettings>>
): GatewayConfig.GatewayConfig => {
  const used = new Set(Object.values(models).flatMap((model) => Object.values(model.pipeline.routes).map((r) => r.provider)))
  return {
    ...config,
    providers: Object.fromEntries(Object.entries(config.providers).filter(([name]) => used.has(name))),
    models
  }
}

/** Builds the models in-process (`Gateway.buildModels`); a missing key or a pipeline that will not build exits 1. */
export const buildModels = (config: GatewayConfig.GatewayConfig) =>
  Gateway.buildModels(config).pipe(Effect.catchTag("GatewayError", (error) => CliFailure.failure(error.message)))

/** One provider call of a pipeline, as seen from its `ballast.attempt` span. */
export interface Attempt {
  readonly route: string
  /** The resolution asked for, or "description" for the text rung. */
  readonly resolution: string
  /** "success", or the error's tag. */
  readonly outcome: string
  readonly durationMs: number
}

/**
 * A tracer that passes every span to `tracer` and tells `onAttempt` of each
 * provider call when its `ballast.attempt` span ends (the pipeline opens one
 * per call, with its route, rung and outcome), so that real providers show
 * the same progress as the demo's observed ones without being wrapped.
 */
export const attemptTracer = (tracer: Tracer.Tracer, onAttempt: (attempt: Attempt) => void): Tracer.Tracer =>
  Tracer.make({
    context: (f, fiber) => tracer.context(f, fiber),
    span: (name, parent, context, links, startTime, kind, options) => {
      const span = tracer.span(name, parent, context, links, startTime, kind, options)
      if (name !== "ballast.attempt") return span
      const end = span.end.bind(span)
      return Object.assign(span, {
        end: (endTime: bigint, exit: Parameters<Tracer.Span["end"]>[1]) => {
          end(endTime, exit)
          const attribute = (key: string) => String(span.attributes.get(key) ?? "?")
          onAttempt({
            route: attribute("ballast.route"),
            resolution: attribute("ballast.resolution"),
            outcome: attribute("ballast.outcome"),
            durationMs: Number(endTime - startTime) / 1_000_000
          })
        }
      })
    }
  })
