import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, FastCheck, ParseResult, pipe, Schema, TestClock } from "effect"
import { PeakWindows } from "../src/index.js"

const at = (iso: string): number => Date.parse(iso)
const iso = (epochMillis: number): string => new Date(epochMillis).toISOString()

const { offPeak, peak } = PeakWindows.defaults

const schedule = (timeZone: string, ...windows: ReadonlyArray<readonly [string, string]>) =>
  Schema.decodeUnknownSync(PeakWindows.PeakScheduleFromConfig)({
    timeZone,
    windows: windows.map(([start, end]) => `${start}-${end}`)
  })

/** 22:00–02:00 in Los Angeles: wraps midnight. */
const overnight = schedule("America/Los_Angeles", ["22:00", "02:00"])
/** 01:30–02:00 in Los Angeles: inside the hour that repeats when clocks fall back. */
const repeatedHour = schedule("America/Los_Angeles", ["01:30", "02:00"])
/** 01:00–01:30 in Los Angeles: ends inside the hour that repeats when clocks fall back. */
const firstHalfOfRepeatedHour = schedule("America/Los_Angeles", ["01:00", "01:30"])
/** 03:30–05:00 in Los Angeles: opens soon after the hour skipped when clocks spring forward. */
const afterGap = schedule("America/Los_Angeles", ["03:30", "05:00"])
/** 02:15–02:45 in Los Angeles: inside the hour that is skipped when clocks spring forward. */
const skippedHour = schedule("America/Los_Angeles", ["02:15", "02:45"])

const decodeError = (input: unknown): string =>
  Either.match(Schema.decodeUnknownEither(PeakWindows.PeakScheduleFromConfig)(input), {
    onLeft: (error) => ParseResult.TreeFormatter.formatErrorSync(error),
    onRight: () => "decoded"
  })

