/**
 * The configuration of a resilient pipeline: the routes (one model of one
 * provider, optionally in one region), the fallback plan that orders them, and
 * the retry, retry-budget, circuit-breaker and deadline settings. It is read
 * from JSON or YAML, every section but `routes` and `plan` has the defaults
 * from the field, and it is validated against the model-capability table at
 * start-up, so a plan that names a text-only, retired or unknown model fails
 * before the first request, with every problem listed.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import type { PlatformError } from "@effect/platform/Error"
import { Array as Arr, Duration, Effect, Either, Option, ParseResult, Predicate, Schema } from "effect"
import * as YAML from "yaml"
import * as Capabilities from "./Capabilities.js"
import * as CircuitBreaker from "./CircuitBreaker.js"
import * as Degradation from "./Degradation.js"
import { type GenerationErrorTag, generationErrorTags } from "./Errors.js"
import * as Health from "./Health.js"
import { parseIssues as schemaIssues } from "./internal/issues.js"
import * as PeakWindows from "./PeakWindows.js"
import { Resolution } from "./Resolution.js"
import * as Retry from "./Retry.js"
import * as RetryBudget from "./RetryBudget.js"
import * as Router from "./Router.js"

const breaker = CircuitBreaker.defaults

const formatActual = (actual: unknown): string => {
  try {
    return JSON.stringify(actual) ?? String(actual)
  } catch {
    return String(actual)
  }
}

// The message shown when a whole section has the wrong type, instead of the
// schema's structural description.
const expecting = (what: string) => (issue: ParseResult.ParseIssue) => `Expected ${what}, actual ${formatActual(issue.actual)}`

const nonEmpty = <S extends Schema.Schema.Any>(item: S, message: string) =>
  Schema.Array(item).annotations({ message: expecting("a list") }).pipe(
    Schema.filter(Arr.isNonEmptyReadonlyArray, { message: () => message })
  )

const Name = Schema.String.pipe(Schema.nonEmptyString({ message: () => "must not be empty" }))

const Count = Schema.Int.pipe(Schema.greaterThanOrEqualTo(1))

const Ratio = Schema.Number.pipe(Schema.greaterThan(0), Schema.lessThanOrEqualTo(1))

/**
 * A duration: a number of milliseconds, or a string `Duration.decode`
 * understands (`"2 seconds"`, `"500 millis"`, `"1 minute"`). Encodes to
 * milliseconds.
 *
 * @since 0.1.0
 */
export const DurationInput: Schema.Schema<Duration.Duration, number | string> = Schema.transformOrFail(
  Schema.Union(Schema.Number, Schema.String),
  Schema.DurationFromSelf,
  {
    strict: true,
    decode: (input, _, ast) => {
      // Duration.decode clamps negative input to zero; a negative setting is a mistake.
      const valid = typeof input === "number" ? Number.isFinite(input) && input >= 0 : !input.trim().startsWith("-")
      return Option.match(valid ? Duration.decodeUnknown(typeof input === "string" ? input.trim() : input) : Option.none(), {
        onNone: () =>
          ParseResult.fail(
            new ParseResult.Type(
              ast,
              input,
              `Expected a duration (milliseconds, or a string such as "2 seconds", "500 millis", "1 minute"), actual ${
                formatActual(input)
              }`
            )
          ),
        onSome: ParseResult.succeed
      })
    },
    encode: (duration) => ParseResult.succeed(Duration.toMillis(duration))
  }
)

const PositiveDuration = DurationInput.pipe(
  Schema.filter((d) => Duration.greaterThan(d, Duration.zero), { message: () => "must be longer than zero" })
)

/**
 * One model of one provider, optionally in one region. `capabilities`
 * describes a model the built-in table does not know, or overrides the table
 * (it also lets a test server emulate a retired model).
 *
 * @since 0.1.0
 */
export class Route extends Schema.Class<Route>("@ballast/core/PipelineConfig/Route")({
  /** The provider Layer that serves this route, e.g. `"google"`, `"openai"`. */
  provider: Name,
  /** The model ID sent to the provider. */
  model: Name,
  region: Schema.optionalWith(Name, { exact: true }),
  capabilities: Schema.optionalWith(Capabilities.Profile, { exact: true }),
  /**
   * Ballast's own limits on calls to this route, below the provider's quota,
   * so that Ballast does not cause the 429s it then has to absorb. Calls over
   * a limit wait for a slot (within the request's deadline).
   */
  limits: Schema.optionalWith(
    Schema.Struct({
      concurrency: Schema.optionalWith(Count, { exact: true }),
      requestsPerMinute: Schema.optionalWith(Count, { exact: true })
    }),
    { exact: true }
  )
}, [undefined, undefined, { message: expecting("a route { provider, model, region?, capabilities?, limits? }") }]) {}

