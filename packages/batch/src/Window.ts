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
): Decision =>
  conditions.ignoreWindow
    ? { _tag: "Open", reason: "ignored" }
    : PeakWindows.contains(policy.schedule, now)
    ? { _tag: "Open", reason: "window" }
    : policy.outsideWhenHealthy && conditions.healthy
    ? { _tag: "Open", reason: "healthy" }
    : { _tag: "Closed", opensAt: PeakWindows.nextChange(policy.schedule, now) }

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
export const completionTime = (policy: Policy, now: number, workMillis: number): number => {
  let at = now
  let left = Math.max(0, workMillis)
  for (;;) {
    at = nextOpen(policy, at)
    const closes = PeakWindows.nextChange(policy.schedule, at)
    if (at + left <= closes) return at + left
    left -= closes - at
    at = closes
  }
}
