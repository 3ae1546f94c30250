/**
 * A circuit breaker per route: a `Ref` holding a `Closed` / `Open` / `HalfOpen`
 * / `Isolated` state machine. Pluggable opening strategies decide when a closed
 * breaker opens; an open breaker fails fast with `CircuitOpen` until its open
 * duration has passed, then lets exactly one probe through. Every change of
 * state is published as a `Transition`, and the whole breaker can be saved as a
 * JSON-serialisable `Snapshot` (to share it through Redis) and restored.
 *
 * Time comes only from `Clock` and nothing runs in the background: an open
 * breaker becomes half-open lazily, when the first call after `until` arrives.
 *
 * @since 0.1.0
 */
import { Cause, DateTime, Duration, Effect, Exit, Option, Predicate, PubSub, Ref, Schema, Stream } from "effect"
import { dual } from "effect/Function"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { CircuitOpen, type GenerationErrorTag } from "./Errors.js"

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

/**
 * Calls go through; the opening strategies count their outcomes.
 *
 * @since 0.1.0
 */
export const Closed = Schema.TaggedStruct("Closed", {})

/**
 * @since 0.1.0
 */
export type Closed = typeof Closed.Type

/**
 * Calls fail fast with `CircuitOpen` until `until` (epoch milliseconds). `attempt`
 * is 1 when the breaker first opens and grows by one each time a half-open probe
 * fails; the open duration grows with it.
 *
 * @since 0.1.0
 */
export const Open = Schema.TaggedStruct("Open", {
  openedAt: Schema.Number,
  until: Schema.Number,
  attempt: Schema.Number
})

/**
 * @since 0.1.0
 */
export type Open = typeof Open.Type

/**
 * The open duration has passed. While `inFlight`, one probe call is running and
 * every other call fails fast; otherwise the next call becomes the probe.
 *
 * @since 0.1.0
 */
export const HalfOpen = Schema.TaggedStruct("HalfOpen", {
  inFlight: Schema.Boolean,
  attempt: Schema.Number
})

/**
 * @since 0.1.0
 */
export type HalfOpen = typeof HalfOpen.Type

/**
 * Opened by hand with `isolate`: every call fails fast and the breaker never
 * half-opens until `reset`.
 *
 * @since 0.1.0
 */
export const Isolated = Schema.TaggedStruct("Isolated", {})

/**
 * @since 0.1.0
 */
export type Isolated = typeof Isolated.Type

/**
 * The state of a breaker, as a Schema and as a type. All times are epoch
 * milliseconds read from `Clock`.
 *
 * @since 0.1.0
 */
export const State = Schema.Union(Closed, Open, HalfOpen, Isolated)

/**
 * @since 0.1.0
 */
export type State = typeof State.Type

/**
 * Whether a breaker in `state` would let a call through at time `at` (epoch
 * ms): closed, open with its open duration over by then (the call would be the
 * probe), or half-open with no probe in flight.
 *
 * @since 0.1.0
 */
export const isAvailable = (state: State, at: number): boolean => {
  switch (state._tag) {
    case "Closed":
      return true
    case "Open":
      return at >= state.until
    case "HalfOpen":
      return !state.inFlight
    case "Isolated":
      return false
  }
}

/**
 * A change of a breaker's state tag, published on `CircuitBreaker.transitions`.
 *
 * @since 0.1.0
 */
export interface Transition {
  readonly route: string
  readonly from: State["_tag"]
  readonly to: State["_tag"]
  /** Epoch milliseconds. */
  readonly at: number
}

// ---------------------------------------------------------------------------
// Opening strategies
// ---------------------------------------------------------------------------

/**
 * What an opening strategy remembers: a fixed-length vector of finite numbers
 * (counts and times), so that every strategy saves into a `Snapshot` the same way.
 *
 * @since 0.1.0
 */
export type Statistics = ReadonlyArray<number>

/**
 * Decides when a closed breaker opens: a pure reducer over the outcomes of the
 * calls the breaker counts. Calls that end in a non-counted error (a
 * `BadRequest`, an interruption, a defect) are never recorded.
 *
 * The breaker starts from `initial`, folds every counted outcome in with
 * `record` (with the `Clock` time of the outcome, never decreasing in practice),
 * asks `shouldOpen` right after each recorded failure, and starts again from
 * `initial` whenever its state changes.
 *
 * @since 0.1.0
 */
