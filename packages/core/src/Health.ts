/**
 * Background health probes with hysteresis: one fiber per probed route runs
 * the route's cheap `probe` at once and then again after a random 15–30 s, and
 * a small state machine (`healthy` / `degraded` / `down`) turns the outcomes
 * into a status that does not flap on a single blip.
 *
 * Time comes only from `Clock` and randomness only from `Random`, so tests
 * drive the probes with `TestClock` and a seeded `Random`.
 *
 * @since 0.1.0
 */
import { Array as Arr, Cause, Clock, Duration, Effect, Exit, Option, Order, PubSub, Random, Schedule, Schema, Stream } from "effect"
import type { Scope } from "effect"
import type { GenerationError } from "./Errors.js"

// ---------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------

/**
 * How a route is doing: `degraded` after a first failed probe (or a first
 * success after being down), `down` after `failuresToDown` failures in a row.
 *
 * @since 0.1.0
 */
export const Status = Schema.Literal("healthy", "degraded", "down")

/**
 * @since 0.1.0
 */
export type Status = typeof Status.Type

/**
 * The health of one probed route, as plain JSON-able data for dashboards.
 * The `last*` fields describe the most recent probe (`lastError` is `null`
 * when it succeeded); times are epoch milliseconds.
 *
 * @since 0.1.0
 */
export const RouteHealth = Schema.Struct({
  route: Schema.String,
  status: Status,
  consecutiveFailures: Schema.Number,
  consecutiveSuccesses: Schema.Number,
  probes: Schema.Number,
  lastProbeAt: Schema.NullOr(Schema.Number),
  lastLatencyMs: Schema.NullOr(Schema.Number),
  lastError: Schema.NullOr(Schema.String),
  since: Schema.Number
})

/**
 * @since 0.1.0
 */
export type RouteHealth = typeof RouteHealth.Type

/**
 * The result of one probe: whether it succeeded, when it ended (epoch ms), how
 * long it took, and why it failed.
 *
 * @since 0.1.0
 */
export interface Outcome {
  readonly success: boolean
  readonly at: number
  readonly latencyMs: number
  readonly error?: string
}

/**
 * How often routes are probed, how long a probe may take, and how many probes
 * in a row move a route to `down` and back to `healthy`.
 *
 * @since 0.1.0
 */
export interface Settings {
  /** The shortest delay between the end of a probe and the start of the next. */
  readonly interval: Duration.DurationInput
  /** The longest such delay; each delay is drawn uniformly from `[interval, maxInterval)`. */
  readonly maxInterval: Duration.DurationInput
  /** A probe that takes longer fails, and is interrupted. */
  readonly timeout: Duration.DurationInput
  /** Failed probes in a row (counting the one that degraded the route) that make it `down`. */
  readonly failuresToDown: number
  /** Successful probes in a row that make a route `healthy` again. */
  readonly successesToHealthy: number
}

/**
 * The default settings: probes every 15–30 s (SCENARIOS.md), a 10 s probe
 * timeout, and two probes in a row to go down or to come back.
 *
 * @since 0.1.0
 */
export const defaults: Settings = {
  interval: "15 seconds",
  maxInterval: "30 seconds",
  timeout: "10 seconds",
  failuresToDown: 2,
  successesToHealthy: 2
}

// ---------------------------------------------------------------------------
// Transition
// ---------------------------------------------------------------------------

/**
 * The state of a route that has not been probed yet: `healthy`, so that a
 * route is used until a probe says otherwise.
 *
 * @since 0.1.0
 */
export const initial = (route: string, at: number): RouteHealth => ({
  route,
  status: "healthy",
  consecutiveFailures: 0,
  consecutiveSuccesses: 0,
  probes: 0,
  lastProbeAt: null,
  lastLatencyMs: null,
  lastError: null,
  since: at
})

/**
 * The state of a route after one more probe outcome, with hysteresis: `down`
 * exactly when the last `failuresToDown` probes failed, `healthy` again only
 * after `successesToHealthy` successes in a row, `degraded` in between.
 *
 * @since 0.1.0
 */
export const transition = (
  state: RouteHealth,
  outcome: Outcome,
  settings: Pick<Settings, "failuresToDown" | "successesToHealthy">
): RouteHealth => {
  const consecutiveFailures = outcome.success ? 0 : state.consecutiveFailures + 1
  const consecutiveSuccesses = outcome.success ? state.consecutiveSuccesses + 1 : 0
  const status: Status = outcome.success
    ? consecutiveSuccesses >= atLeastOne(settings.successesToHealthy)
      ? "healthy"
      : state.status === "down"
      ? "degraded"
      : state.status
    : consecutiveFailures >= atLeastOne(settings.failuresToDown)
    ? "down"
    : state.status === "healthy"
    ? "degraded"
    : state.status
  return {
    route: state.route,
    status,
    consecutiveFailures,
    consecutiveSuccesses,
    probes: state.probes + 1,
    lastProbeAt: outcome.at,
    lastLatencyMs: outcome.latencyMs,
    lastError: outcome.success ? null : outcome.error ?? "probe failed",
    since: status === state.status ? state.since : outcome.at
  }
}

// A threshold below one would make a route down (or healthy) before any probe.
const atLeastOne = (n: number): number => Math.max(1, Math.floor(n))

