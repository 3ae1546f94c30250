import { describe, expect, it } from "@effect/vitest"
import { Cause, Clock, Duration, Effect, Either, Exit, FastCheck, ParseResult, Schema, TestClock } from "effect"
import * as Degradation from "../src/Degradation.js"

const route = "google/gemini-3-pro-image-preview"

/** Records `pattern` on (route, resolution): "S" a success, "F" a failure. */
const recordAll = (degradation: Degradation.Degradation, resolution: string, pattern: string) =>
  Effect.forEach(pattern, (outcome) => degradation.record(route, resolution, outcome === "S"), { discard: true })

const statusOf = (degradation: Degradation.Degradation, resolution: string) =>
  Effect.map(degradation.snapshot, (all) => all.find((status) => status.resolution === resolution))

/** Valid settings, with shares on a grid of twentieths so that boundaries are hit exactly. */
const settingsArbitrary: FastCheck.Arbitrary<Degradation.Settings> = FastCheck.record({
  stepDownBelow: FastCheck.integer({ min: 1, max: 20 }),
  stepUpAbove: FastCheck.integer({ min: 0, max: 20 }),
  sample: FastCheck.integer({ min: 1, max: 20 }),
  minimumCalls: FastCheck.integer({ min: 1, max: 20 }),
  trialsToStepUp: FastCheck.integer({ min: 1, max: 20 })
}).map(({ minimumCalls, sample, stepDownBelow, stepUpAbove, trialsToStepUp }) => ({
  stepDownBelow: stepDownBelow / 20,
  stepUpAt: Math.min(20, stepDownBelow + stepUpAbove) / 20,
  sample,
  minimumCalls: Math.min(minimumCalls, sample),
  trialsToStepUp: Math.min(trialsToStepUp, sample),
  trialInterval: Duration.seconds(30)
}))

const share = (outcomes: ReadonlyArray<boolean>) => outcomes.filter((success) => success).length / outcomes.length

/**
 * Folds `outcomes` (one a second) through `next` from `start`, checking each
 * step against the rule stated over the whole history: the sample is the last
 * `sample` outcomes since the last change of level. Returns the changes of level.
 */
const replay = (settings: Degradation.Settings, start: Degradation.State, outcomes: ReadonlyArray<boolean>) => {
  let state = start
  let clearedAt = 0
  const changes: Array<"down" | "up"> = []
  outcomes.forEach((success, i) => {
    const sample = outcomes.slice(Math.max(clearedAt, i + 1 - settings.sample), i + 1)
    const before = state
    state = Degradation.next(state, success, i * 1000, settings)
    if (before.level._tag === "Full") {
      const down = sample.length >= settings.minimumCalls && share(sample) < settings.stepDownBelow
      expect(state.level._tag).toBe(down ? "SteppedDown" : "Full")
      if (down) {
        expect(state).toEqual({ level: { _tag: "SteppedDown", since: i * 1000, lastTrialAt: i * 1000 }, outcomes: [] })
        changes.push("down")
        clearedAt = i + 1
      } else {
        expect(state.outcomes).toEqual(sample)
      }
    } else {
      const up = sample.length >= settings.trialsToStepUp && share(sample) >= settings.stepUpAt
      if (up) {
        expect(state).toEqual(Degradation.initial)
        changes.push("up")
        clearedAt = i + 1
      } else {
        // still stepped down, since the same time
        expect(state).toEqual({ level: before.level, outcomes: sample })
      }
    }
  })
  return changes
}

