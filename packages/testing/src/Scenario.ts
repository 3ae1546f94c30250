/**
 * The named outage scenarios of SCENARIOS.md as failure profiles: for each role
 * a provider plays in a plan, the failure rate, the failure and the latency at
 * a given moment. `fakeImage` and `fakeText` turn a profile into a fake
 * provider that draws its failures and latencies from `Random`.
 *
 * @since 0.1.0
 */
import { type ImageRequest, PeakWindows, type Resolution } from "@ballast/core"
import { Duration, Effect, Either, Random } from "effect"
import {
  Answer,
  type AnswerContext,
  type FakeImage,
  type FakeText,
  fromClock,
  fromClockText,
  type ProbeContext
} from "./FakeProvider.js"

/**
 * The part a provider plays in a fallback plan: the primary model
 * (gemini-3-pro-image-preview), the Gemini Flash image models, OpenAI's GPT
 * image models, OpenAI-compatible servers (Flux, Stable Diffusion), and the
 * text models of the description rung.
 *
 * @since 0.1.0
 */
export type Role = "primary" | "flash" | "openai" | "compatible" | "text"

/**
 * Every role.
 *
 * @since 0.1.0
 */
export const roles: ReadonlyArray<Role> = ["primary", "flash", "openai", "compatible", "text"]

/**
 * A range of latencies.
 *
 * @since 0.1.0
 */
export interface LatencyRange {
  readonly min: Duration.Duration
  readonly max: Duration.Duration
}

/**
 * What a role experiences at one moment: the share of calls that fail, with
 * which error, and how long a successful call takes.
 *
 * @since 0.1.0
 */
export interface Conditions {
  readonly failureRate: number
  readonly failure: "Overloaded" | "RateLimited" | "ProviderUnavailable"
  /** The delay a `RateLimited` failure asks for. */
  readonly retryAfter?: Duration.Duration
  readonly latency: LatencyRange
}

/**
 * The moment a scenario is asked about.
 *
 * @since 0.1.0
 */
export interface Situation {
  /** Milliseconds since the fake was created (the start of the scenario). */
  readonly elapsed: number
  /** Clock milliseconds (epoch); peak windows are read from it. */
  readonly now: number
  /** The resolution asked for, or `"description"` for the text rung. */
  readonly resolution: Resolution | "description"
  /** Requests sent to this route in the last minute, this one included. */
  readonly recentRequests: number
}

/**
 * The names of the scenarios.
 *
 * @since 0.1.0
 */
export type ScenarioName = "steady" | "peak-day" | "outage-2h" | "feb-19" | "rate-limited" | "total-outage"

/**
 * A named scenario: what it models, how long a simulation of it runs, and the
 * conditions of every role at every moment.
 *
 * @since 0.1.0
 */
export interface Scenario {
  readonly name: ScenarioName
  readonly description: string
  readonly duration: Duration.Duration
  readonly conditions: (role: Role, situation: Situation) => Conditions
}

const range = (min: Duration.DurationInput, max: Duration.DurationInput): LatencyRange => ({
  min: Duration.decode(min),
  max: Duration.decode(max)
})

/**
 * The typical latency of a successful call per role (SCENARIOS.md): Gemini
 * image 20–60 s, OpenAI image 2–25 s, OpenAI-compatible 5–15 s, text 1–3 s.
 *
 * @since 0.1.0
 */
export const latencies: Readonly<Record<Role, LatencyRange>> = {
  primary: range("20 seconds", "60 seconds"),
  flash: range("20 seconds", "60 seconds"),
  openai: range("2 seconds", "25 seconds"),
  compatible: range("5 seconds", "15 seconds"),
  text: range("1 second", "3 seconds")
}

/** The healthy baseline: the primary fails 5% of the time, every fallback 1%. */
const steadyRate = (role: Role): number => role === "primary" ? 0.05 : 0.01

const overloaded = (role: Role, failureRate: number): Conditions => ({
  failureRate,
  failure: "Overloaded",
  latency: latencies[role]
})

const healthy = (role: Role): Conditions => overloaded(role, steadyRate(role))

const minutes = (n: number): number => n * 60_000
const hours = (n: number): number => n * 3_600_000

const hourOf = (time: string): number => Number(time.slice(0, 2))

/**
 * The peak failure windows, as `[from, to)` hours of the day in
 * America/Los_Angeles: 09–11, 13–15 and 18–22 — `PeakWindows.defaults.peak`
 * of `@ballast/core`, in whole hours.
 *
 * @since 0.1.0
 */
export const peakWindows: ReadonlyArray<readonly [from: number, to: number]> = PeakWindows.defaults.peak.windows.map(
  (window) => [hourOf(window.start), hourOf(window.end)] as const
)

/**
 * Whether an instant (epoch milliseconds) falls in a peak window, reading the
 * local time in America/Los_Angeles so that daylight saving time is respected
 * (`PeakWindows.contains` with `PeakWindows.defaults.peak`).
 *
 * @since 0.1.0
 */
export const isPeak = (epochMillis: number): boolean => PeakWindows.contains(PeakWindows.defaults.peak, epochMillis)

