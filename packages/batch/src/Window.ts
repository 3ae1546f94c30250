/**
 * When batch work may run: inside an off-peak window of local time
 * (`PeakWindows`, so daylight saving time is followed; 02:00–07:00
 * America/Los_Angeles by default, when the field sees 503s drop from 30–40%
 * to under 5%), and, optionally, outside it while the routes are healthy.
 *
 * Everything here is a pure function of an instant (epoch milliseconds), so
 * tests drive it with `TestClock` or plain numbers.
 *
 * @since 0.1.0
 */
import { PeakWindows } from "@ballast/core"
import { Schema } from "effect"

/**
 * The scheduling policy: the off-peak schedule, and whether jobs may run
 * outside it while every route is healthy.
 *
 * @since 0.1.0
 */
export class Policy extends Schema.Class<Policy>("@ballast/batch/Window/Policy")({
  schedule: PeakWindows.PeakSchedule,
  outsideWhenHealthy: Schema.optionalWith(Schema.Boolean, { default: () => false, exact: true })
}) {}

/**
 * The default policy: 02:00–07:00 America/Los_Angeles, and not outside it.
 *
 * @since 0.1.0
 */
export const defaultPolicy: Policy = Policy.make({ schedule: PeakWindows.defaults.offPeak })

/**
 * Whether jobs may start now, and why: `window` (inside the off-peak window),
 * `healthy` (outside it, with `outsideWhenHealthy` and every route healthy),
 * `ignored` (the window is ignored, as `work --now` does) — or `Closed`, with
 * the instant the window next opens.
 *
 * @since 0.1.0
 */
export type Decision =
  | { readonly _tag: "Open"; readonly reason: "window" | "healthy" | "ignored" }
  | { readonly _tag: "Closed"; readonly opensAt: number }

/**
 * Decides whether jobs may start at `now`.
 *
 * @since 0.1.0
 */
export const decide = (
  policy: Policy,
  now: number,
  conditions: { readonly healthy: boolean; readonly ignoreWindow: boolean }
): Decision => decideWith(policy, conditions, PeakWindows.contains(policy.schedule, now), () => PeakWindows.nextChange(policy.schedule, now))

const decideWith = (
  policy: Policy,
  conditions: { readonly healthy: boolean; readonly ignoreWindow: boolean },
  inside: boolean,
  opensAt: () => number
): Decision =>
  conditions.ignoreWindow
    ? { _tag: "Open", reason: "ignored" }
    : inside
    ? { _tag: "Open", reason: "window" }
    : policy.outsideWhenHealthy && conditions.healthy
    ? { _tag: "Open", reason: "healthy" }
    : { _tag: "Closed", opensAt: opensAt() }

/**
 * The first instant at or after `at` inside the window: `at` itself when the
 * window is open then, else the window's next opening.
 *
 * @since 0.1.0
 */
export const nextOpen = (policy: Policy, at: number): number =>
  PeakWindows.contains(policy.schedule, at) ? at : PeakWindows.nextChange(policy.schedule, at)

/**
 * When `workMillis` of window time, starting at `now`, will have been spent:
 * the work runs only while the window is open, and waits for the next opening
 * while it is closed.
 *
 * @since 0.1.0
 */
export const completionTime = (policy: Policy, now: number, workMillis: number): number =>
  calendar(policy).completionTime(now, workMillis)

/**
 * `decide` and `completionTime` for many instants of one policy: the window's
 * open periods are worked out once, as far ahead as asked, and kept, so that
 * each answer compares numbers instead of reading the time zone's rules (a
 * worker decides on every turn of its scheduler; submitting 1,000 jobs
 * estimates 1,000 completion times). Instants may come in any order; one
 * before the earliest asked starts the calendar afresh.
 *
 * @since 0.1.0
 */
export interface Calendar {
  readonly decide: (now: number, conditions: { readonly healthy: boolean; readonly ignoreWindow: boolean }) => Decision
  readonly completionTime: (now: number, workMillis: number) => number
}

/**
 * A `Calendar` of a policy.
 *
 * @since 0.1.0
 */
export const calendar = (policy: Policy): Calendar => {
  // The open periods [opens, closes) that fall in [from, until), in order, and the open time before each.
  let from = Number.POSITIVE_INFINITY
  let until = Number.POSITIVE_INFINITY
  let opens: Array<number> = []
  let closes: Array<number> = []
  let openBefore: Array<number> = []
  const extend = () => {
    const opensAt = nextOpen(policy, until)
    const closesAt = PeakWindows.nextChange(policy.schedule, opensAt)
    const last = opens.length - 1
    openBefore.push(last < 0 ? 0 : openBefore[last]! + closes[last]! - opens[last]!)
    opens.push(opensAt)
    closes.push(closesAt)
    until = closesAt
  }
  // The first period that closes after `now`, worked out if need be.
  const periodAfter = (now: number): number => {
    if (now < from) {
      from = now
      until = now
      opens = []
      closes = []
      openBefore = []
    }
    while (until <= now) extend()
    let low = 0
    let high = closes.length - 1
    while (low < high) {
      const middle = (low + high) >>> 1
      if (closes[middle]! > now) high = middle
      else low = middle + 1
    }
    return low
  }
  return {
    decide: (now, conditions) => {
      const period = periodAfter(now)
      return decideWith(policy, conditions, opens[period]! <= now, () => opens[period]!)
    },
    completionTime: (now, workMillis) => {
      const period = periodAfter(now)
      // Work is measured in open time since `from`: what has passed by `now`, plus the work.
      const target = openBefore[period]! + Math.max(0, now - opens[period]!) + Math.max(0, workMillis)
      const last = () => opens.length - 1
      while (openBefore[last()]! + closes[last()]! - opens[last()]! < target) extend()
      let low = period
      let high = last()
      while (low < high) {
        const middle = (low + high) >>> 1
        if (openBefore[middle]! + closes[middle]! - opens[middle]! >= target) high = middle
        else low = middle + 1
      }
      return opens[low]! + target - openBefore[low]!
    }
  }
}
