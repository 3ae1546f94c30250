/**
 * The one service every text provider implements and the pipeline wraps.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Layer } from "effect"
import type { GenerationError } from "./Errors.js"
import { type TextRequest, TextResult, type TokenUsage } from "./Text.js"

/**
 * Generates text (chat completions). Used for text chains and for the last rung
 * of the image ladder, which describes the image that could not be made.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { TextGenerator, TextRequest } from "@ballast/core"
 *
 * const program = Effect.gen(function* () {
 *   const text = yield* TextGenerator
 *   const result = yield* text.generate(TextRequest.make({ messages: [{ role: "user", content: "Hello" }] }))
 *   console.log(result.text)
 * })
 */
export class TextGenerator extends Context.Tag("@ballast/core/TextGenerator")<
  TextGenerator,
  TextGenerator.Service
>() {
  /**
   * Builds a `TextGenerator` from a function that produces the text; the
   * provenance (route, timing) is filled in here.
   *
   * @since 0.1.0
   */
  static readonly make = (options: TextGenerator.MakeOptions): TextGenerator.Service => {
    const route = options.route ?? `${options.provider}/${options.model}`
    return {
      provider: options.provider,
      model: options.model,
      route,
      ...(options.probe !== undefined ? { probe: options.probe } : {}),
      generate: (request) =>
        Effect.clockWith((clock) => {
          const start = clock.unsafeCurrentTimeMillis()
          return Effect.map(options.generate(request), (output) => {
            const latency = Duration.millis(clock.unsafeCurrentTimeMillis() - start)
            const { text, usage } = typeof output === "string" ? { text: output, usage: undefined } : output
            return TextResult.make({
              text,
              ...(usage !== undefined ? { usage } : {}),
              route,
              provider: options.provider,
              model: options.model,
              degraded: false,
              attempts: 1,
              latency,
              providerLatency: latency,
              waited: Duration.zero
            }, { disableValidation: true })
          })
        })
    }
  }

  /**
   * A Layer providing a `TextGenerator` built with `make`.
   *
   * @since 0.1.0
   */
  static readonly layer = (options: TextGenerator.MakeOptions): Layer.Layer<TextGenerator> =>
    Layer.succeed(TextGenerator, TextGenerator.make(options))
}

/**
 * @since 0.1.0
 */
export declare namespace TextGenerator {
  /**
   * @since 0.1.0
   */
  export interface Service {
    readonly provider: string
    readonly model: string
    readonly route: string
    readonly generate: (request: TextRequest) => Effect.Effect<TextResult, GenerationError>
    /**
     * A cheap check that the route answers (model metadata, not a generation), for
     * health probes. Absent when the provider has none.
     */
    readonly probe?: Effect.Effect<void, GenerationError>
  }

  /**
   * @since 0.1.0
   */
  export interface MakeOptions {
    readonly provider: string
    readonly model: string
    /** Defaults to `provider/model`. */
    readonly route?: string
    /** The answer's text, or the text and the tokens the provider counted. */
    readonly generate: (request: TextRequest) => Effect.Effect<string | Output, GenerationError>
    /** A cheap check that the route answers, for health probes. */
    readonly probe?: Effect.Effect<void, GenerationError>
  }

  /**
   * What a provider's function may return: the text, and the tokens it counted.
   *
   * @since 0.1.0
   */
  export interface Output {
    readonly text: string
    readonly usage?: TokenUsage | undefined
  }
}
