/**
 * Spans that cost nothing when nobody can see them.
 */
import { Context, DefaultServices, Effect, Tracer } from "effect"

/**
 * The tracer every runtime starts with: Effect's native one, which exports
 * nothing. A tracer anyone reads spans from (OpenTelemetry, a test's, the
 * CLI's progress) replaces it.
 */
export const nativeTracer: Tracer.Tracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

/**
 * `Effect.withSpan`, except under the native tracer, where the span would be
 * made and dropped unseen: a span in flight holds a few kilobytes (its
 * attributes, its exit hook, the context that carries it) for as long as the
 * call lasts, which a gateway holding thousands of slow calls pays for each.
 * `Effect.annotateCurrentSpan` then annotates the enclosing span, if any.
 */
export const withSpan =
  (name: string, options: Tracer.SpanOptions) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.tracerWith((tracer) => tracer === nativeTracer ? self : Effect.withSpan(self, name, options))