export interface OpeningStrategy {
  /**
   * Names the strategy and its parameters, e.g. `"consecutiveFailures(5)"`. A
   * snapshot's statistics are restored only into a strategy of the same name, so
   * changing a parameter discards statistics gathered under the old one.
   */
  readonly name: string
  /** The statistics of a freshly closed breaker. */
  readonly initial: Statistics
  /** Folds one outcome (`failure` or success) at `now` into the statistics, returning new ones. */
  readonly record: (statistics: Statistics, failure: boolean, now: number) => Statistics
  /** Whether the breaker should open, given the statistics right after a failure. */
  readonly shouldOpen: (statistics: Statistics) => boolean
}

/**
 * The defaults from the field (DESIGN.md): open after 5 consecutive failures or
 * more than 25% of at least 10 calls over 60 s; stay open 30 s, doubling while
 * probes fail, up to 60 s.
 *
 * @since 0.1.0
 */
export const defaults: {
  readonly consecutiveFailures: number
  readonly failureRatio: number
  readonly window: Duration.Duration
  readonly minimumCalls: number
  readonly openDuration: Duration.Duration
  readonly maxOpenDuration: Duration.Duration
  readonly backoffFactor: number
} = {
  consecutiveFailures: 5,
  failureRatio: 0.25,
  window: Duration.seconds(60),
  minimumCalls: 10,
  openDuration: Duration.seconds(30),
  maxOpenDuration: Duration.seconds(60),
  backoffFactor: 2
}

/**
 * Opens after `threshold` counted failures in a row; a success starts the count
 * again. Statistics: `[failuresInARow]`.
 *
 * @since 0.1.0
 */
export const consecutiveFailures = (threshold: number): OpeningStrategy => {
  const reset: Statistics = [0]
  return {
    name: `consecutiveFailures(${threshold})`,
    initial: reset,
    record: (statistics, failure) => failure ? [(statistics[0] ?? 0) + 1] : statistics[0] === 0 ? statistics : reset,
    shouldOpen: (statistics) => (statistics[0] ?? 0) >= threshold
  }
}

// Layout of a failure-ratio statistics vector: the newest bucket's index, the
// totals over the window, then one ring of call counts and one of failure counts.
const HEAD = 0
const CALLS = 1
const FAILURES = 2
const RING = 3

/**
 * Opens when, right after a failure, the calls in the sliding window number at
 * least `minimumCalls` and `failures / calls > threshold`.
 *
 * The window is a ring of `buckets` time buckets (default 60), so memory is
 * O(buckets) whatever the traffic. With `W` the window in milliseconds and `B`
 * the number of buckets, a call at time `t` falls in bucket `⌊t·B/W⌋`, and at
 * time `now` the window holds exactly the calls whose bucket is greater than
 * `⌊now·B/W⌋ − B`: the current bucket and the `B − 1` before it, i.e. between
 * `W − W/B` and `W` of history. (A call timed before the newest bucket seen, if
 * the clock ever went back, counts in the newest bucket.)
 *
 * @since 0.1.0
 * @example
 * import { CircuitBreaker } from "@ballast/core"
 *
 * // the default: more than 25% of at least 10 calls over the last minute
 * const ratio = CircuitBreaker.failureRatio({ threshold: 0.25, window: "60 seconds", minimumCalls: 10 })
 */
export const failureRatio = (options: {
  readonly threshold: number
  readonly window: Duration.DurationInput
  readonly minimumCalls: number
  readonly buckets?: number
}): OpeningStrategy => {
  const { minimumCalls, threshold } = options
  const buckets = Math.max(1, Math.floor(options.buckets ?? 60))
  const windowMillis = Math.max(1, Duration.toMillis(options.window))
  const initial: Statistics = new Array<number>(RING + 2 * buckets).fill(0)
  return {
    name: `failureRatio(${threshold},${windowMillis}ms,${minimumCalls},${buckets})`,
    initial,
    record: (statistics, failure, now) => {
      const next = statistics.slice()
      const bucket = Math.floor(now * buckets / windowMillis)
      const head = next[HEAD]!
      if (bucket > head) {
        // Buckets older than the window are cleared as the head moves past them.
        const expired = Math.min(bucket - head, buckets)
        for (let i = 1; i <= expired; i++) {
          const slot = (head + i) % buckets
          next[CALLS]! -= next[RING + slot]!
          next[FAILURES]! -= next[RING + buckets + slot]!
          next[RING + slot] = 0
          next[RING + buckets + slot] = 0
        }
        next[HEAD] = bucket
      }
      const slot = next[HEAD]! % buckets
      next[CALLS]! += 1
      next[RING + slot]! += 1
      if (failure) {
        next[FAILURES]! += 1
        next[RING + buckets + slot]! += 1
      }
      return next
    },
    shouldOpen: (statistics) => {
      const calls = statistics[CALLS]!
      return calls >= minimumCalls && statistics[FAILURES]! / calls > threshold
    }
  }
}

