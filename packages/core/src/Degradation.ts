/**
 * Adaptive resolution per (route, resolution): when a resolution of a route
 * keeps failing (at peak, 4K succeeds 40% of the time where 2K succeeds 95%),
 * the pipeline skips it and starts at the next lower resolution of its plan,
 * sending one trial request per interval at the higher resolution until the
 * trials succeed often enough to step back up.
 *
 * The rule is a pure reducer (`next`, `skip`) over a small ring of recent
 * outcomes; `make` keeps one per (route, resolution) in a `Ref`. Time comes only
 * from `Clock`, and nothing runs in the background.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Option, ParseResult, Schema } from "effect"

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

/**
 * When a (route, resolution) steps down and when it steps back up.
 *
 * @since 0.1.0
 */
export interface Settings {
  /** Step down when the success share of the recent sample falls below this (0–1]. */
  readonly stepDownBelow: number
  /** Step back up when the trials' success share reaches this; at least `stepDownBelow`. */
  readonly stepUpAt: number
  /** How many recent outcomes are kept per (route, resolution). */
  readonly sample: number
  /** No step-down with fewer outcomes than this in the sample; at most `sample`. */
  readonly minimumCalls: number
  /** While stepped down, one request per interval tries the higher resolution again. */
  readonly trialInterval: Duration.DurationInput
  /** How many outcomes since the step-down are needed before stepping up; at most `sample`. */
  readonly trialsToStepUp: number
}

/**
 * The defaults: step down below 50% success over at least 10 of the last 20
 * calls, try again every 30 seconds, step back up once at least 3 trials
 * succeed 80% of the time.
 *
 * @since 0.1.0
 */
export const defaults: {
  readonly stepDownBelow: number
  readonly stepUpAt: number
  readonly sample: number
  readonly minimumCalls: number
  readonly trialInterval: Duration.Duration
  readonly trialsToStepUp: number
} = {
  stepDownBelow: 0.5,
  stepUpAt: 0.8,
  sample: 20,
  minimumCalls: 10,
  trialInterval: Duration.seconds(30),
  trialsToStepUp: 3
}

interface Problem {
  readonly path: keyof Settings
  readonly message: string
}

const isShare = (x: number): boolean => Number.isFinite(x) && x > 0 && x <= 1
const isCount = (x: number): boolean => Number.isInteger(x) && x >= 1

// Every check in one place, so that `make` and the `DegradationSettings`
// schema reject the same settings with the same words.
const problemsOf = (settings: Settings): ReadonlyArray<Problem> => {
  const problems: Array<Problem> = []
  const { minimumCalls, sample, stepDownBelow, stepUpAt, trialsToStepUp } = settings
  if (!isShare(stepDownBelow)) {
    problems.push({ path: "stepDownBelow", message: `must be a share in (0, 1], actual ${stepDownBelow}` })
  }
  if (!isShare(stepUpAt)) {
    problems.push({ path: "stepUpAt", message: `must be a share in (0, 1], actual ${stepUpAt}` })
  } else if (isShare(stepDownBelow) && stepUpAt < stepDownBelow) {
    // Otherwise a route would step back up at a share that steps it down again.
    problems.push({
      path: "stepUpAt",
      message: `must not be below stepDownBelow (${stepDownBelow}), actual ${stepUpAt}`
    })
  }
  if (!isCount(sample)) {
    problems.push({ path: "sample", message: `must be a whole number of at least 1, actual ${sample}` })
  }
  if (!isCount(minimumCalls)) {
    problems.push({ path: "minimumCalls", message: `must be a whole number of at least 1, actual ${minimumCalls}` })
  } else if (isCount(sample) && minimumCalls > sample) {
    // The sample could never hold enough outcomes to step down.
    problems.push({ path: "minimumCalls", message: `must not exceed sample (${sample}), actual ${minimumCalls}` })
  }
  if (!isCount(trialsToStepUp)) {
    problems.push({
      path: "trialsToStepUp",
      message: `must be a whole number of at least 1, actual ${trialsToStepUp}`
    })
  } else if (isCount(sample) && trialsToStepUp > sample) {
    // The sample could never hold enough trials to step up.
    problems.push({
      path: "trialsToStepUp",
      message: `must not exceed sample (${sample}), actual ${trialsToStepUp}`
    })
  }
  const interval = Duration.decodeUnknown(settings.trialInterval)
  if (Option.isNone(interval) || !Duration.greaterThan(interval.value, Duration.zero)) {
    problems.push({
      path: "trialInterval",
      message: `must be a duration longer than zero, actual ${
        Option.isSome(interval) ? Duration.format(interval.value) : String(settings.trialInterval)
      }`
    })
  }
  return problems
}