/**
 * A plan entry that generates images on a route. With `resolutions`, each
 * listed resolution becomes a step of its own (capped at the requested
 * resolution); without, the step asks for the requested resolution.
 *
 * @since 0.1.0
 */
export const ImageStepEntry = Schema.TaggedStruct("ImageStep", {
  route: Name,
  resolutions: Schema.optionalWith(Schema.NonEmptyArray(Resolution), { exact: true })
})

/**
 * @since 0.1.0
 */
export type ImageStepEntry = typeof ImageStepEntry.Type

/**
 * The last rung of a plan: a text route describes the image that could not be
 * made.
 *
 * @since 0.1.0
 */
export const DescribeEntry = Schema.TaggedStruct("Describe", { describe: Name })

/**
 * @since 0.1.0
 */
export type DescribeEntry = typeof DescribeEntry.Type

// The written form, `{ route, resolutions? }` or `{ describe }`, as one struct
// so that a mistake gets one message rather than one per union member.
const PlanEntryInput = Schema.Struct({
  route: Schema.optionalWith(Name, { exact: true }),
  resolutions: Schema.optionalWith(nonEmpty(Resolution, "must list at least one resolution, or be left out"), {
    exact: true
  }),
  describe: Schema.optionalWith(Name, { exact: true })
}).pipe(Schema.filter((entry) => {
  if (entry.describe === undefined) return true
  if (entry.route !== undefined) {
    return { path: ["describe"], message: "an entry is an image step (route) or the text fallback (describe), not both" }
  }
  return entry.resolutions === undefined || { path: ["resolutions"], message: "a describe entry has no resolutions" }
}))

/**
 * One entry of a fallback plan, written `{ route, resolutions? }` or
 * `{ describe }` and decoded to a tagged `ImageStep` or `Describe`.
 *
 * @since 0.1.0
 */
export const PlanEntry = Schema.transformOrFail(PlanEntryInput, Schema.Union(ImageStepEntry, DescribeEntry), {
  strict: true,
  decode: (entry, _, ast) => {
    if (entry.route !== undefined) {
      return ParseResult.succeed({
        _tag: "ImageStep" as const,
        route: entry.route,
        ...(entry.resolutions !== undefined ? { resolutions: entry.resolutions } : {})
      })
    }
    return entry.describe !== undefined
      ? ParseResult.succeed({ _tag: "Describe" as const, describe: entry.describe })
      : ParseResult.fail(
        new ParseResult.Type(ast, entry, "needs route (an image step) or describe (the text fallback)")
      )
  },
  encode: (entry) =>
    ParseResult.succeed(
      entry._tag === "Describe"
        ? { describe: entry.describe }
        : { route: entry.route, ...(entry.resolutions !== undefined ? { resolutions: entry.resolutions } : {}) }
    )
})

/**
 * @since 0.1.0
 */
export type PlanEntry = typeof PlanEntry.Type

/**
 * Retries on one step: `attempts` in all (the first included), delays growing
 * from `initialDelay` by `factor` up to `maxDelay`, with jitter. A provider's
 * `Retry-After` is honoured on top of this.
 *
 * @since 0.1.0
 */
export class RetrySettings extends Schema.Class<RetrySettings>("@ballast/core/PipelineConfig/RetrySettings")(
  Schema.Struct({
    attempts: Schema.optionalWith(Count, { default: () => Retry.defaults.attempts, exact: true }),
    initialDelay: Schema.optionalWith(DurationInput, { default: () => Retry.defaults.initialDelay, exact: true }),
    maxDelay: Schema.optionalWith(DurationInput, { default: () => Retry.defaults.maxDelay, exact: true }),
    factor: Schema.optionalWith(Schema.Number.pipe(Schema.greaterThanOrEqualTo(1)), {
      default: () => Retry.defaults.factor,
      exact: true
    }),
    jitter: Schema.optionalWith(Schema.Boolean, { default: () => Retry.defaults.jitter, exact: true })
  }).pipe(Schema.filter((s) =>
    Duration.lessThan(s.maxDelay, s.initialDelay)
      ? { path: ["maxDelay"], message: `must not be shorter than initialDelay (${Duration.format(s.initialDelay)})` }
      : true
  ))
) {}