/**
 * The default opening strategies: 5 consecutive failures, or more than 25% of at
 * least 10 calls over 60 seconds.
 *
 * @since 0.1.0
 */
export const defaultStrategies: ReadonlyArray<OpeningStrategy> = [
  consecutiveFailures(defaults.consecutiveFailures),
  failureRatio({ threshold: defaults.failureRatio, window: defaults.window, minimumCalls: defaults.minimumCalls })
]

// ---------------------------------------------------------------------------
// Which errors count
// ---------------------------------------------------------------------------

/**
 * The error tags a breaker counts as failures by default: the provider is down,
 * overloaded, limiting us, too slow, or refusing our credentials.
 *
 * @since 0.1.0
 */
export const defaultCountedTags: NonEmptyReadonlyArray<GenerationErrorTag> = [
  "Overloaded",
  "RateLimited",
  "Timeout",
  "ProviderUnavailable",
  "Unauthorized"
]

/**
 * A predicate counting the errors with one of `tags`, for `Options.isFailure`.
 * `BadRequest` is never counted, even if listed: the provider answered.
 *
 * @since 0.1.0
 */
export const countingTags = (tags: ReadonlyArray<GenerationErrorTag>): (error: unknown) => boolean => {
  const counted: ReadonlySet<string> = new Set(tags.filter((tag) => tag !== "BadRequest"))
  return (error) => Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" && counted.has(error._tag)
}

const countedByDefault = countingTags(defaultCountedTags)

// ---------------------------------------------------------------------------
// Snapshot
// ---------------------------------------------------------------------------

/**
 * Everything a breaker knows, as plain JSON: its state and each strategy's
 * statistics (in the order of `Options.strategies`, named by `OpeningStrategy.name`).
 *
 * @since 0.1.0
 */
export const Snapshot = Schema.Struct({
  state: State,
  statistics: Schema.Array(Schema.Struct({
    strategy: Schema.String,
    values: Schema.Array(Schema.Number)
  }))
})

/**
 * @since 0.1.0
 */
export type Snapshot = typeof Snapshot.Type

// ---------------------------------------------------------------------------
// The breaker
// ---------------------------------------------------------------------------

/**
 * How a breaker opens, for how long, and which errors count.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The route this breaker guards; copied into `CircuitOpen` errors and transitions. */
  readonly route: string
  /** Copied into `CircuitOpen` errors. Default `"ballast"`. */
  readonly provider?: string
  /** Copied into `CircuitOpen` errors. Default: the route. */
  readonly model?: string
  /** When a closed breaker opens: as soon as any strategy says so. Default `defaultStrategies`. */
  readonly strategies?: ReadonlyArray<OpeningStrategy>
  /** How long the breaker stays open the first time. Default 30 seconds. */
  readonly openDuration?: Duration.DurationInput
  /** The cap on the growing open duration. Default 60 seconds. */
  readonly maxOpenDuration?: Duration.DurationInput
  /** Each failed probe multiplies the open duration by this. Default 2. */
  readonly backoffFactor?: number
  /**
   * Which errors count as failures. Default: the tags in `defaultCountedTags`.
   * A `BadRequest` never counts, whatever this says.
   */
  readonly isFailure?: (error: unknown) => boolean
  /**
   * A call that succeeds but takes at least this long, from admission to
   * completion (measured with `Clock`), counts as a failure for the opening
   * strategies and for a half-open probe; the caller still gets its value. A
   * model that answers in 170 s is as good as down for a real-time caller, and
   * without this rule a breaker would keep sending traffic to it. Default: unset,
   * no call is too slow.
   */
  readonly slowCallThreshold?: Duration.DurationInput
}

