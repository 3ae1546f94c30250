/**
 * Hedged requests: when an attempt has not answered after a delay (fixed, or
 * a route's observed p95), the same request is sent to the next route as
 * well; the first success wins and every other attempt is interrupted, which
 * aborts its HTTP request.
 *
 * @since 0.1.0
 */
import { Array as Arr, Cause, Clock, Duration, Effect, Exit, Fiber, Option, Queue, Ref, Schema } from "effect"
import { dual } from "effect/Function"

/**
 * How a call is hedged.
 *
 * @since 0.1.0
 */
export interface Options {
  /**
   * How long an attempt may run before the next one is started beside it.
   * Either a fixed duration or an effect evaluated at each start, e.g. one
   * that reads a route's observed p95 latency.
   */
  readonly delay: Duration.DurationInput | Effect.Effect<Duration.Duration>
  /** The most attempts started after the first, per call (hedges and fallbacks together). Default `1`. */
  readonly maxHedges?: number
}

/**
 * What a `Hedger` has counted since it was made: `calls` run, calls `hedged`
 * (that started at least one attempt while another was still running), and
 * `hedgeWins` (calls won by an attempt started as a hedge).
 *
 * @since 0.1.0
 */
export const Stats = Schema.Struct({
  calls: Schema.Number,
  hedged: Schema.Number,
  hedgeWins: Schema.Number
})

/**
 * @since 0.1.0
 */
export type Stats = typeof Stats.Type

/**
 * Hedges calls with fixed options and counts what it did, so that metrics can
 * report it.
 *
 * @since 0.1.0
 */
export interface Hedger {
  /** Runs `attempts[0]`, hedged by the others as `race` does. */
  readonly run: <A, E, R>(attempts: Arr.NonEmptyReadonlyArray<Effect.Effect<A, E, R>>) => Effect.Effect<A, E, R>
  readonly stats: Effect.Effect<Stats>
}

/**
 * Whether hedging is on for a kind of request and, when on, which delay it
 * uses: `"p95"` (the route's observed p95 latency of successful responses) or
 * a fixed duration.
 *
 * @since 0.1.0
 */
export type Policy =
  | { readonly enabled: false }
  | { readonly enabled: true; readonly delay: "p95" | Duration.DurationInput }

/**
 * The default policies, as data: off for images (every hedge is a paid
 * generation), on for text after the route's p95 latency (the field's practice,
 * SCENARIOS.md).
 *
 * @since 0.1.0
 */
export const defaults: { readonly image: Policy; readonly text: Policy } = {
  image: { enabled: false },
  text: { enabled: true, delay: "p95" }
}

/**
 * How an attempt came to be started: the first one; beside a running attempt
 * that was slower than the delay (a hedge); or at once, because every started
 * attempt had failed (a fallback).
 *
 * @since 0.1.0
 */
export type Start = "primary" | "hedge" | "fallback"

/**
 * The outcome of one hedged call, for whoever keeps statistics.
 *
 * @since 0.1.0
 */
export interface Report {
  /** How each started attempt was started, in order. */
  readonly started: ReadonlyArray<Start>
  /** The index of the attempt that succeeded, if one did. */
  readonly winner: Option.Option<number>
}

interface Settled<A, E> {
  readonly index: number
  readonly exit: Exit.Exit<A, E>
}

const delayOf = (delay: Options["delay"]): Effect.Effect<Duration.Duration> =>
  Effect.isEffect(delay) ? delay : Effect.succeed(Duration.decode(delay))

/**
 * `race` over `attempts`, calling `report` once the call ends (in success,
 * failure or interruption) with how each attempt was started and which one
 * won; `make` counts with it, and a pipeline can keep per-route figures.
 *
 * @since 0.1.0
 */
export const raceReporting = <A, E, R>(
  attempts: Arr.NonEmptyReadonlyArray<Effect.Effect<A, E, R>>,
  options: Options,
  report: (report: Report) => Effect.Effect<void>
): Effect.Effect<A, E, R> =>
  Effect.scoped(Effect.gen(function*() {
    const limit = Math.min(attempts.length, 1 + Math.max(0, Math.floor(options.maxHedges ?? 1)))
    const nextDelay = delayOf(options.delay)
    const settled = yield* Queue.unbounded<Settled<A, E>>()
    const scope = yield* Effect.scope
    const started: Array<Start> = []
    const fibers: Array<Fiber.RuntimeFiber<boolean>> = []
    let winner: Option.Option<number> = Option.none()
    yield* Effect.addFinalizer(() => Effect.suspend(() => report({ started: [...started], winner })))

    // When the next hedge may start (epoch millis); recomputed at every start.
    let hedgeAt = 0
    const start = (kind: Start) =>
      Effect.gen(function*() {
        const index = started.length
        started.push(kind)
        const fiber = yield* attempts[index]!.pipe(
          Effect.exit,
          Effect.flatMap((exit) => Queue.offer(settled, { index, exit })),
          Effect.forkIn(scope)
        )
        fibers.push(fiber)
        const delay = yield* nextDelay
        hedgeAt = (yield* Clock.currentTimeMillis) + Duration.toMillis(delay)
      })

    // Waits for the next attempt to settle, or `None` when the next hedge is due first.
    const next: Effect.Effect<Option.Option<Settled<A, E>>> = Effect.gen(function*() {
      if (started.length >= limit) return Option.some(yield* Queue.take(settled))
      const wait = hedgeAt - (yield* Clock.currentTimeMillis)
      // An attempt that settled at the very moment the hedge fell due is handled first.
      if (wait <= 0) return yield* Queue.poll(settled)
      return yield* Effect.timeoutTo(Queue.take(settled), {
        duration: Duration.millis(wait),
        onSuccess: Option.some,
        onTimeout: Option.none
      })
    })

    yield* start("primary")
    let failures = 0
    let lastFailure: Cause.Cause<E> = Cause.empty
    while (true) {
      const event = yield* next
      if (Option.isNone(event)) {
        yield* start("hedge")
        continue
      }
      const { exit, index } = event.value
      if (Exit.isSuccess(exit)) {
        winner = Option.some(index)
        yield* Fiber.interruptAll(fibers.filter((_, i) => i !== index))
        return exit.value
      }
      failures++
      lastFailure = exit.cause
      if (failures < started.length) continue
      if (started.length < limit) {
        yield* start("fallback")
        continue
      }
      return yield* Effect.failCause(lastFailure)
    }
  }))