/**
 * How many retries the pipeline may add on top of first attempts: at most
 * `ratio` of the requests plus `minPerSecond`, so that a failing provider is
 * not hit by a retry storm. `capacity` caps how many retries can be saved up
 * (unset: the retry budget's own default).
 *
 * @since 0.1.0
 */
export class RetryBudgetSettings
  extends Schema.Class<RetryBudgetSettings>("@ballast/core/PipelineConfig/RetryBudgetSettings")({
    ratio: Schema.optionalWith(Ratio, { default: () => RetryBudget.defaults.ratio, exact: true }),
    minPerSecond: Schema.optionalWith(Schema.Number.pipe(Schema.nonNegative()), {
      default: () => RetryBudget.defaults.minPerSecond,
      exact: true
    }),
    capacity: Schema.optionalWith(Count, { exact: true })
  })
{}

const uncountable: Partial<Record<GenerationErrorTag, string>> = {
  BadRequest: "a malformed request fails on every route and says nothing about this one's health",
  ContentRejected: "a safety block is about the prompt, not about the route's health",
  CircuitOpen: "it is the breaker's own fast failure",
  AllRoutesFailed: "it is the failure of a whole plan, not of one route"
}

const CountedError = Schema.Literal(...generationErrorTags).pipe(
  Schema.filter((tag) => {
    const reason = uncountable[tag]
    return reason === undefined || `${tag} cannot be counted by a breaker: ${reason}`
  })
)

/**
 * When a route's circuit breaker opens: after `consecutiveFailures` failures
 * in a row, or when more than `failureRatio` of at least `minimumCalls` calls
 * within `window` failed. It stays open `openDuration`, growing up to
 * `maxOpenDuration` while failures repeat. Only `countedErrors` count.
 *
 * @since 0.1.0
 */
export class BreakerSettings extends Schema.Class<BreakerSettings>("@ballast/core/PipelineConfig/BreakerSettings")(
  Schema.Struct({
    consecutiveFailures: Schema.optionalWith(Count, { default: () => breaker.consecutiveFailures, exact: true }),
    failureRatio: Schema.optionalWith(Ratio, { default: () => breaker.failureRatio, exact: true }),
    window: Schema.optionalWith(PositiveDuration, { default: () => breaker.window, exact: true }),
    minimumCalls: Schema.optionalWith(Count, { default: () => breaker.minimumCalls, exact: true }),
    openDuration: Schema.optionalWith(PositiveDuration, { default: () => breaker.openDuration, exact: true }),
    maxOpenDuration: Schema.optionalWith(PositiveDuration, { default: () => breaker.maxOpenDuration, exact: true }),
    /** A successful call at least this slow counts as a failure for the breaker (unset: none does). */
    slowCallThreshold: Schema.optionalWith(PositiveDuration, { exact: true }),
    countedErrors: Schema.optionalWith(
      nonEmpty(CountedError, "must list at least one error, or be left out"),
      {
        default: () => CircuitBreaker.defaultCountedTags,
        exact: true
      }
    )
  }).pipe(Schema.filter((s) =>
    Duration.lessThan(s.maxOpenDuration, s.openDuration)
      ? {
        path: ["maxOpenDuration"],
        message: `must not be shorter than openDuration (${Duration.format(s.openDuration)})`
      }
      : true
  ))
) {}

const Share = Schema.Number.pipe(Schema.greaterThanOrEqualTo(0), Schema.lessThanOrEqualTo(1))

/**
 * A prompt class: prompts containing one of `keywords` (whole words or
 * phrases, case-insensitive) try `routes` first.
 *
 * @since 0.1.0
 */
export const PromptClass = Schema.Struct({
  keywords: nonEmpty(Name, "must list at least one keyword"),
  routes: nonEmpty(Name, "must list at least one route")
})

/**
 * How the router orders the plan's routes for each request (see `Router`).
 *
 * @since 0.1.0
 */
