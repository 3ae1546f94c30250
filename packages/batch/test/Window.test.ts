import { PeakWindows } from "@ballast/core"
import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
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
})