describe("PeakWindows", () => {
  it("defaults: peak 09–11, 13–15, 18–22 and off-peak 02–07 in Los Angeles, end exclusive", () => {
    // 2026-06-15 is PDT (UTC−7)
    const local = (time: string) => at(`2026-06-15T${time}:00-07:00`)
    const inPeak = ["09:00", "10:59", "13:00", "14:30", "18:00", "21:59"]
    const notPeak = ["08:59", "11:00", "12:00", "15:00", "17:59", "22:00", "00:00", "03:00"]
    expect(inPeak.map((time) => PeakWindows.contains(peak, local(time)))).toEqual(inPeak.map(() => true))
    expect(notPeak.map((time) => PeakWindows.contains(peak, local(time)))).toEqual(notPeak.map(() => false))
    expect(PeakWindows.contains(offPeak, local("02:00"))).toBe(true)
    expect(PeakWindows.contains(offPeak, local("06:59"))).toBe(true)
    expect(PeakWindows.contains(offPeak, local("07:00"))).toBe(false)
    expect(PeakWindows.contains(offPeak, local("01:59"))).toBe(false)
    // data-last
    expect(pipe(peak, PeakWindows.contains(local("09:30")))).toBe(true)
  })

  it("2026-03-08, clocks spring forward: 09:30 PDT is peak, a fixed PST offset would be wrong", () => {
    expect(PeakWindows.contains(peak, at("2026-03-08T16:30:00Z"))).toBe(true) // 09:30 PDT (08:30 if PST)
    expect(PeakWindows.contains(peak, at("2026-03-08T18:30:00Z"))).toBe(false) // 11:30 PDT (10:30 if PST)
    expect(PeakWindows.contains(peak, at("2026-03-09T04:59:00Z"))).toBe(true) // 21:59 PDT
    expect(PeakWindows.contains(peak, at("2026-03-09T05:30:00Z"))).toBe(false) // 22:30 PDT (21:30 if PST)
    // 01:59 PST, then 03:00 PDT one minute later
    expect(PeakWindows.contains(offPeak, at("2026-03-08T09:59:00Z"))).toBe(false)
    expect(PeakWindows.contains(offPeak, at("2026-03-08T10:00:00Z"))).toBe(true)
  })

  it("2026-11-01, clocks fall back: 09:30 PST is peak, a fixed PDT offset would be wrong", () => {
    expect(PeakWindows.contains(peak, at("2026-11-01T17:30:00Z"))).toBe(true) // 09:30 PST (10:30 if PDT)
    expect(PeakWindows.contains(peak, at("2026-11-01T16:30:00Z"))).toBe(false) // 08:30 PST (09:30 if PDT)
    expect(PeakWindows.contains(peak, at("2026-11-01T23:00:00Z"))).toBe(false) // 15:00 PST
    expect(PeakWindows.contains(peak, at("2026-11-02T05:30:00Z"))).toBe(true) // 21:30 PST (22:30 if PDT)
    // 02:00 PDT becomes 01:00 PST: the off-peak window is not open yet
    expect(PeakWindows.contains(offPeak, at("2026-11-01T09:00:00Z"))).toBe(false)
    expect(PeakWindows.contains(offPeak, at("2026-11-01T10:00:00Z"))).toBe(true) // 02:00 PST
  })

  it("a window that wraps midnight", () => {
    expect(PeakWindows.contains(overnight, at("2026-06-01T04:59:00Z"))).toBe(false) // 21:59
    expect(PeakWindows.contains(overnight, at("2026-06-01T05:00:00Z"))).toBe(true) // 22:00
    expect(PeakWindows.contains(overnight, at("2026-06-01T07:00:00Z"))).toBe(true) // 00:00
    expect(PeakWindows.contains(overnight, at("2026-06-01T08:59:00Z"))).toBe(true) // 01:59
    expect(PeakWindows.contains(overnight, at("2026-06-01T09:00:00Z"))).toBe(false) // 02:00
    expect(iso(PeakWindows.nextChange(overnight, at("2026-06-01T04:00:00Z")))).toBe("2026-06-01T05:00:00.000Z")
    expect(iso(PeakWindows.nextChange(overnight, at("2026-06-01T05:00:00Z")))).toBe("2026-06-01T09:00:00.000Z")
  })

  it("nextChange: the next opening or closing, strictly after the instant", () => {
    const june = (time: string) => at(`2026-06-15T${time}-07:00`)
    expect(PeakWindows.nextChange(peak, june("08:00:00"))).toBe(june("09:00:00"))
    expect(PeakWindows.nextChange(peak, june("09:00:00"))).toBe(june("11:00:00"))
    expect(PeakWindows.nextChange(peak, june("10:59:59.999"))).toBe(june("11:00:00"))
    expect(PeakWindows.nextChange(peak, june("11:00:00"))).toBe(june("13:00:00"))
    expect(PeakWindows.nextChange(peak, june("23:00:00"))).toBe(at("2026-06-16T09:00:00-07:00"))
    expect(pipe(offPeak, PeakWindows.nextChange(june("12:00:00")))).toBe(at("2026-06-16T02:00:00-07:00"))
    // adjacent windows are one stretch
    const adjacent = schedule("UTC", ["09:00", "11:00"], ["11:00", "13:00"])
    expect(iso(PeakWindows.nextChange(adjacent, at("2026-06-15T10:00:00Z")))).toBe("2026-06-15T13:00:00.000Z")
  })

  it("nextChange across the spring-forward gap: a window opens at the first instant inside it", () => {
    // 00:00 PST; 02:00 does not exist, the window opens at 03:00 PDT and closes at 07:00 PDT
    const opens = PeakWindows.nextChange(offPeak, at("2026-03-08T08:00:00Z"))
    expect(iso(opens)).toBe("2026-03-08T10:00:00.000Z")
    expect(iso(PeakWindows.nextChange(offPeak, opens))).toBe("2026-03-08T14:00:00.000Z")
    // wall-clock time runs an hour ahead: 03:30 PDT comes 2½ hours after 00:00 PST, not 3½
    expect(iso(PeakWindows.nextChange(afterGap, at("2026-03-08T08:00:00Z")))).toBe("2026-03-08T10:30:00.000Z")
    // a window lying wholly in the skipped hour does not open that day
    expect(iso(PeakWindows.nextChange(skippedHour, at("2026-03-08T08:00:00Z")))).toBe("2026-03-09T09:15:00.000Z")
  })

  it("nextChange across the fall-back repeated hour", () => {
    // 00:00 PDT; the off-peak window opens at 02:00 PST, an hour later than a fixed PDT offset would say
    const opens = PeakWindows.nextChange(offPeak, at("2026-11-01T07:00:00Z"))
    expect(iso(opens)).toBe("2026-11-01T10:00:00.000Z")
    expect(iso(PeakWindows.nextChange(offPeak, opens))).toBe("2026-11-01T15:00:00.000Z")
    // 01:30–02:00 happens twice: once in PDT, once in PST
    const changes: Array<string> = []
    let t = at("2026-11-01T08:00:00Z") // 01:00 PDT
    for (let i = 0; i < 4; i++) {
      t = PeakWindows.nextChange(repeatedHour, t)
      changes.push(iso(t))
    }
    // 01:30 PDT closes 01:00–01:30, which opens again half an hour later at 01:00 PST
    expect(iso(PeakWindows.nextChange(firstHalfOfRepeatedHour, at("2026-11-01T08:30:00Z")))).toBe(
      "2026-11-01T09:00:00.000Z"
    )
    expect(changes).toEqual([
      "2026-11-01T08:30:00.000Z",
      "2026-11-01T09:00:00.000Z",
      "2026-11-01T09:30:00.000Z",
      "2026-11-01T10:00:00.000Z"
    ])
  })

  it("property: contains is constant on [t, nextChange(t)) and flips at nextChange(t)", () => {
    const schedules = [
      peak,
      offPeak,
      overnight,
      repeatedHour,
      firstHalfOfRepeatedHour,
      skippedHour,
      afterGap,
      schedule("Asia/Kolkata", ["09:30", "10:15"])]
    const year = { min: at("2026-01-01T00:00:00Z"), max: at("2027-01-01T00:00:00Z") }
    const nearDst = (day: string) => ({ min: at(`${day}T00:00:00Z`), max: at(`${day}T23:59:59Z`) + 86_400_000 })
    const instant = FastCheck.oneof(
      FastCheck.integer(year),
      FastCheck.integer(nearDst("2026-03-08")),
      FastCheck.integer(nearDst("2026-11-01"))
    )
    FastCheck.assert(
      FastCheck.property(
        FastCheck.constantFrom(...schedules),
        instant,
        FastCheck.array(FastCheck.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
          minLength: 1,
          maxLength: 5
        }),
        (s, t, fractions) => {
          const inside = PeakWindows.contains(s, t)
          const change = PeakWindows.nextChange(s, t)
          expect(change).toBeGreaterThan(t)
          for (const fraction of [0, ...fractions]) {
            expect(PeakWindows.contains(s, t + Math.floor((change - t) * fraction))).toBe(inside)
          }
          expect(PeakWindows.contains(s, change - 1)).toBe(inside)
          expect(PeakWindows.contains(s, change)).toBe(!inside)
        }
      ),
      { numRuns: 300 }
    )
  })

  it.effect("isPeak and current read the Clock", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2026-03-08T16:30:00Z")) // 09:30 PDT
      expect(yield* PeakWindows.isPeak).toBe(true)
      expect(yield* PeakWindows.current(offPeak)).toBe(false)
      expect(iso(yield* PeakWindows.nextChangeFromNow(peak))).toBe("2026-03-08T18:00:00.000Z")
      yield* TestClock.setTime(at("2026-11-01T16:30:00Z")) // 08:30 PST
      expect(yield* PeakWindows.isPeak).toBe(false)
      yield* TestClock.setTime(at("2026-11-01T10:30:00Z")) // 02:30 PST
      expect(yield* PeakWindows.current(offPeak)).toBe(true)
    }))

  it("cap: never above the limit", () => {
    expect(PeakWindows.cap("4K", "2K")).toBe("2K")
    expect(PeakWindows.cap("2K", "2K")).toBe("2K")
    expect(PeakWindows.cap("1K", PeakWindows.defaultCap)).toBe("1K")
    expect(pipe("4K" as const, PeakWindows.cap("1K"))).toBe("1K")
  })

  it("config schema: decodes and encodes windows as strings", () => {
    const decoded = schedule("America/Los_Angeles", ["09:00", "11:00"], ["13:00", "15:00"], ["18:00", "22:00"])
    expect(decoded).toBeInstanceOf(PeakWindows.PeakSchedule)
    expect(decoded.windows.map((w) => [w.start, w.end])).toEqual(peak.windows.map((w) => [w.start, w.end]))
    expect(Schema.encodeSync(PeakWindows.PeakScheduleFromConfig)(peak)).toEqual({
      timeZone: "America/Los_Angeles",
      windows: ["09:00-11:00", "13:00-15:00", "18:00-22:00"]
    })
    expect(schedule("America/Los_Angeles", [" 22:00", "02:00 "]).windows[0].start).toBe("22:00")
  })

  it("config schema: rejects bad time zones and bad times with their values", () => {
    expect(decodeError({ timeZone: "Mars/Olympus_Mons", windows: ["09:00-11:00"] })).toContain(
      `Expected an IANA time zone such as "America/Los_Angeles", actual "Mars/Olympus_Mons"`
    )
    expect(decodeError({ timeZone: "America/Los_Angeles", windows: ["09:00-24:00"] })).toContain(
      `Expected a time of day "HH:MM" between 00:00 and 23:59, actual "24:00"`
    )
    expect(decodeError({ timeZone: "America/Los_Angeles", windows: ["9-11"] })).toContain(
      `Expected a time of day "HH:MM" between 00:00 and 23:59, actual "9"`
    )
    expect(decodeError({ timeZone: "America/Los_Angeles", windows: ["09:00"] })).toContain(
      `Expected a window "HH:MM-HH:MM", actual "09:00"`
    )
    expect(decodeError({ timeZone: "America/Los_Angeles", windows: ["09:00-09:00"] })).toContain(
      "Expected a window whose start and end differ"
    )
    expect(decodeError({ timeZone: "America/Los_Angeles", windows: [] })).not.toBe("decoded")
    expect(decodeError({ timeZone: "UTC", windows: ["00:00-12:00", "12:00-00:00"] })).toContain(
      "windows cover the whole day"
    )
    expect(() =>
      PeakWindows.PeakSchedule.make({
        timeZone: "Not/AZone",
        windows: [PeakWindows.Window.make({ start: "09:00", end: "11:00" })]
      })
    ).toThrow(/IANA time zone/)
  })
})