/**
 * Runs `primary`; if it has not finished after `delay`, starts the first
 * alternate beside it, and so on (each after another `delay`) up to
 * `maxHedges` extra attempts.
 *
 * - The first success wins; every other running attempt is interrupted and
 *   awaited before the result is returned, so a provider call's HTTP request
 *   is aborted.
 * - A failure does not win: the other attempts keep running. A defect, or an
 *   interruption from elsewhere, ends an attempt like a failure.
 * - When every started attempt has failed before the delay, the next one is
 *   started at once: it is then a fallback, not a hedge (it still counts
 *   towards `maxHedges`, which caps extra requests whatever their kind).
 * - When every started attempt has failed and no more may be started, the call
 *   fails with the error of the last attempt to fail, as an `Effect.orElse`
 *   chain would.
 * - Interrupting the call interrupts every attempt.
 *
 * Time comes from `Clock`, so `TestClock` drives it.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { Hedge } from "@ballast/core"
 *
 * const slow = Effect.succeed("primary").pipe(Effect.delay("2 seconds"))
 * const fast = Effect.succeed("secondary").pipe(Effect.delay("100 millis"))
 * // "secondary", after 600 ms; `slow` is interrupted
 * const answer = slow.pipe(Hedge.race([fast], { delay: "500 millis" }))
 */
export const race: {
  <A2, E2, R2>(
    alternates: ReadonlyArray<Effect.Effect<A2, E2, R2>>,
    options: Options
  ): <A, E, R>(primary: Effect.Effect<A, E, R>) => Effect.Effect<A | A2, E | E2, R | R2>
  <A, E, R, A2, E2, R2>(
    primary: Effect.Effect<A, E, R>,
    alternates: ReadonlyArray<Effect.Effect<A2, E2, R2>>,
    options: Options
  ): Effect.Effect<A | A2, E | E2, R | R2>
} = dual(3, <A, E, R, A2, E2, R2>(
  primary: Effect.Effect<A, E, R>,
  alternates: ReadonlyArray<Effect.Effect<A2, E2, R2>>,
  options: Options
): Effect.Effect<A | A2, E | E2, R | R2> =>
  raceReporting<A | A2, E | E2, R | R2>([primary, ...alternates], options, () => Effect.void))

/**
 * Nothing counted yet.
 *
 * @since 0.1.0
 */
export const noStats: Stats = { calls: 0, hedged: 0, hedgeWins: 0 }

/**
 * Adds one call's report to the counts: a call, hedged if any attempt was
 * started as a hedge, a hedge win if such an attempt won.
 *
 * @since 0.1.0
 */
export const tally = ({ started, winner }: Report) => (stats: Stats): Stats => ({
  calls: stats.calls + 1,
  hedged: stats.hedged + (started.includes("hedge") ? 1 : 0),
  hedgeWins: stats.hedgeWins + (Option.isSome(winner) && started[winner.value] === "hedge" ? 1 : 0)
})

/**
 * Makes a `Hedger` with fixed options, which counts its calls, the calls it
 * hedged and the calls a hedge won.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { Hedge } from "@ballast/core"
 *
 * const program = Effect.gen(function* () {
 *   const hedger = yield* Hedge.make({ delay: "800 millis", maxHedges: 1 })
 *   const answer = yield* hedger.run([Effect.succeed("primary"), Effect.succeed("secondary")])
 *   const { calls, hedged, hedgeWins } = yield* hedger.stats
 * })
 */
export const make = (options: Options): Effect.Effect<Hedger> =>
  Effect.map(Ref.make(noStats), (stats) => {
    const count = (report: Report) => Ref.update(stats, tally(report))
    return {
      run: (attempts) => raceReporting(attempts, options, count),
      stats: Ref.get(stats)
    }
  })