export class RoutingSettings extends Schema.Class<RoutingSettings>("@ballast/core/PipelineConfig/RoutingSettings")(
  Schema.Struct({
    canary: Schema.optionalWith(Share, { default: () => Router.defaults.canary, exact: true }),
    weights: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Number.pipe(Schema.nonNegative()) }), {
      default: () => ({}),
      exact: true
    }),
    order: Schema.optionalWith(Schema.Literal("priority", "latency"), { default: () => Router.defaults.order, exact: true }),
    demoteBelow: Schema.optionalWith(Share, { default: () => Router.defaults.demoteBelow, exact: true }),
    restoreAt: Schema.optionalWith(Share, { default: () => Router.defaults.restoreAt, exact: true }),
    window: Schema.optionalWith(PositiveDuration, { default: () => Router.defaults.window, exact: true }),
    minimumCalls: Schema.optionalWith(Count, { default: () => Router.defaults.minimumCalls, exact: true }),
    regionFailover: Schema.optionalWith(Schema.Boolean, { default: () => Router.defaults.regionFailover, exact: true }),
    preferRegion: Schema.optionalWith(Name, { exact: true }),
    classes: Schema.optionalWith(Schema.Record({ key: Schema.String, value: PromptClass }), {
      default: () => ({}),
      exact: true
    }),
    /**
     * When every route's breaker is open and the plan has no description rung, wait for the earliest
     * half-open if the deadline leaves time for it, instead of failing at once.
     */
    waitForHalfOpen: Schema.optionalWith(Schema.Boolean, { default: () => true, exact: true })
  }).pipe(Schema.filter((s) =>
    s.restoreAt < s.demoteBelow
      ? { path: ["restoreAt"], message: `must not be below demoteBelow (${s.demoteBelow})` }
      : true
  ))
) {}

/**
 * Background health probes per route (see `Health`).
 *
 * @since 0.1.0
 */
export class HealthSettings extends Schema.Class<HealthSettings>("@ballast/core/PipelineConfig/HealthSettings")(
  Schema.Struct({
    enabled: Schema.optionalWith(Schema.Boolean, { default: () => true, exact: true }),
    interval: Schema.optionalWith(PositiveDuration, { default: () => Duration.decode(Health.defaults.interval), exact: true }),
    maxInterval: Schema.optionalWith(PositiveDuration, {
      default: () => Duration.decode(Health.defaults.maxInterval),
      exact: true
    }),
    timeout: Schema.optionalWith(PositiveDuration, { default: () => Duration.decode(Health.defaults.timeout), exact: true }),
    failuresToDown: Schema.optionalWith(Count, { default: () => Health.defaults.failuresToDown, exact: true }),
    successesToHealthy: Schema.optionalWith(Count, { default: () => Health.defaults.successesToHealthy, exact: true })
  }).pipe(Schema.filter((s) =>
    Duration.lessThan(s.maxInterval, s.interval)
      ? { path: ["maxInterval"], message: `must not be shorter than interval (${Duration.format(s.interval)})` }
      : true
  ))
) {}

/**
 * Hedged requests: after `delay` (`"p95"`: the first route's observed p95
 * latency; or a duration) the next route is tried beside the first, up to
 * `maxHedges` extra routes. Off by default for images (every hedge is a paid
 * generation), on by default for text (the field's practice).
 *
 * @since 0.1.0
 */
export class HedgeSettings extends Schema.Class<HedgeSettings>("@ballast/core/PipelineConfig/HedgeSettings")({
  /** Unset: the default of the pipeline's kind (`Hedge.defaults`: off for images, on for text). */
  enabled: Schema.optionalWith(Schema.Boolean, { exact: true }),
  delay: Schema.optionalWith(Schema.Union(Schema.Literal("p95"), PositiveDuration), {
    default: () => "p95" as const,
    exact: true
  }),
  maxHedges: Schema.optionalWith(Count, { default: () => 1, exact: true })
}) {}

/**
 * Peak windows: inside them, requests start at most at `cap` (off by
 * default: it trades resolution for success before anything has failed).
 *
 * @since 0.1.0
 */
export class PeakSettings extends Schema.Class<PeakSettings>("@ballast/core/PipelineConfig/PeakSettings")({
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => false, exact: true }),
  schedule: Schema.optionalWith(PeakWindows.PeakScheduleFromConfig, {
    default: () => PeakWindows.defaults.peak,
    exact: true
  }),
  cap: Schema.optionalWith(Resolution, { default: () => PeakWindows.defaultCap, exact: true })
}) {}

/**
 * Adaptive degradation: when a route's higher resolution succeeds less than
 * `stepDownBelow`, requests start at its next lower resolution, and go back up
 * when trials reach `stepUpAt` (see `Degradation`).
 *
 * @since 0.1.0
 */