// A duration in configuration: milliseconds or a string such as "30 seconds".
// Local rather than PipelineConfig.DurationInput: PipelineConfig is meant to
// embed `DegradationSettings`, and importing it back would make a cycle.
const Interval: Schema.Schema<Duration.Duration, number | string> = Schema.transformOrFail(
  Schema.Union(Schema.Number, Schema.String),
  Schema.DurationFromSelf,
  {
    strict: true,
    decode: (input, _, ast) => {
      // Duration.decode clamps negative input to zero; a negative setting is a mistake.
      const valid = typeof input === "number" ? Number.isFinite(input) && input >= 0 : !input.trim().startsWith("-")
      const decoded = valid ? Duration.decodeUnknown(typeof input === "string" ? input.trim() : input) : Option.none()
      return Option.isSome(decoded)
        ? ParseResult.succeed(decoded.value)
        : ParseResult.fail(
          new ParseResult.Type(
            ast,
            input,
            `Expected a duration (milliseconds, or a string such as "30 seconds"), actual ${JSON.stringify(input)}`
          )
        )
    },
    encode: (duration) => ParseResult.succeed(Duration.toMillis(duration))
  }
)

/**
 * The settings as a Schema, to embed in a configuration file: every field is
 * optional with the value in `defaults`, `trialInterval` accepts milliseconds
 * or a string such as `"30 seconds"`, and nonsense (a `stepUpAt` below
 * `stepDownBelow`, a `minimumCalls` above `sample`, …) is rejected per field.
 *
 * @since 0.1.0
 */
export class DegradationSettings
  extends Schema.Class<DegradationSettings>("@ballast/core/Degradation/DegradationSettings")(
    Schema.Struct({
      stepDownBelow: Schema.optionalWith(Schema.Number, { default: () => defaults.stepDownBelow, exact: true }),
      stepUpAt: Schema.optionalWith(Schema.Number, { default: () => defaults.stepUpAt, exact: true }),
      sample: Schema.optionalWith(Schema.Number, { default: () => defaults.sample, exact: true }),
      minimumCalls: Schema.optionalWith(Schema.Number, { default: () => defaults.minimumCalls, exact: true }),
      trialInterval: Schema.optionalWith(Interval, { default: () => defaults.trialInterval, exact: true }),
      trialsToStepUp: Schema.optionalWith(Schema.Number, { default: () => defaults.trialsToStepUp, exact: true })
    }).pipe(Schema.filter((settings) => problemsOf(settings).map(({ message, path }) => ({ path: [path], message }))))
  )
{}

// ---------------------------------------------------------------------------
// The rule, pure
// ---------------------------------------------------------------------------

/**
 * The level of one (route, resolution): `Full`, or `SteppedDown` since `since`
 * with its last trial started at `lastTrialAt` (epoch milliseconds from `Clock`;
 * the step-down itself counts as the first "trial", so the next one waits a
 * whole interval).
 *
 * @since 0.1.0
 */
export type Level =
  | { readonly _tag: "Full" }
  | { readonly _tag: "SteppedDown"; readonly since: number; readonly lastTrialAt: number }

/**
 * What one (route, resolution) remembers: its level and its recent outcomes,
 * oldest first, at most `sample` of them (`true` is a success). While stepped
 * down, `outcomes` holds only those since the step-down.
 *
 * @since 0.1.0
 */
export interface State {
  readonly level: Level
  readonly outcomes: ReadonlyArray<boolean>
}

const full: Level = { _tag: "Full" }

/**
 * The state of a (route, resolution) never seen: full, with no outcomes.
 *
 * @since 0.1.0
 */
export const initial: State = { level: full, outcomes: [] }

const successesIn = (outcomes: ReadonlyArray<boolean>): number => {
  let successes = 0
  for (const success of outcomes) if (success) successes++
  return successes
}

/**
 * Folds one outcome at `now` into a state: a full level steps down once the
 * sample holds at least `minimumCalls` outcomes whose success share is below
 * `stepDownBelow`; a stepped-down level steps up once it holds at least
 * `trialsToStepUp` outcomes whose share reaches `stepUpAt`. Either change clears
 * the sample, so each level is judged only on its own outcomes.
 *
 * @since 0.1.0
 */
export const next = (state: State, success: boolean, now: number, settings: Settings): State => {
  // The sample is a ring: the oldest outcome makes room for the newest.
  const kept = state.outcomes.length >= settings.sample
    ? state.outcomes.slice(state.outcomes.length - settings.sample + 1)
    : state.outcomes
  const outcomes = [...kept, success]
  const share = successesIn(outcomes) / outcomes.length
  switch (state.level._tag) {
    case "Full":
      return outcomes.length >= settings.minimumCalls && share < settings.stepDownBelow
        ? { level: { _tag: "SteppedDown", since: now, lastTrialAt: now }, outcomes: [] }
        : { level: state.level, outcomes }
    case "SteppedDown":
      return outcomes.length >= settings.trialsToStepUp && share >= settings.stepUpAt
        ? initial
        : { level: state.level, outcomes }
  }
}