/**
 * A circuit breaker for one route.
 *
 * @since 0.1.0
 */
export interface CircuitBreaker {
  readonly route: string
  /**
   * The current state. An `Open` state whose `until` has passed is reported as
   * is: it becomes `HalfOpen` when the next call arrives.
   */
  readonly state: Effect.Effect<State>
  /** Runs an effect through the breaker, or fails fast with `CircuitOpen`. */
  readonly guard: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitOpen, R>
  /** Opens the breaker by hand until `reset`. */
  readonly isolate: Effect.Effect<void>
  /** Closes the breaker by hand and clears its statistics. */
  readonly reset: Effect.Effect<void>
  /**
   * Every change of state tag, in order. Each run of the stream sees the
   * transitions made after it subscribed.
   */
  readonly transitions: Stream.Stream<Transition>
  /** The state and statistics, to save. */
  readonly snapshot: Effect.Effect<Snapshot>
  /**
   * Replaces the state and statistics with a saved snapshot. A snapshot taken
   * while a probe was in flight restores as `HalfOpen` without one (that probe
   * is not ours to finish), and statistics saved under a different strategy
   * name or length are dropped.
   */
  readonly restore: (snapshot: Snapshot) => Effect.Effect<void>
}

// What the Ref holds. `generation` changes with every change of state, so an
// outcome is only applied to the state it was admitted under.
interface Cell {
  readonly state: State
  readonly statistics: ReadonlyArray<Statistics>
  readonly generation: number
}

interface Rejection {
  readonly _tag: "Reject"
  readonly generation: number
  readonly retryAt: number | undefined
  readonly reason: string
}

type Admission =
  | { readonly _tag: "Call"; readonly generation: number }
  | { readonly _tag: "Probe"; readonly generation: number }
  | Rejection

type Verdict = "success" | "failure" | "ignored"

const reject = (current: Cell, retryAt: number | undefined, reason: string): Rejection => ({
  _tag: "Reject",
  generation: current.generation,
  retryAt,
  reason
})

const closed: State = { _tag: "Closed" }
const isolated: State = { _tag: "Isolated" }

/**
 * Makes a closed circuit breaker.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "@ballast/core"
 *
 * const program = Effect.gen(function* () {
 *   const breaker = yield* CircuitBreaker.make({ route: "google/gemini-3-pro-image-preview" })
 *   const result = yield* Effect.succeed("image").pipe(CircuitBreaker.withBreaker(breaker))
 *   return result
 * })
 */
