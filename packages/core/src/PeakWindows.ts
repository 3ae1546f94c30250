/**
 * Time-of-day windows in a time zone: the provider's peak hours, when
 * real-time requests start at a capped resolution, and the off-peak window in
 * which batch work runs. Wall-clock times are read in the schedule's IANA time
 * zone, so the windows follow daylight saving time.
 *
 * @since 0.1.0
 */
import { Clock, DateTime, Effect, Option, ParseResult, Schema } from "effect"
import { dual } from "effect/Function"
import * as Resolutions from "./Resolution.js"
import type { Resolution } from "./Resolution.js"

const formatActual = (actual: unknown): string => {
  try {
    return JSON.stringify(actual) ?? String(actual)
  } catch {
    return String(actual)
  }
}

/**
 * A local wall-clock time of day, `"HH:MM"` on a 24-hour clock
 * (`"00:00"`–`"23:59"`).
 *
 * @since 0.1.0
 */
export const TimeOfDay = Schema.String.pipe(
  Schema.pattern(/^([01]\d|2[0-3]):[0-5]\d$/, {
    message: (issue) => `Expected a time of day "HH:MM" between 00:00 and 23:59, actual ${formatActual(issue.actual)}`
  })
)

/**
 * An IANA time zone name that this runtime's `Intl` knows, such as
 * `"America/Los_Angeles"`.
 *
 * @since 0.1.0
 */
export const TimeZone = Schema.String.pipe(
  Schema.filter((name) => Option.isSome(DateTime.zoneMakeNamed(name)), {
    message: (issue) =>
      `Expected an IANA time zone such as "America/Los_Angeles", actual ${formatActual(issue.actual)}`
  })
)

const minuteOfDay = (time: string): number => Number(time.slice(0, 2)) * 60 + Number(time.slice(3, 5))

/**
 * A window of local time: from `start` (inclusive) to `end` (exclusive). An
 * `end` before `start` wraps past midnight (`22:00`–`02:00`).
 *
 * @since 0.1.0
 */
export class Window extends Schema.Class<Window>("@ballast/core/PeakWindows/Window")(
  Schema.Struct({ start: TimeOfDay, end: TimeOfDay }).pipe(
    Schema.filter((window) => window.start !== window.end, {
      message: (issue) =>
        `Expected a window whose start and end differ, actual ${formatActual(issue.actual)}`
    })
  )
) {
  /**
   * Whether a local minute of the day (0–1439) is inside the window.
   *
   * @since 0.1.0
   */
  containsMinute(minute: number): boolean {
    const start = minuteOfDay(this.start)
    const end = minuteOfDay(this.end)
    return start < end ? minute >= start && minute < end : minute >= start || minute < end
  }
}

const coversWholeDay = (windows: ReadonlyArray<Window>): boolean => {
  for (let minute = 0; minute < 1440; minute++) {
    if (!windows.some((window) => window.containsMinute(minute))) return false
  }
  return true
}

/**
 * Windows of local time in one time zone. The windows must leave some time of
 * day uncovered, so that `nextChange` always has an answer.
 *
 * @since 0.1.0
 */
export class PeakSchedule extends Schema.Class<PeakSchedule>("@ballast/core/PeakWindows/PeakSchedule")(
  Schema.Struct({ timeZone: TimeZone, windows: Schema.NonEmptyArray(Window) }).pipe(
    Schema.filter((schedule) => !coversWholeDay(schedule.windows), {
      message: () => "Expected windows that leave some time of day uncovered, actual windows cover the whole day"
    })
  )
) {}

/**
 * A window written as `"HH:MM-HH:MM"` (`"09:00-11:00"`, `"22:00-02:00"`), as in
 * configuration files.
 *
 * @since 0.1.0
 */
export const WindowFromString: Schema.Schema<Window, string> = Schema.transformOrFail(
  Schema.String,
  Window,
  {
    strict: true,
    decode: (input, _, ast) => {
      const [start, end, ...rest] = input.split("-").map((part) => part.trim())
      return start !== undefined && end !== undefined && rest.length === 0
        ? ParseResult.succeed({ start, end })
        : ParseResult.fail(
          new ParseResult.Type(ast, input, `Expected a window "HH:MM-HH:MM", actual ${formatActual(input)}`)
        )
    },
    encode: (window) => ParseResult.succeed(`${window.start}-${window.end}`)
  }
)

/**
 * A schedule as written in configuration:
 * `{ timeZone: "America/Los_Angeles", windows: ["09:00-11:00", "13:00-15:00"] }`.
 * Decoding reports an unknown time zone, a malformed time and an empty window
 * list with their values.
 *
 * @since 0.1.0
 */
export const PeakScheduleFromConfig: Schema.Schema<
  PeakSchedule,
  { readonly timeZone: string; readonly windows: readonly [string, ...Array<string>] }
> = Schema.transform(
  Schema.Struct({ timeZone: Schema.String, windows: Schema.NonEmptyArray(WindowFromString) }),
  PeakSchedule,
  {
    strict: true,
    decode: (config) => ({
      timeZone: config.timeZone,
      windows: [
        { start: config.windows[0].start, end: config.windows[0].end },
        ...config.windows.slice(1).map((window) => ({ start: window.start, end: window.end }))
      ] as const
    }),
    encode: (schedule) => ({
      timeZone: schedule.timeZone,
      windows: [
        Window.make(schedule.windows[0]),
        ...schedule.windows.slice(1).map((window) => Window.make(window))
      ] as const
    })
  }
)

/**
 * The windows from the field, in America/Los_Angeles: `peak` is 09–11, 13–15
 * and 18–22; `offPeak`, the batch window, is 02–07.
 *
 * @since 0.1.0
 */