export class AdaptiveSettings extends Schema.Class<AdaptiveSettings>("@ballast/core/PipelineConfig/AdaptiveSettings")(
  Schema.Struct({
    enabled: Schema.optionalWith(Schema.Boolean, { default: () => true, exact: true }),
    stepDownBelow: Schema.optionalWith(Share, { default: () => Degradation.defaults.stepDownBelow, exact: true }),
    stepUpAt: Schema.optionalWith(Share, { default: () => Degradation.defaults.stepUpAt, exact: true }),
    sample: Schema.optionalWith(Count, { default: () => Degradation.defaults.sample, exact: true }),
    minimumCalls: Schema.optionalWith(Count, { default: () => Degradation.defaults.minimumCalls, exact: true }),
    trialInterval: Schema.optionalWith(PositiveDuration, {
      default: () => Duration.decode(Degradation.defaults.trialInterval),
      exact: true
    }),
    trialsToStepUp: Schema.optionalWith(Count, { default: () => Degradation.defaults.trialsToStepUp, exact: true })
  }).pipe(
    Schema.filter((s) =>
      s.stepUpAt < s.stepDownBelow
        ? { path: ["stepUpAt"], message: `must not be below stepDownBelow (${s.stepDownBelow})` }
        : s.sample < s.minimumCalls
        ? { path: ["sample"], message: `must hold at least minimumCalls (${s.minimumCalls}) outcomes` }
        : s.sample < s.trialsToStepUp
        ? { path: ["sample"], message: `must hold at least trialsToStepUp (${s.trialsToStepUp}) outcomes` }
        : true
    )
  )
) {}

/**
 * A validated pipeline configuration, every default filled in. Build one with
 * `decode`, `parse` or `fromFile`, which also check the plan against the
 * model-capability table.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { PipelineConfig } from "@ballast/core"
 *
 * const program = Effect.gen(function*() {
 *   const config = yield* PipelineConfig.parse(
 *     `
 * routes:
 *   gemini-pro: { provider: google, model: gemini-3-pro-image-preview }
 *   gpt: { provider: openai, model: gpt-image-2 }
 * plan:
 *   - route: gemini-pro
 *     resolutions: [4K, 2K]
 *   - route: gpt
 * `,
 *     "yaml"
 *   )
 *   console.log(config.retry.attempts) // 5, the default
 * })
 */
export class PipelineConfig extends Schema.Class<PipelineConfig>("@ballast/core/PipelineConfig")({
  /**
   * `image` (the default): image steps and an optional describe entry; `text`: a plan of text routes, for
   * `Pipeline.makeText`.
   */
  kind: Schema.optionalWith(Schema.Literal("image", "text"), { default: () => "image" as const, exact: true }),
  routes: Schema.Record({ key: Schema.String, value: Route }).annotations({
    message: expecting("a mapping from route name to { provider, model, region?, capabilities? }")
  }),
  plan: nonEmpty(PlanEntry, "must list at least one entry"),
  retry: Schema.optionalWith(RetrySettings, { default: () => RetrySettings.make({}), exact: true }),
  retryBudget: Schema.optionalWith(RetryBudgetSettings, { default: () => RetryBudgetSettings.make({}), exact: true }),
  breaker: Schema.optionalWith(BreakerSettings, { default: () => BreakerSettings.make({}), exact: true }),
  /** The time budget of a whole request, across every retry and fallback. */
  deadline: Schema.optionalWith(PositiveDuration, { default: () => Duration.seconds(180), exact: true }),
  /**
   * The share of a request's deadline kept for the steps after the current
   * one: a step starts another attempt only if, judged by how long its
   * previous attempt took, it would end that long before the deadline. The
   * last step may use it all. 0 lets every step retry up to the deadline.
   */
  reserveShare: Schema.optionalWith(
    Schema.Number.pipe(Schema.greaterThanOrEqualTo(0), Schema.lessThan(1)),
    { default: () => 0.25, exact: true }
  ),
  routing: Schema.optionalWith(RoutingSettings, { default: () => RoutingSettings.make({}), exact: true }),
  health: Schema.optionalWith(HealthSettings, { default: () => HealthSettings.make({}), exact: true }),
  hedge: Schema.optionalWith(HedgeSettings, { default: () => HedgeSettings.make({}), exact: true }),
  peak: Schema.optionalWith(PeakSettings, { default: () => PeakSettings.make({}), exact: true }),
  adaptive: Schema.optionalWith(AdaptiveSettings, { default: () => AdaptiveSettings.make({}), exact: true })
}) {}

