import { PeakWindows } from "@ballast/core"
import { describe, expect, it } from "@effect/vitest"
import { FastCheck, Schema } from "effect"
import * as Window from "../src/Window.js"

const at = (iso: string): number => Date.parse(iso)
const iso = (millis: number): string => new Date(millis).toISOString()
const policy = Window.defaultPolicy
const hours = (n: number) => n * 3_600_000

describe("Window", () => {
  it("is open 02:00–07:00 America/Los_Angeles by default, end exclusive", () => {
    const conditions = { healthy: false, ignoreWindow: false }
    expect(Window.decide(policy, at("2026-11-04T02:00:00-08:00"), conditions)).toEqual({ _tag: "Open", reason: "window" })
    expect(Window.decide(policy, at("2026-11-04T06:59:59-08:00"), conditions)).toEqual({ _tag: "Open", reason: "window" })
    expect(Window.decide(policy, at("2026-11-04T07:00:00-08:00"), conditions)).toEqual({
      _tag: "Closed",
      opensAt: at("2026-11-05T02:00:00-08:00")
    })
    expect(Window.decide(policy, at("2026-11-04T01:59:00-08:00"), conditions)).toEqual({
      _tag: "Closed",
      opensAt: at("2026-11-04T02:00:00-08:00")
    })
  })

  it("opens outside the window only when allowed and the routes are healthy; --now ignores it", () => {
    const noon = at("2026-11-04T12:00:00-08:00")
    const eager = Window.Policy.make({ schedule: policy.schedule, outsideWhenHealthy: true })
    expect(Window.decide(eager, noon, { healthy: true, ignoreWindow: false })).toEqual({ _tag: "Open", reason: "healthy" })
    expect(Window.decide(eager, noon, { healthy: false, ignoreWindow: false })._tag).toBe("Closed")
    expect(Window.decide(policy, noon, { healthy: true, ignoreWindow: false })._tag).toBe("Closed")
    expect(Window.decide(policy, noon, { healthy: false, ignoreWindow: true })).toEqual({ _tag: "Open", reason: "ignored" })
  })

  it("follows daylight saving time: the window opens at 10:00Z in winter and 09:00Z in summer", () => {
    expect(iso(Window.nextOpen(policy, at("2026-01-15T16:00:00Z")))).toBe("2026-01-16T10:00:00.000Z")
    expect(iso(Window.nextOpen(policy, at("2026-07-15T16:00:00Z")))).toBe("2026-07-16T09:00:00.000Z")
    // spring forward, 2026-03-08: 02:00 PST does not exist; the window opens at 03:00 PDT (10:00Z) and is 4 hours long
    const spring = Window.nextOpen(policy, at("2026-03-08T08:00:00Z"))
    expect(iso(spring)).toBe("2026-03-08T10:00:00.000Z")
    expect(iso(PeakWindows.nextChange(policy.schedule, spring))).toBe("2026-03-08T14:00:00.000Z")
    // fall back, 2026-11-01: 01:00–02:00 happens twice; the window opens at 02:00 PST (10:00Z) and is 5 hours long
    const fall = Window.nextOpen(policy, at("2026-11-01T07:30:00Z"))
    expect(iso(fall)).toBe("2026-11-01T10:00:00.000Z")
    expect(iso(PeakWindows.nextChange(policy.schedule, fall))).toBe("2026-11-01T15:00:00.000Z")
  })

  it("completion times spend only open window time", () => {
    const evening = at("2026-11-03T20:00:00-08:00")
    // even no work waits for the window to open
    expect(Window.completionTime(policy, evening, 0)).toBe(at("2026-11-04T02:00:00-08:00"))
    expect(iso(Window.completionTime(policy, evening, hours(1)))).toBe("2026-11-04T11:00:00.000Z")
    // five hours fill one window exactly; six spill into the next night
    expect(iso(Window.completionTime(policy, evening, hours(5)))).toBe("2026-11-04T15:00:00.000Z")
    expect(iso(Window.completionTime(policy, evening, hours(6)))).toBe("2026-11-05T11:00:00.000Z")
    // inside the window, the rest of it counts
    expect(iso(Window.completionTime(policy, at("2026-11-04T06:00:00-08:00"), hours(2)))).toBe("2026-11-05T11:00:00.000Z")
    // across spring forward: the night of 2026-03-08 has four hours (03:00–07:00 PDT)
    expect(iso(Window.completionTime(policy, at("2026-03-07T20:00:00-08:00"), hours(5)))).toBe("2026-03-09T10:00:00.000Z")
  })

  it("takes any schedule of PeakWindows, in any time zone", () => {
    const tokyo = Window.Policy.make({
      schedule: Schema.decodeUnknownSync(PeakWindows.PeakScheduleFromConfig)({ timeZone: "Asia/Tokyo", windows: ["23:00-04:00"] })
    })
    expect(iso(Window.nextOpen(tokyo, at("2026-11-04T12:00:00Z")))).toBe("2026-11-04T14:00:00.000Z")
    expect(iso(Window.completionTime(tokyo, at("2026-11-04T12:00:00Z"), hours(6)))).toBe("2026-11-05T15:00:00.000Z")
  })

  it("a calendar answers as decide and completionTime do, for instants in any order, across DST changes", () => {
    // completionTime as first written: walk the window opening by opening
    const reference = (policy: Window.Policy, now: number, work: number): number => {
      let at = now
      let left = work
      for (;;) {
        at = Window.nextOpen(policy, at)
        const closes = PeakWindows.nextChange(policy.schedule, at)
        if (at + left <= closes) return at + left
        left -= closes - at
        at = closes
      }
    }
    const policies = [
      policy,
      Window.Policy.make({ schedule: policy.schedule, outsideWhenHealthy: true }),
      Window.Policy.make({
        schedule: Schema.decodeUnknownSync(PeakWindows.PeakScheduleFromConfig)({
          timeZone: "Europe/London",
          windows: ["00:30-01:30", "01:30-02:15", "23:00-23:45"]
        })
      })
    ]
    // the year 2026, with many instants within a day of a DST change (US: Mar 8, Nov 1; EU: Mar 29, Oct 25)
    const changes = ["2026-03-08T10:00:00Z", "2026-11-01T09:00:00Z", "2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z"].map(at)
    const quarters = (n: number) => n * 900_000
    const instant = FastCheck.oneof(
      FastCheck.integer({ min: at("2026-01-01T00:00:00Z"), max: at("2026-12-31T00:00:00Z") }),
      FastCheck.tuple(FastCheck.constantFrom(...changes), FastCheck.integer({ min: -hours(24), max: hours(24) }))
        .map(([change, offset]) => change + offset),
      // on a quarter hour, as window boundaries are
      FastCheck.integer({ min: 0, max: 365 * 96 }).map((n) => at("2026-01-01T00:00:00Z") + quarters(n))
    )
    const query = FastCheck.record({
      now: instant,
      // whole quarter hours too, so that work ends exactly when a window closes
      work: FastCheck.oneof(
        FastCheck.constant(0),
        FastCheck.integer({ min: 0, max: hours(72) }),
        FastCheck.integer({ min: 1, max: 4 * 72 }).map(quarters)
      ),
      healthy: FastCheck.boolean()
    })
    FastCheck.assert(
      FastCheck.property(
        FastCheck.constantFrom(...policies),
        FastCheck.array(query, { minLength: 1, maxLength: 25 }),
        (policy, queries) => {
          const calendar = Window.calendar(policy)
          for (const { healthy, now, work } of queries) {
            const conditions = { healthy, ignoreWindow: false }
            expect(calendar.decide(now, conditions)).toEqual(Window.decide(policy, now, conditions))
            expect(calendar.completionTime(now, work)).toBe(reference(policy, now, work))
          }
        }
      ),
      { numRuns: 40 }
    )
  })
})