describe("Degradation", () => {
  describe("the rule", () => {
    it.prop(
      "steps down exactly when the threshold is crossed with enough calls",
      {
        settings: settingsArbitrary,
        // mostly failures, so that step-downs happen often
        outcomes: FastCheck.array(FastCheck.integer({ min: 0, max: 4 }).map((n) => n < 2), { maxLength: 60 })
      },
      ({ outcomes, settings }) => {
        replay(settings, Degradation.initial, outcomes)
      },
      { fastCheck: { numRuns: 50 } }
    )

    it.prop(
      "steps back up exactly when trials reach stepUpAt",
      {
        settings: settingsArbitrary,
        outcomes: FastCheck.array(FastCheck.boolean(), { maxLength: 40 })
      },
      ({ outcomes, settings }) => {
        const steppedDown: Degradation.State = {
          level: { _tag: "SteppedDown", since: -5000, lastTrialAt: -5000 },
          outcomes: []
        }
        const changes = replay(settings, steppedDown, outcomes)
        // the first change from a stepped-down level can only be a step up
        if (changes.length > 0) expect(changes[0]).toBe("up")
      },
      { fastCheck: { numRuns: 50 } }
    )

    it.prop(
      "never steps down with fewer than minimumCalls outcomes",
      {
        settings: settingsArbitrary,
        outcomes: FastCheck.array(FastCheck.boolean(), { maxLength: 20 })
      },
      ({ outcomes, settings }) => {
        let state = Degradation.initial
        for (const success of outcomes.slice(0, settings.minimumCalls - 1)) {
          state = Degradation.next(state, success, 0, settings)
          expect(state.level._tag).toBe("Full")
        }
      },
      { fastCheck: { numRuns: 50 } }
    )

    it.prop(
      "skip: one trial per interval while stepped down, none skipped when full",
      {
        interval: FastCheck.integer({ min: 1, max: 60_000 }),
        gaps: FastCheck.array(FastCheck.integer({ min: 0, max: 90_000 }), { maxLength: 40 })
      },
      ({ gaps, interval }) => {
        const settings = { ...Degradation.defaults, trialInterval: interval }
        expect(Degradation.skip(Degradation.initial, 123, settings)).toEqual([false, Degradation.initial])
        let state: Degradation.State = { level: { _tag: "SteppedDown", since: 0, lastTrialAt: 0 }, outcomes: [] }
        let lastTrial = 0
        let now = 0
        for (const gap of gaps) {
          now += gap
          const [skipped, after] = Degradation.skip(state, now, settings)
          // a trial exactly when a whole interval has passed since the last one
          expect(skipped).toBe(now - lastTrial < interval)
          if (!skipped) lastTrial = now
          expect(after.level).toEqual({ _tag: "SteppedDown", since: 0, lastTrialAt: lastTrial })
          state = after
        }
      },
      { fastCheck: { numRuns: 50 } }
    )
  })

  describe("the service", () => {
    it.effect("4K at 40% steps down after 10 calls while 2K at 95% stays full", () =>
      Effect.gen(function* () {
        const degradation = yield* Degradation.make()
        yield* TestClock.adjust("1 second")
        yield* recordAll(degradation, "2K", "SSSSSSSSSSSSSSSSSSSF")
        yield* recordAll(degradation, "4K", "SFFSFFSFS")
        expect(yield* degradation.shouldSkip(route, "4K")).toBe(false)
        yield* recordAll(degradation, "4K", "F")
        expect(yield* degradation.shouldSkip(route, "4K")).toBe(true)
        expect(yield* degradation.shouldSkip(route, "2K")).toBe(false)
        expect(yield* degradation.shouldSkip("openai/gpt-image-2", "4K")).toBe(false)
        expect(yield* degradation.snapshot).toEqual([
          { route, resolution: "2K", level: "full", successShare: 0.95, outcomes: 20, since: null },
          { route, resolution: "4K", level: "stepped-down", successShare: null, outcomes: 0, since: 1000 }
        ])
      }))

    it.effect("a share of exactly stepDownBelow does not step down; the ring forgets the oldest outcomes", () =>
      Effect.gen(function* () {
        const degradation = yield* Degradation.make()
        yield* recordAll(degradation, "4K", "SFSFSFSFSF")
        expect((yield* statusOf(degradation, "4K"))?.level).toBe("full")

        const ring = yield* Degradation.make()
        yield* recordAll(ring, "4K", "SSSSSSSSSSSSSSSSSSSS" + "FFFFFFFFFF")
        // the sample is the last 20: 10 successes, 10 failures
        expect(yield* statusOf(ring, "4K")).toMatchObject({ level: "full", successShare: 0.5, outcomes: 20 })
        yield* recordAll(ring, "4K", "F")
        expect((yield* statusOf(ring, "4K"))?.level).toBe("stepped-down")
      }))

    it.effect("while stepped down, one call per trialInterval is the trial; good trials step back up", () =>
      Effect.gen(function* () {
        const degradation = yield* Degradation.make()
        yield* recordAll(degradation, "4K", "FFFFFFFFFF")
        yield* TestClock.adjust(29_999)
        expect(yield* degradation.shouldSkip(route, "4K")).toBe(true)
        yield* TestClock.adjust(1)
        expect(yield* degradation.shouldSkip(route, "4K")).toBe(false)
        expect(yield* degradation.shouldSkip(route, "4K")).toBe(true)
        yield* recordAll(degradation, "4K", "F")

        // a failed trial and two good ones: 2/3 is below 0.8, so a fourth and fifth are needed (4/5)
        for (const outcome of ["S", "S", "S", "S"]) {
          expect((yield* statusOf(degradation, "4K"))?.level).toBe("stepped-down")
          yield* TestClock.adjust("30 seconds")
          expect(yield* degradation.shouldSkip(route, "4K")).toBe(false)
          yield* recordAll(degradation, "4K", outcome)
        }
        expect(yield* statusOf(degradation, "4K")).toEqual({
          route,
          resolution: "4K",
          level: "full",
          successShare: null,
          outcomes: 0,
          since: null
        })
        expect(yield* degradation.shouldSkip(route, "4K")).toBe(false)
      }))

    it.effect.prop(
      "while stepped down, at most one trial per interval",
      { gaps: FastCheck.array(FastCheck.integer({ min: 0, max: 25_000 }), { minLength: 1, maxLength: 12 }) },
      ({ gaps }) =>
        Effect.gen(function* () {
          const degradation = yield* Degradation.make({ trialInterval: "20 seconds", minimumCalls: 1 })
          const start = yield* Clock.currentTimeMillis
          yield* degradation.record(route, "4K", false)
          const trials: Array<number> = [start]
          for (const gap of gaps) {
            yield* TestClock.adjust(gap)
            // two callers at the same instant: at most one of them is the trial
            const first = yield* degradation.shouldSkip(route, "4K")
            const second = yield* degradation.shouldSkip(route, "4K")
            expect(second).toBe(true)
            if (!first) trials.push(yield* Clock.currentTimeMillis)
          }
          for (let i = 1; i < trials.length; i++) expect(trials[i]! - trials[i - 1]!).toBeGreaterThanOrEqual(20_000)
          // and no trial is withheld: a whole interval never passes without one
          expect((yield* Clock.currentTimeMillis) - trials[trials.length - 1]!).toBeLessThan(20_000)
        }),
      { fastCheck: { numRuns: 10 } }
    )
  })

  describe("settings", () => {
    const decode = Schema.decodeUnknownEither(Degradation.DegradationSettings)
    const messagesOf = (input: unknown): string => {
      const result = decode(input)
      if (Either.isRight(result)) throw new Error(`expected a failure for ${JSON.stringify(input)}`)
      return ParseResult.ArrayFormatter.formatErrorSync(result.left).map((issue) =>
        `${issue.path.join(".")}: ${issue.message}`
      ).join("\n")
    }

    it("every field is optional with the defaults; durations accept milliseconds or strings", () => {
      const settings = Either.getOrThrow(decode({}))
      expect({ ...settings }).toEqual(Degradation.defaults)
      expect(Either.getOrThrow(decode({ trialInterval: "1 minute", sample: 30 }))).toMatchObject({
        trialInterval: Duration.minutes(1),
        sample: 30
      })
      expect(Either.getOrThrow(decode({ trialInterval: 1500 })).trialInterval).toEqual(Duration.millis(1500))
      expect(Schema.encodeSync(Degradation.DegradationSettings)(settings)).toMatchObject({ trialInterval: 30_000 })
    })

    it("rejects nonsense with a message per field", () => {
      expect(messagesOf({ stepUpAt: 0.4 })).toBe("stepUpAt: must not be below stepDownBelow (0.5), actual 0.4")
      expect(messagesOf({ sample: 5 })).toBe("minimumCalls: must not exceed sample (5), actual 10")
      expect(messagesOf({ sample: 2, minimumCalls: 2 })).toBe(
        "trialsToStepUp: must not exceed sample (2), actual 3"
      )
      expect(messagesOf({ stepDownBelow: 0, sample: 2.5, trialInterval: 0 })).toBe(
        [
          "stepDownBelow: must be a share in (0, 1], actual 0",
          "sample: must be a whole number of at least 1, actual 2.5",
          "trialInterval: must be a duration longer than zero, actual 0"
        ].join("\n")
      )
      expect(messagesOf({ trialInterval: "soon" })).toContain("Expected a duration")
      expect(messagesOf({ trialInterval: -5 })).toContain("Expected a duration")
    })

    it.effect("make dies with every problem listed", () =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(Degradation.make({ stepUpAt: 0.3, minimumCalls: 50 }))
        expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
        if (Exit.isFailure(exit)) {
          expect(Cause.pretty(exit.cause)).toContain(
            "Invalid Degradation settings: stepUpAt must not be below stepDownBelow (0.5), actual 0.3; " +
              "minimumCalls must not exceed sample (20), actual 50"
          )
        }
      }))
  })
})