/**
 * One problem in a configuration: where (`plan[2].route`, `breaker.window`;
 * empty for the whole document) and what.
 *
 * @since 0.1.0
 */
export const ConfigIssue = Schema.Struct({ path: Schema.String, message: Schema.String })

/**
 * @since 0.1.0
 */
export type ConfigIssue = typeof ConfigIssue.Type

/**
 * A configuration could not be read, parsed or validated. `message` lists
 * every issue, one per line, as `path: problem`.
 *
 * @since 0.1.0
 */
export class ConfigError extends Schema.TaggedError<ConfigError>("@ballast/core/ConfigError")("ConfigError", {
  message: Schema.String,
  issues: Schema.Array(ConfigIssue)
}) {}

const issueLine = (issue: ConfigIssue): string => issue.path === "" ? issue.message : `${issue.path}: ${issue.message}`

/**
 * A `ConfigError` listing the given issues; `source` (a file name) is named in
 * the message.
 *
 * @since 0.1.0
 */
export const configError = (issues: ReadonlyArray<ConfigIssue>, source?: string): ConfigError => {
  const where = source === undefined ? "" : ` in ${source}`
  const [first] = issues
  const message = issues.length === 1 && first !== undefined
    ? `Invalid pipeline configuration${where}: ${issueLine(first)}`
    : `Invalid pipeline configuration${where} (${issues.length} problems):\n${
      issues.map((issue) => `  ${issueLine(issue)}`).join("\n")
    }`
  return new ConfigError({ message, issues })
}

const routeCapabilities = (route: Route): Option.Option<Capabilities.ModelCapabilities> =>
  route.capabilities !== undefined
    ? Option.some(Capabilities.ModelCapabilities.make({ ...route.capabilities, model: route.model, provider: route.provider }))
    : Capabilities.lookup(route.model)

const onlyModality = (caps: Capabilities.ModelCapabilities): string =>
  Capabilities.supports(caps, "image") ? "image only" : "text only"

const decodeRoute = Schema.decodeUnknownOption(Route)
const decodePlanEntry = Schema.decodeUnknownOption(PlanEntry)