/**
 * The two 10-minute windows of `outage-2h` in which the Flash models fail
 * half their calls, as `[from, to)` milliseconds since the scenario started:
 * 30–40 min and 80–90 min, both inside the primary's outage, when the flash
 * models carry the diverted traffic.
 *
 * @since 0.1.0
 */
export const flashBlips: ReadonlyArray<readonly [from: number, to: number]> = [
  [minutes(30), minutes(40)],
  [minutes(80), minutes(90)]
]

const isImageRole = (role: Role): boolean => role !== "text"

const openAiRateLimit = 150

/**
 * The named scenarios of SCENARIOS.md. Outside the event a scenario describes
 * (after the outage, after the six hours of Feb 19…) every role is back to the
 * `steady` baseline.
 *
 * @since 0.1.0
 */
export const scenarios: Readonly<Record<ScenarioName, Scenario>> = {
  "steady": {
    name: "steady",
    description: "The primary fails 5% of calls with 503s, every fallback 1%.",
    duration: Duration.hours(1),
    conditions: (role) => healthy(role)
  },
  "peak-day": {
    name: "peak-day",
    description: "A whole day: the primary fails 35% of calls inside the PT peak windows (09–11, 13–15, 18–22; " +
      "4K twice as often as 2K) and 7% outside them; flash fails 5%.",
    duration: Duration.hours(24),
    conditions: (role, { now, resolution }) => {
      switch (role) {
        case "primary":
          return overloaded(role, isPeak(now) ? (resolution === "4K" ? 0.7 : 0.35) : 0.07)
        case "flash":
          return overloaded(role, 0.05)
        default:
          return healthy(role)
      }
    }
  },
  "outage-2h": {
    name: "outage-2h",
    description: "The primary answers every call with 503 for 2 hours, then recovers; the flash models have " +
      "two 10-minute blips of 50% 503s (30–40 min and 80–90 min in).",
    duration: Duration.hours(3),
    conditions: (role, { elapsed }) => {
      if (role === "primary" && elapsed < hours(2)) return overloaded(role, 1)
      if (role === "flash" && flashBlips.some(([from, to]) => elapsed >= from && elapsed < to)) {
        return overloaded(role, 0.5)
      }
      return healthy(role)
    }
  },
  "feb-19": {
    name: "feb-19",
    description: "The worst day on record: the primary fails 45% of calls for 6 hours, flash 10%; OpenAI is healthy.",
    duration: Duration.hours(7),
    conditions: (role, { elapsed }) => {
      if (elapsed >= hours(6)) return healthy(role)
      switch (role) {
        case "primary":
          return overloaded(role, 0.45)
        case "flash":
          return overloaded(role, 0.1)
        default:
          return healthy(role)
      }
    }
  },
  "rate-limited": {
    name: "rate-limited",
    description: `OpenAI answers 429 with retry-after 20 s to every request above ${openAiRateLimit} in a minute.`,
    duration: Duration.hours(1),
    conditions: (role, { recentRequests }) =>
      role === "openai" && recentRequests > openAiRateLimit
        ? { failureRate: 1, failure: "RateLimited", retryAfter: Duration.seconds(20), latency: latencies[role] }
        : healthy(role)
  },
  "total-outage": {
    name: "total-outage",
    description: "Every image provider is down for 30 minutes; text models stay healthy.",
    duration: Duration.hours(1),
    conditions: (role, { elapsed }) =>
      isImageRole(role) && elapsed < minutes(30)
        ? { failureRate: 1, failure: "ProviderUnavailable", latency: latencies[role] }
        : healthy(role)
  }
}

/**
 * The names of every scenario.
 *
 * @since 0.1.0
 */
export const names: ReadonlyArray<ScenarioName> = [
  "steady",
  "peak-day",
  "outage-2h",
  "feb-19",
  "rate-limited",
  "total-outage"
]

const isName = (name: string): name is ScenarioName => (names as ReadonlyArray<string>).includes(name)

/**
 * Looks a scenario up by name; an unknown name fails with a message that lists
 * the valid ones.
 *
 * @since 0.1.0
 */
export const get = (name: string): Either.Either<Scenario, string> =>
  isName(name)
    ? Either.right(scenarios[name])
    : Either.left(`Unknown scenario "${name}"; expected one of: ${names.join(", ")}`)

/**
 * How a fake's latency departs from the scenario's: a number scales the
 * scenario's range (`0` answers at once), a range replaces it.
 *
 * @since 0.1.0
 */
export type LatencyOverride = number | { readonly min: Duration.DurationInput; readonly max: Duration.DurationInput }

/**
 * @since 0.1.0
 */
export interface FakeOptions {
  readonly model: string
  /** Defaults by role: `"google"` for primary and flash, `"openai"`, `"compatible"`, `"text"`. */
  readonly provider?: string
  /** Defaults to `provider/model`. */
  readonly route?: string
  readonly latency?: LatencyOverride
}

