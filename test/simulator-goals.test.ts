/**
 * Issue 5's goals for Ballast's row of `pnpm ballast simulate`, at the
 * command's defaults (6 requests a minute, seed 1), on `outage-2h` and
 * `feb-19`: ≥ 99.9% answered, ≤ 1.3 provider calls per success, and a p95
 * latency after failing over no more than 1 s above the fallback's own p95.
 * All times are simulated (virtual time), so these are not wall-clock checks.
 */
import { describe, expect, it } from "@effect/vitest"
import { Scenario, Strategies } from "@ballast/testing"

describe("the simulator's goals for Ballast", () => {
  for (const name of ["outage-2h", "feb-19"] as const) {
    it(name, () => {
      const row = Strategies.simulate({ scenario: Scenario.scenarios[name], strategy: "ballast" })
      expect(row.successRate).toBeGreaterThanOrEqual(0.999)
      expect(row.callsPerSuccess!).toBeLessThanOrEqual(1.3)
      expect(row.timeToFailover).not.toBeNull()
      expect(row.fallbackRoute).not.toBe(Strategies.primaryRoute)
      expect(row.p95AfterFailover! - row.fallbackP95!).toBeLessThanOrEqual(1)
    })
  }
})