// Checks across sections: every plan entry names a defined route whose model is
// known, live and able to do what the entry asks. It reads the routes and plan
// entries one by one from the raw input, so that it reports its problems even
// when other parts of the document do not decode.
const crossCheck = (document: Readonly<Record<string, unknown>>): Array<ConfigIssue> => {
  const issues: Array<ConfigIssue> = []
  const rawRoutes = Predicate.isRecord(document.routes) ? document.routes : {}
  const names = Object.keys(rawRoutes)
  const usable = new Map<string, { readonly route: Route; readonly caps: Capabilities.ModelCapabilities }>()

  for (const [name, raw] of Object.entries(rawRoutes)) {
    const route = decodeRoute(raw)
    if (Option.isNone(route)) continue // its schema issues are reported already
    const model = route.value.model
    const caps = routeCapabilities(route.value)
    const retired = Option.flatMap(caps, Capabilities.retirementNotice)
    if (Option.isNone(caps)) {
      issues.push({
        path: `routes.${name}.model`,
        message: `unknown model "${model}": it is not in the capability table; ` +
          "declare its capabilities (modalities, resolutions, aspectRatios) on the route"
      })
    } else if (Option.isSome(retired)) {
      issues.push({ path: `routes.${name}.model`, message: `model "${model}" ${retired.value}` })
    } else {
      usable.set(name, { route: route.value, caps: caps.value })
    }
  }

  const text = document.kind === "text"
  const rawPlan: ReadonlyArray<unknown> = Array.isArray(document.plan) ? document.plan : []
  const entries = rawPlan.map((raw) => decodePlanEntry(raw))
  const knownNames = names.length > 0 ? `known: ${names.join(", ")}` : "no routes are defined"

  entries.forEach((decoded, i) => {
    if (Option.isNone(decoded)) return // its schema issues are reported already
    const entry = decoded.value
    const at = entry._tag === "ImageStep" ? `plan[${i}].route` : `plan[${i}].describe`
    const name = entry._tag === "ImageStep" ? entry.route : entry.describe
    if (entry._tag === "Describe" && text) {
      issues.push({ path: at, message: "a text plan has no describe entry: its routes already answer in text" })
      return
    }
    if (entry._tag === "Describe" && i !== rawPlan.length - 1) {
      issues.push({
        path: at,
        message: "a describe entry must be the last of the plan: nothing after the text fallback is tried"
      })
    }
    if (!names.includes(name)) {
      issues.push({ path: at, message: `unknown route "${name}" (${knownNames})` })
      return
    }
    const target = usable.get(name)
    if (target === undefined) return // the route's own problem is reported under routes
    const { caps, route } = target
    const subject = `model "${route.model}" of route "${name}"`
    if (entry._tag === "Describe") {
      if (!Capabilities.supports(caps, "text")) {
        issues.push({ path: at, message: `${subject} cannot generate text (${onlyModality(caps)})` })
      }
      return
    }
    if (text) {
      if (!Capabilities.supports(caps, "text")) {
        issues.push({ path: at, message: `${subject} cannot generate text (${onlyModality(caps)})` })
      }
      if (entry.resolutions !== undefined) {
        issues.push({ path: `plan[${i}].resolutions`, message: "a text plan's steps have no resolutions" })
      }
      return
    }
    if (!Capabilities.supports(caps, "image")) {
      issues.push({ path: at, message: `${subject} cannot generate images (${onlyModality(caps)})` })
      return
    }
    entry.resolutions?.forEach((resolution, j, resolutions) => {
      const path = `plan[${i}].resolutions[${j}]`
      if (resolutions.indexOf(resolution) !== j) {
        issues.push({ path, message: `${resolution} is listed twice` })
      } else if (!caps.resolutions.includes(resolution)) {
        issues.push({
          path,
          message: `${subject} cannot make ${resolution} images (it makes ${caps.resolutions.join(", ")})`
        })
      }
    })
  })

  // Routing names routes: each must be a route of the plan's steps, or the rule can never apply.
  const imageRoutes = new Set(
    Arr.getSomes(entries).flatMap((entry) => entry._tag === "ImageStep" ? [entry.route] : [])
  )
  const checkRouted = (path: string, name: unknown) => {
    if (typeof name === "string" && !imageRoutes.has(name)) {
      issues.push({
        path,
        message: `"${name}" is not a route of the plan's steps (${
          imageRoutes.size > 0 ? `they are: ${[...imageRoutes].join(", ")}` : "the plan has none"
        })`
      })
    }
  }
  const routing = Predicate.isRecord(document.routing) ? document.routing : {}
  if (Predicate.isRecord(routing.weights)) {
    for (const name of Object.keys(routing.weights)) checkRouted(`routing.weights.${name}`, name)
  }
  if (Predicate.isRecord(routing.classes)) {
    for (const [name, rule] of Object.entries(routing.classes)) {
      if (Predicate.isRecord(rule) && Array.isArray(rule.routes)) {
        rule.routes.forEach((route: unknown, i: number) => checkRouted(`routing.classes.${name}.routes[${i}]`, route))
      }
    }
  }

  const decodedEntries = Arr.getSomes(entries)
  if (
    !text && decodedEntries.length > 0 && decodedEntries.length === entries.length &&
    !decodedEntries.some((entry) => entry._tag === "ImageStep")
  ) {
    issues.push({ path: "plan", message: "needs at least one image step (route) before the describe entry" })
  }
  return issues
}

const decodeConfig = Schema.decodeUnknownEither(PipelineConfig, { errors: "all", onExcessProperty: "error" })

/**
 * Decodes and validates a configuration already parsed into plain data (from
 * JSON, YAML or code): the schema, then the plan against the routes and the
 * model-capability table. Fails with every problem found.
 *
 * @since 0.1.0
 * @example
 * import { PipelineConfig } from "@ballast/core"
 *
 * const config = PipelineConfig.decode({
 *   routes: { flash: { provider: "google", model: "gemini-3.1-flash-image-preview" } },
 *   plan: [{ route: "flash" }]
 * })
 */
export const decode = (input: unknown): Effect.Effect<PipelineConfig, ConfigError> => {
  if (!Predicate.isRecord(input)) {
    return Effect.fail(configError([{
      path: "",
      message: `Expected a mapping with routes and plan, actual ${formatActual(input)}`
    }]))
  }
  const decoded = decodeConfig(input)
  const issues = [...Either.match(decoded, { onLeft: schemaIssues, onRight: () => [] }), ...crossCheck(input)]
  return Either.isRight(decoded) && issues.length === 0
    ? Effect.succeed(decoded.right)
    : Effect.fail(configError(issues))
}

