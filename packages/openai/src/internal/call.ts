import type { GenerationError } from "@ballast/core"
import { Clock, Effect } from "effect"
import { identity } from "effect/Function"
import * as OpenAIError from "../OpenAIError.js"

/**
 * Runs one SDK call with an AbortSignal (so interruption aborts the HTTP
 * request) and translates its failure once, with the time taken from `Clock`
 * (a `retry-after` HTTP-date is relative to it).
 */
export const call = <A>(
  context: Omit<OpenAIError.Context, "now">,
  request: (signal: AbortSignal) => PromiseLike<A>
): Effect.Effect<A, GenerationError> =>
  Effect.tryPromise({ try: request, catch: identity }).pipe(
    Effect.catchAll((error) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.fail(OpenAIError.fromUnknown(error, { ...context, now })))
    )
  )