export const defaults: { readonly peak: PeakSchedule; readonly offPeak: PeakSchedule } = {
  peak: PeakSchedule.make({
    timeZone: "America/Los_Angeles",
    windows: [
      Window.make({ start: "09:00", end: "11:00" }),
      Window.make({ start: "13:00", end: "15:00" }),
      Window.make({ start: "18:00", end: "22:00" })
    ]
  }),
  offPeak: PeakSchedule.make({
    timeZone: "America/Los_Angeles",
    windows: [Window.make({ start: "02:00", end: "07:00" })]
  })
}

// Building a named zone builds an Intl.DateTimeFormat, which is slow; schedules
// share a handful of zones.
const zones = new Map<string, DateTime.TimeZone>()

const zoneOf = (name: string): DateTime.TimeZone => {
  let zone = zones.get(name)
  if (zone === undefined) {
    zone = DateTime.zoneUnsafeMakeNamed(name)
    zones.set(name, zone)
  }
  return zone
}

const localAt = (schedule: PeakSchedule, epochMillis: number) => {
  const zoned = DateTime.unsafeMakeZoned(epochMillis, { timeZone: zoneOf(schedule.timeZone) })
  const parts = DateTime.toParts(zoned)
  return { minute: parts.hours * 60 + parts.minutes, offset: DateTime.zonedOffset(zoned) }
}

const containsMinute = (schedule: PeakSchedule, minute: number): boolean =>
  schedule.windows.some((window) => window.containsMinute(minute))

/**
 * Whether an instant (epoch milliseconds) falls inside one of the schedule's
 * windows, reading the local wall-clock time in the schedule's time zone.
 *
 * @example
 * ```ts
 * import { PeakWindows } from "@ballast/core"
 *
 * // 2026-03-08T16:30Z is 09:30 PDT, the first day of daylight saving time
 * PeakWindows.contains(PeakWindows.defaults.peak, Date.parse("2026-03-08T16:30:00Z")) // true
 * ```
 *
 * @since 0.1.0
 */
export const contains: {
  (epochMillis: number): (schedule: PeakSchedule) => boolean
  (schedule: PeakSchedule, epochMillis: number): boolean
} = dual(2, (schedule: PeakSchedule, epochMillis: number): boolean =>
  containsMinute(schedule, localAt(schedule, epochMillis).minute))

const minute = 60_000

/**
 * The first instant after `epochMillis` at which `contains` changes value: the
 * next time a window opens or closes (adjacent windows count as one).
 *
 * Across daylight saving changes a window opens at the first instant whose
 * local time is inside it: on the day clocks spring forward from 02:00 to
 * 03:00, a window from 02:00 opens at 03:00 local time, and a window lying
 * wholly in the skipped hour does not open that day. When clocks fall back,
 * the repeated hour is read twice, so a window inside it opens twice.
 * Time-zone offsets are assumed to be whole minutes, as every current one is.
 *
 * @example
 * ```ts
 * import { PeakWindows } from "@ballast/core"
 *
 * // when does tonight's batch window open?
 * const opens = PeakWindows.nextChange(PeakWindows.defaults.offPeak, Date.now())
 * ```
 *
 * @since 0.1.0
 */
export const nextChange: {
  (epochMillis: number): (schedule: PeakSchedule) => number
  (schedule: PeakSchedule, epochMillis: number): number
} = dual(2, (schedule: PeakSchedule, epochMillis: number): number => {
  const inside = contains(schedule, epochMillis)
  const boundaries = schedule.windows.flatMap((window) => [minuteOfDay(window.start), minuteOfDay(window.end)])
  const wallMinutesToNextBoundary = (from: number): number =>
    Math.min(...boundaries.map((boundary) => ((boundary - from + 1439) % 1440) + 1))
  let candidate = Math.floor(epochMillis / minute) * minute + minute
  for (;;) {
    const local = localAt(schedule, candidate)
    if (containsMinute(schedule, local.minute) !== inside) return candidate
    // Jump straight to the next boundary in wall-clock time unless the offset
    // changes on the way, in which case walk minute by minute through the change.
    const jump = candidate + wallMinutesToNextBoundary(local.minute) * minute
    candidate = localAt(schedule, jump).offset === local.offset ? jump : candidate + minute
  }
})

/**
 * Whether the current instant, read from `Clock`, falls inside a window of
 * the schedule.
 *
 * @since 0.1.0
 */
export const current = (schedule: PeakSchedule): Effect.Effect<boolean> =>
  Effect.map(Clock.currentTimeMillis, (now) => contains(schedule, now))

/**
 * Whether now, read from `Clock`, is in the default peak windows.
 *
 * @since 0.1.0
 */
export const isPeak: Effect.Effect<boolean> = current(defaults.peak)

/**
 * The epoch milliseconds, after now as read from `Clock`, at which the
 * schedule next opens or closes.
 *
 * @since 0.1.0
 */
export const nextChangeFromNow = (schedule: PeakSchedule): Effect.Effect<number> =>
  Effect.map(Clock.currentTimeMillis, (now) => nextChange(schedule, now))

/**
 * The resolution real-time requests start at during peak windows unless
 * configured otherwise.
 *
 * @since 0.1.0
 */
export const defaultCap: Resolution = "2K"

/**
 * A resolution no larger than `limit`: the request itself when it is not above
 * the limit, otherwise the limit.
 *
 * @since 0.1.0
 */
export const cap: {
  (limit: Resolution): (resolution: Resolution) => Resolution
  (resolution: Resolution, limit: Resolution): Resolution
} = dual(
  2,
  (resolution: Resolution, limit: Resolution): Resolution => Resolutions.isBelow(limit, resolution) ? limit : resolution
)
