import { describe, expect, it } from "@effect/vitest"
import { Scenario, Simulation, VirtualTime } from "@ballast/testing"
import { Effect, Exit, Random } from "effect"

describe("outage-2h end to end (reference plan, simulated providers, virtual time)", () => {
  it("keeps answering through three simulated hours: ≥ 99.9% answered", () => {
    const scenario = Scenario.scenarios["outage-2h"]
    const realStart = performance.now()
    const exit = VirtualTime.run(
      Simulation.runReference(scenario, { duration: "3 hours", interval: "10 seconds" }).pipe(
        Effect.withRandom(Random.make("outage-2h"))
      )
    )
    const realMillis = performance.now() - realStart
    if (!Exit.isSuccess(exit)) throw new Error(String(exit.cause))
    const { outcomes, summary } = exit.value

    expect(summary.requests).toBe(1080)
    expect(summary.successRate).toBeGreaterThanOrEqual(0.999)
    // During the outage the fallbacks answer; after it, the primary is back.
    const routeOf = (o: Simulation.Outcome) => (o.result._tag === "Right" ? o.result.right.route : "failed")
    const during = outcomes.filter((o) => o.sentAt > 10 * 60_000 && o.sentAt < 110 * 60_000)
    const after = outcomes.filter((o) => o.sentAt > 140 * 60_000)
    expect(during.filter((o) => routeOf(o) === "gemini-pro")).toHaveLength(0)
    expect(after.filter((o) => routeOf(o) === "gemini-pro").length / after.length).toBeGreaterThan(0.8)
    // Failing over must not turn into a retry storm.
    expect(summary.callsPerAnswer).toBeLessThan(1.5)
    // Three hours of traffic simulate far faster than real time (a ratio, not a wall-clock limit).
    expect((3 * 3600_000) / realMillis).toBeGreaterThan(1000)
  })
})