export const make = (options: Options): Effect.Effect<CircuitBreaker> =>
  Effect.gen(function* () {
    const route = options.route
    const provider = options.provider ?? "ballast"
    const model = options.model ?? route
    const strategies = options.strategies ?? defaultStrategies
    const initialStatistics = strategies.map((strategy) => strategy.initial)
    const counts = options.isFailure ?? countedByDefault
    const baseMillis = Duration.toMillis(options.openDuration ?? defaults.openDuration)
    const maxMillis = Duration.toMillis(options.maxOpenDuration ?? defaults.maxOpenDuration)
    const factor = options.backoffFactor ?? defaults.backoffFactor
    const slowMillis = options.slowCallThreshold === undefined
      ? undefined
      : Duration.toMillis(options.slowCallThreshold)

    const cell = yield* Ref.make<Cell>({ state: closed, statistics: initialStatistics, generation: 0 })
    const pubsub = yield* PubSub.unbounded<Transition>()

    const isCounted = (error: unknown): boolean => !Predicate.isTagged(error, "BadRequest") && counts(error)

    const verdictOf = <A, E>(exit: Exit.Exit<A, E>): Verdict => {
      if (Exit.isSuccess(exit)) return "success"
      const error = Cause.failureOption(exit.cause)
      return Option.isSome(error) && isCounted(error.value) ? "failure" : "ignored"
    }

    // A success that took `slowMillis` or longer since `admittedAt` is a failure
    // for the breaker, though not for the caller.
    const verdictAt = <A, E>(exit: Exit.Exit<A, E>, admittedAt: number, now: number): Verdict => {
      const verdict = verdictOf(exit)
      return verdict === "success" && slowMillis !== undefined && now - admittedAt >= slowMillis ? "failure" : verdict
    }

    const openUntil = (now: number, attempt: number): State => ({
      _tag: "Open",
      openedAt: now,
      until: now + Math.min(baseMillis * factor ** (attempt - 1), maxMillis),
      attempt
    })

    // Every change of state goes through here, inside a `Ref.modify`/`update`,
    // and is published in the same synchronous step so that subscribers see
    // transitions in the order they happened, even when fibers race.
    const moveTo = (current: Cell, state: State, now: number, statistics = initialStatistics): Cell => {
      if (current.state._tag !== state._tag) {
        pubsub.unsafeOffer({ route, from: current.state._tag, to: state._tag, at: now })
      }
      return { state, statistics, generation: current.generation + 1 }
    }

    const circuitOpen = (retryAt: number | undefined, reason: string): CircuitOpen =>
      new CircuitOpen({
        provider,
        model,
        route,
        message: `The circuit breaker of route ${route} is ${reason}`,
        retryAt: retryAt === undefined ? Option.none() : Option.some(DateTime.unsafeMake(retryAt))
      }, { disableValidation: true })

    // During an outage nearly every call is turned away, and a new error costs
    // a stack trace; one error serves every rejection that would say the same.
    let last: { readonly rejection: Rejection; readonly error: CircuitOpen } | undefined
    const rejection = (rejection: Rejection): CircuitOpen => {
      if (
        last === undefined || last.rejection.generation !== rejection.generation ||
        last.rejection.retryAt !== rejection.retryAt
      ) {
        last = { rejection, error: circuitOpen(rejection.retryAt, rejection.reason) }
      }
      return last.error
    }

    const recordCall = (generation: number, verdict: Verdict) =>
      verdict === "ignored" ? Effect.void : Effect.clockWith((clock) =>
        Ref.update(cell, (current) => {
          if (current.generation !== generation) return current
          const now = clock.unsafeCurrentTimeMillis()
          const failure = verdict === "failure"
          const statistics = new Array<Statistics>(strategies.length)
          let open = false
          for (let i = 0; i < strategies.length; i++) {
            const strategy = strategies[i]!
            statistics[i] = strategy.record(current.statistics[i]!, failure, now)
            if (failure && !open && strategy.shouldOpen(statistics[i]!)) open = true
          }
          return open
            ? moveTo(current, openUntil(now, 1), now)
            : { state: current.state, statistics, generation }
        }))

    const settleProbe = (generation: number, verdict: Verdict) =>
      Effect.clockWith((clock) =>
        Ref.update(cell, (current) => {
          // A reset, isolate or restore during the probe wins over its outcome.
          if (current.generation !== generation || current.state._tag !== "HalfOpen") return current
          const now = clock.unsafeCurrentTimeMillis()
          return verdict === "failure"
            ? moveTo(current, openUntil(now, current.state.attempt + 1), now)
            : moveTo(current, closed, now)
        }))

    const releaseProbe = (generation: number) =>
      Ref.update(cell, (current): Cell =>
        current.generation === generation && current.state._tag === "HalfOpen"
          ? {
            state: { _tag: "HalfOpen", inFlight: false, attempt: current.state.attempt },
            statistics: current.statistics,
            generation: current.generation + 1
          }
          : current)

    const admit = (now: number) => (current: Cell): readonly [Admission, Cell] => {
      const state = current.state
      switch (state._tag) {
        case "Closed":
          return [{ _tag: "Call", generation: current.generation }, current]
        case "Open": {
          if (now < state.until) return [reject(current, state.until, "open"), current]
          const next = moveTo(current, { _tag: "HalfOpen", inFlight: true, attempt: state.attempt }, now)
          return [{ _tag: "Probe", generation: next.generation }, next]
        }
        case "HalfOpen": {
          if (state.inFlight) {
            return [reject(current, undefined, "half-open with a probe in flight"), current]
          }
          const next = moveTo(current, { _tag: "HalfOpen", inFlight: true, attempt: state.attempt }, now)
          return [{ _tag: "Probe", generation: next.generation }, next]
        }
        case "Isolated":
          return [reject(current, undefined, "isolated"), current]
      }
    }

    // Anything but a closed breaker: admission may take the probe slot, so it
    // and the hook that frees the slot are installed without interruption.
    const guardNotClosed = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | CircuitOpen, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.clockWith((clock) => {
          const admittedAt = clock.unsafeCurrentTimeMillis()
          return Effect.flatMap(
            Ref.modify(cell, admit(admittedAt)),
            (admission): Effect.Effect<A, E | CircuitOpen, R> => {
              switch (admission._tag) {
                case "Reject":
                  return Effect.fail(rejection(admission))
                case "Call":
                  return Effect.onExit(restore(self), (exit) =>
                    recordCall(
                      admission.generation,
                      verdictAt(exit, admittedAt, clock.unsafeCurrentTimeMillis())
                    ))
                case "Probe":
                  return Effect.onExit(restore(self), (exit) =>
                    Exit.isFailure(exit) && Option.isNone(Cause.failureOption(exit.cause))
                      // Interrupted or died: no verdict on the route, the next caller probes.
                      ? releaseProbe(admission.generation)
                      : settleProbe(
                        admission.generation,
                        verdictAt(exit, admittedAt, clock.unsafeCurrentTimeMillis())
                      ))
              }
            }
          )
        }))

    // The closed path is the hot one: without a slow-call rule it reads no clock.
    const guardClosed = <A, E, R>(self: Effect.Effect<A, E, R>, generation: number): Effect.Effect<A, E, R> =>
      slowMillis === undefined
        ? Effect.onExit(self, (exit) => recordCall(generation, verdictOf(exit)))
        : Effect.clockWith((clock) => {
          const admittedAt = clock.unsafeCurrentTimeMillis()
          return Effect.onExit(self, (exit) =>
            recordCall(generation, verdictAt(exit, admittedAt, clock.unsafeCurrentTimeMillis())))
        })

    const guard = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | CircuitOpen, R> =>
      Effect.flatMap(Ref.get(cell), (current) =>
        current.state._tag === "Closed"
          ? guardClosed(self, current.generation)
          : guardNotClosed(self))

    const setState = (state: State) =>
      Effect.clockWith((clock) =>
        Ref.update(cell, (current) => moveTo(current, state, clock.unsafeCurrentTimeMillis())))

    const restoreFrom = (snapshot: Snapshot) =>
      Effect.clockWith((clock) =>
        Ref.update(cell, (current) => {
          const state: State = snapshot.state._tag === "HalfOpen" && snapshot.state.inFlight
            ? { _tag: "HalfOpen", inFlight: false, attempt: snapshot.state.attempt }
            : snapshot.state
          const statistics = strategies.map((strategy, i) => {
            const saved = snapshot.statistics[i]
            return saved !== undefined && saved.strategy === strategy.name &&
                saved.values.length === strategy.initial.length
              ? saved.values
              : strategy.initial
          })
          return moveTo(current, state, clock.unsafeCurrentTimeMillis(), statistics)
        }))

    const breaker: CircuitBreaker = {
      route,
      state: Effect.map(Ref.get(cell), (current) => current.state),
      guard,
      isolate: setState(isolated),
      reset: setState(closed),
      transitions: Stream.fromPubSub(pubsub),
      snapshot: Effect.map(Ref.get(cell), (current): Snapshot => ({
        state: current.state,
        statistics: strategies.map((strategy, i) => ({ strategy: strategy.name, values: current.statistics[i]! }))
      })),
      restore: restoreFrom
    }
    return breaker
  })

/**
 * Runs an effect through a circuit breaker: `withBreaker(effect, breaker)` or
 * `effect.pipe(withBreaker(breaker))`.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { CircuitBreaker } from "@ballast/core"
 *
 * const program = Effect.gen(function* () {
 *   const breaker = yield* CircuitBreaker.make({ route: "openai/gpt-image-2" })
 *   return yield* Effect.succeed(42).pipe(CircuitBreaker.withBreaker(breaker))
 * })
 */
export const withBreaker: {
  (breaker: CircuitBreaker): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitOpen, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, breaker: CircuitBreaker): Effect.Effect<A, E | CircuitOpen, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, breaker: CircuitBreaker): Effect.Effect<A, E | CircuitOpen, R> =>
    breaker.guard(self)
)