const defaultProvider: Record<Role, string> = {
  primary: "google",
  flash: "google",
  openai: "openai",
  compatible: "compatible",
  text: "text"
}

const latencyMillis = (
  latency: LatencyRange,
  override: LatencyOverride | undefined
): { readonly min: number; readonly max: number } => {
  if (override === undefined) return { min: Duration.toMillis(latency.min), max: Duration.toMillis(latency.max) }
  if (typeof override === "number") {
    return { min: Duration.toMillis(latency.min) * override, max: Duration.toMillis(latency.max) * override }
  }
  return { min: Duration.toMillis(override.min), max: Duration.toMillis(override.max) }
}

const uniformMillis = (min: number, max: number): Effect.Effect<number> =>
  max > min ? Effect.map(Random.nextRange(min, max), Math.round) : Effect.succeed(min)

/** The failure the conditions name, as an answer. */
const failureAnswer = (conditions: Conditions, options: Answer.LatencyOptions): Answer => {
  switch (conditions.failure) {
    case "Overloaded":
      return Answer.overloaded(options)
    case "RateLimited":
      return Answer.rateLimited(conditions.retryAfter, options)
    case "ProviderUnavailable":
      return Answer.unavailable(options)
  }
}

/**
 * Draws one answer from the conditions: a failure with probability
 * `failureRate`; a success takes a latency drawn uniformly from the range, a
 * failure comes back sooner, uniformly between zero and the range's minimum
 * (an error needs no image to be rendered).
 */
const draw = (conditions: Conditions, override: LatencyOverride | undefined): Effect.Effect<Answer> =>
  Effect.gen(function*() {
    const latency = latencyMillis(conditions.latency, override)
    const fails = (yield* Random.next) < conditions.failureRate
    if (!fails) return Answer.ok({ latency: yield* uniformMillis(latency.min, latency.max) })
    const options = { latency: yield* uniformMillis(0, latency.min) }
    return failureAnswer(conditions, options)
  })

/**
 * How long a health probe takes: a cheap request (model metadata, a 1K
 * check), 100–500 ms, whatever the role.
 *
 * @since 0.1.0
 */
export const probeLatency: LatencyRange = range("100 millis", "500 millis")

/**
 * Draws a probe's answer: a failure (the role's error) with the role's failure
 * rate at that moment, else a success, after a latency drawn from
 * `probeLatency` (scaled when the fake's latency override is a number).
 */
const drawProbe = (conditions: Conditions, override: LatencyOverride | undefined): Effect.Effect<Answer> =>
  Effect.gen(function*() {
    const scale = typeof override === "number" ? override : 1
    const fails = (yield* Random.next) < conditions.failureRate
    const options = {
      latency: yield* uniformMillis(Duration.toMillis(probeLatency.min) * scale, Duration.toMillis(probeLatency.max) * scale)
    }
    if (!fails) return Answer.ok(options)
    return failureAnswer(conditions, options)
  })

const identity = (role: Role, options: FakeOptions) => ({
  provider: options.provider ?? defaultProvider[role],
  model: options.model,
  ...(options.route !== undefined ? { route: options.route } : {})
})

const situation = (
  context: Omit<AnswerContext<unknown>, "request" | "call"> | ProbeContext,
  resolution: Resolution | "description"
): Situation => ({
  elapsed: context.elapsed,
  now: context.now,
  resolution,
  recentRequests: context.recentRequests
})

/**
 * A fake image provider playing `role` in `scenario`: each call fails with the
 * scenario's probability at that moment and takes a latency drawn from its
 * range, both from `Random`. The scenario starts when the fake is created. Its
 * health probe fails with the role's failure rate at that moment for a 1K
 * request, after 100–500 ms (`probeLatency`); probes are counted apart from
 * calls (`probeCount`).
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { Scenario } from "@ballast/testing"
 *
 * const program = Effect.gen(function* () {
 *   const primary = yield* Scenario.fakeImage(Scenario.scenarios["outage-2h"], "primary", {
 *     model: "gemini-3-pro-image-preview",
 *     latency: 0
 *   })
 *   // use primary.service as the ImageGenerator of a route
 * })
 */
export const fakeImage = (scenario: Scenario, role: Role, options: FakeOptions): Effect.Effect<FakeImage> =>
  fromClock({
    ...identity(role, options),
    answer: (context: AnswerContext<ImageRequest>) =>
      draw(scenario.conditions(role, situation(context, context.request.resolution)), options.latency),
    probe: (context) => drawProbe(scenario.conditions(role, situation(context, "1K")), options.latency)
  })

/**
 * A fake text provider playing `role` (usually `"text"`) in `scenario`, like
 * `fakeImage`; the scenario sees its calls and probes at resolution `"description"`.
 *
 * @since 0.1.0
 */
export const fakeText = (scenario: Scenario, role: Role, options: FakeOptions): Effect.Effect<FakeText> =>
  fromClockText({
    ...identity(role, options),
    answer: (context) => draw(scenario.conditions(role, situation(context, "description")), options.latency),
    probe: (context) => drawProbe(scenario.conditions(role, situation(context, "description")), options.latency)
  })