// ---------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------

/**
 * The health of every probed route, kept up to date by background probes.
 *
 * @since 0.1.0
 */
export interface Health {
  /** Sync read for the request hot path; routes without a probe are "healthy". */
  readonly unsafeStatus: (route: string) => Status
  /** The status of a route; routes without a probe are "healthy". */
  readonly status: (route: string) => Effect.Effect<Status>
  /** The health of every probed route, sorted by route. */
  readonly snapshot: Effect.Effect<ReadonlyArray<RouteHealth>>
  /** Every change of a route's status, from the moment the stream is run. */
  readonly changes: Stream.Stream<RouteHealth>
  /** Runs one probe of `route` at once and records it; `undefined` when the route has no probe. */
  readonly probeNow: (route: string) => Effect.Effect<RouteHealth | undefined>
}

/**
 * Options of `make`.
 *
 * @since 0.1.0
 */
export interface Options {
  /** A cheap check per route, e.g. `{ "gemini-pro": generator.probe }`. */
  readonly probes: Readonly<Record<string, Effect.Effect<void, GenerationError>>>
  /** Overrides of `defaults`. */
  readonly settings?: Partial<Settings>
  /** Called after every probe, e.g. to count it into the route's observed success rate. */
  readonly onProbe?: (route: string, outcome: { readonly success: boolean; readonly latencyMs: number }) => Effect.Effect<void>
}

const byRoute = Order.mapInput(Order.string, (health: RouteHealth) => health.route)

/**
 * Starts one background probe fiber per route in the caller's `Scope`
 * (closing the scope stops the probes) and returns the routes' health.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Health } from "@ballast/core"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const health = yield* Health.make({ probes: { "gemini-pro": Effect.void } })
 *   if (health.unsafeStatus("gemini-pro") === "down") {
 *     // route around it
 *   }
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<Health, never, Scope.Scope> =>
  Effect.gen(function*() {
    const settings: Settings = { ...defaults, ...options.settings }
    const timeout = Duration.decode(settings.timeout)
    const interval = Duration.decode(settings.interval)
    const spreadMs = Math.max(0, Duration.toMillis(settings.maxInterval) - Duration.toMillis(interval))
    const startedAt = yield* Clock.currentTimeMillis
    const probes = new Map(Object.entries(options.probes))
    // A plain Map rather than a Ref so that `unsafeStatus` can answer without
    // running an effect on the request hot path; every read-modify-write of it
    // happens inside one `Effect.sync`, which nothing can interleave with.
    const states = new Map(Arr.map(Arr.fromIterable(probes.keys()), (route) => [route, initial(route, startedAt)]))
    const changes = yield* PubSub.unbounded<RouteHealth>()
    // Ends the `changes` streams of subscribers when the probes stop.
    yield* Effect.addFinalizer(() => PubSub.shutdown(changes))

    const describe = (cause: Cause.Cause<GenerationError | Cause.TimeoutException>): string =>
      Option.match(Cause.failureOption(cause), {
        onNone: () => String(Cause.squash(cause)),
        onSome: (error) =>
          Cause.isTimeoutException(error)
            ? `probe timed out after ${Duration.format(timeout)}`
            : `${error._tag}: ${error.message}`
      })

    const probeOnce = (route: string, probe: Effect.Effect<void, GenerationError>) =>
      Effect.gen(function*() {
        const start = yield* Clock.currentTimeMillis
        // `Effect.timeout` interrupts the probe when time is up, aborting its request.
        const exit = yield* Effect.exit(Effect.timeout(probe, timeout))
        const at = yield* Clock.currentTimeMillis
        const latencyMs = at - start
        const outcome: Outcome = Exit.isSuccess(exit)
          ? { success: true, at, latencyMs }
          : { success: false, at, latencyMs, error: describe(exit.cause) }
        const [next, changed] = yield* Effect.sync(() => {
          const previous = states.get(route) ?? initial(route, startedAt)
          const next = transition(previous, outcome, settings)
          states.set(route, next)
          return [next, next.status !== previous.status] as const
        })
        if (changed) yield* PubSub.publish(changes, next)
        if (options.onProbe !== undefined) yield* options.onProbe(route, { success: outcome.success, latencyMs })
        return next
      })

    // The delay counts from the end of a probe, so probes of a route never overlap.
    const schedule = Schedule.spaced(interval).pipe(
      Schedule.addDelayEffect(() => Effect.map(Random.nextRange(0, spreadMs), Duration.millis))
    )
    yield* Effect.forEach(
      probes,
      ([route, probe]) => Effect.forkScoped(Effect.repeat(probeOnce(route, probe), schedule)),
      { discard: true }
    )

    const unsafeStatus = (route: string): Status => states.get(route)?.status ?? "healthy"
    return {
      unsafeStatus,
      status: (route) => Effect.sync(() => unsafeStatus(route)),
      snapshot: Effect.sync(() => Arr.sort(states.values(), byRoute)),
      changes: Stream.fromPubSub(changes),
      probeNow: (route) => {
        const probe = probes.get(route)
        return probe === undefined ? Effect.succeed(undefined) : probeOnce(route, probe)
      }
    }
  })