/**
 * Whether to skip a (route, resolution) at `now`, and the state after asking:
 * never when full; when stepped down, always except once `trialInterval` has
 * passed since the last trial, in which case this call is the trial and its
 * start is recorded.
 *
 * @since 0.1.0
 */
export const skip = (state: State, now: number, settings: Settings): readonly [skip: boolean, state: State] => {
  const level = state.level
  if (level._tag === "Full") return [false, state]
  if (now - level.lastTrialAt < Duration.toMillis(settings.trialInterval)) return [true, state]
  return [false, { level: { _tag: "SteppedDown", since: level.since, lastTrialAt: now }, outcomes: state.outcomes }]
}

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

/**
 * One (route, resolution) as `Degradation.snapshot` reports it. `successShare`
 * is over the outcomes in the sample (since the step-down while stepped down),
 * `null` when there are none; `since` is when it was stepped down (epoch ms; `null` at full).
 *
 * @since 0.1.0
 */
export const Status = Schema.Struct({
  route: Schema.String,
  resolution: Schema.String,
  level: Schema.Literal("full", "stepped-down"),
  successShare: Schema.NullOr(Schema.Number),
  outcomes: Schema.Number,
  since: Schema.NullOr(Schema.Number)
})

/**
 * @since 0.1.0
 */
export type Status = typeof Status.Type

/**
 * The adaptive resolution of every (route, resolution) the pipeline has used.
 *
 * @since 0.1.0
 */
export interface Degradation {
  /** Records the outcome of a call on (route, resolution). */
  readonly record: (route: string, resolution: string, success: boolean) => Effect.Effect<void>
  /**
   * Whether to skip (route, resolution) now: true while stepped down, except
   * once per `trialInterval` (that call is the trial and is marked as started).
   */
  readonly shouldSkip: (route: string, resolution: string) => Effect.Effect<boolean>
  /** Every (route, resolution) seen so far, sorted by route then resolution. */
  readonly snapshot: Effect.Effect<ReadonlyArray<Status>>
}

interface Entry {
  readonly route: string
  readonly resolution: string
  readonly state: State
}

// JSON keeps a route containing any separator from colliding with another.
const keyOf = (route: string, resolution: string): string => JSON.stringify([route, resolution])

const statusOf = ({ resolution, route, state }: Entry): Status => ({
  route,
  resolution,
  level: state.level._tag === "Full" ? "full" : "stepped-down",
  successShare: state.outcomes.length === 0 ? null : successesIn(state.outcomes) / state.outcomes.length,
  outcomes: state.outcomes.length,
  since: state.level._tag === "Full" ? null : state.level.since
})

/**
 * Makes a `Degradation` with every (route, resolution) at full resolution.
 * Settings left out take the value in `defaults`; settings that make no sense
 * (see `DegradationSettings`) are a defect, reported with every problem.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { Degradation } from "@ballast/core"
 *
 * const program = Effect.gen(function* () {
 *   const degradation = yield* Degradation.make({ trialInterval: "1 minute" })
 *   if (yield* degradation.shouldSkip("google/gemini-3-pro-image-preview", "4K")) {
 *     // start at 2K
 *   }
 *   yield* degradation.record("google/gemini-3-pro-image-preview", "4K", false)
 * })
 */
export const make = (settings: Partial<Settings> = {}): Effect.Effect<Degradation> =>
  Effect.suspend(() => {
    const resolved: Settings = { ...defaults, ...settings }
    const problems = problemsOf(resolved)
    if (problems.length > 0) {
      return Effect.dieMessage(
        `Invalid Degradation settings: ${problems.map(({ message, path }) => `${path} ${message}`).join("; ")}`
      )
    }
    // A plain Map changed only inside `Effect.sync` (nothing can interleave with one), rather than a Ref of
    // an immutable Map copied on every outcome: `record` runs after every call of a stepped route.
    const entries = new Map<string, Entry>()
    const degradation: Degradation = {
      record: (route, resolution, success) =>
        Effect.clockWith((clock) =>
          Effect.sync(() => {
            const key = keyOf(route, resolution)
            const state = next(entries.get(key)?.state ?? initial, success, clock.unsafeCurrentTimeMillis(), resolved)
            entries.set(key, { route, resolution, state })
          })
        ),
      shouldSkip: (route, resolution) =>
        Effect.clockWith((clock) =>
          Effect.sync(() => {
            const key = keyOf(route, resolution)
            const entry = entries.get(key)
            if (entry === undefined) return false
            const [skipped, state] = skip(entry.state, clock.unsafeCurrentTimeMillis(), resolved)
            if (state !== entry.state) entries.set(key, { route, resolution, state })
            return skipped
          })
        ),
      snapshot: Effect.sync(() =>
        Array.from(entries.values(), statusOf).sort((a, b) =>
          a.route === b.route ? compare(a.resolution, b.resolution) : compare(a.route, b.route)
        )
      )
    }
    return Effect.succeed(degradation)
  })

const compare = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0