const syntaxError = (format: "JSON" | "YAML", message: string, line?: number, column?: number): ConfigIssue => ({
  path: "",
  message: line !== undefined && column !== undefined
    ? `${format} syntax error at line ${line}, column ${column}: ${message}`
    : `${format} syntax error: ${message}`
})

const positionInJson = /at position (\d+)/

const parseJson = (text: string): Either.Either<unknown, ConfigIssue> =>
  Either.try({
    try: () => JSON.parse(text) as unknown,
    catch: (error) => {
      const message = error instanceof Error ? error.message : String(error)
      const position = positionInJson.exec(message)?.[1]
      if (position === undefined) return syntaxError("JSON", message)
      const before = text.slice(0, Number(position)).split("\n")
      return syntaxError("JSON", message, before.length, (before[before.length - 1]?.length ?? 0) + 1)
    }
  })

const parseYaml = (text: string): Either.Either<unknown, ReadonlyArray<ConfigIssue>> => {
  const lineCounter = new YAML.LineCounter()
  const document = YAML.parseDocument(text, { lineCounter, prettyErrors: false })
  if (document.errors.length > 0) {
    return Either.left(document.errors.map((error) => {
      const { col, line } = lineCounter.linePos(error.pos[0])
      return syntaxError("YAML", error.message, line, col)
    }))
  }
  return Either.try({
    try: () => document.toJS({ maxAliasCount: 100 }) as unknown,
    catch: (error) => [syntaxError("YAML", error instanceof Error ? error.message : String(error))]
  })
}

/**
 * Parses a configuration from JSON or YAML text and validates it. Syntax
 * errors name the line and column.
 *
 * @since 0.1.0
 */
export const parse = (text: string, format: "json" | "yaml"): Effect.Effect<PipelineConfig, ConfigError> => {
  const parsed = format === "json" ? Either.mapLeft(parseJson(text), Arr.of) : parseYaml(text)
  return Either.match(parsed, { onLeft: (issues) => Effect.fail(configError(issues)), onRight: decode })
}

const formatOf = (path: string): Option.Option<"json" | "yaml"> => {
  const extension = /\.(json|ya?ml)$/i.exec(path)?.[1]?.toLowerCase()
  return extension === undefined ? Option.none() : Option.some(extension === "json" ? "json" : "yaml")
}

const readProblem = (error: PlatformError): string => {
  if (error._tag === "SystemError" && error.reason === "NotFound") return "file not found"
  if (error._tag === "SystemError" && error.reason === "PermissionDenied") return "permission denied"
  return error.message
}

const fileError = (path: string, problem: string): ConfigError =>
  new ConfigError({
    message: `Cannot read pipeline configuration ${path}: ${problem}`,
    issues: [{ path: "", message: `${path}: ${problem}` }]
  })

/**
 * Reads, parses and validates a configuration file; the format follows the
 * extension (`.json`, `.yaml` or `.yml`). Every error names the file.
 *
 * @since 0.1.0
 * @example
 * import { NodeContext } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { PipelineConfig } from "@ballast/core"
 *
 * const config = PipelineConfig.fromFile("ballast.yaml").pipe(Effect.provide(NodeContext.layer))
 */
export const fromFile = (path: string): Effect.Effect<PipelineConfig, ConfigError, FileSystem.FileSystem> =>
  Option.match(formatOf(path), {
    onNone: () => Effect.fail(fileError(path, "unknown format; use a .json, .yaml or .yml file")),
    onSome: (format) =>
      FileSystem.FileSystem.pipe(
        Effect.flatMap((fs) => fs.readFileString(path)),
        Effect.mapError((error) => fileError(path, readProblem(error))),
        Effect.flatMap((text) =>
          parse(text, format).pipe(Effect.mapError((error) => configError(error.issues, path)))
        )
      )
  })

/**
 * The capabilities of a route's model: its declared `capabilities`, or the
 * built-in table's entry. A decoded configuration has one for every route;
 * throws for a route name the configuration does not define.
 *
 * @since 0.1.0
 */
export const capabilitiesOf = (config: PipelineConfig, routeName: string): Capabilities.ModelCapabilities => {
  const route = Object.hasOwn(config.routes, routeName) ? config.routes[routeName] : undefined
  if (route === undefined) throw new Error(`unknown route "${routeName}"`)
  return Option.getOrThrowWith(
    routeCapabilities(route),
    () => new Error(`route "${routeName}": model "${route.model}" is not in the capability table`)
  )
}
