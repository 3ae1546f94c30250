import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, FastCheck, Fiber, Option, Random, Ref, TestClock } from "effect"
import { Router } from "../src/index.js"

type RouteInfo = Router.RouteInfo

/** Routes with distinct models, so region failover never regroups them. */
const distinct = (...names: ReadonlyArray<string>): ReadonlyArray<RouteInfo> =>
  names.map((name) => ({ name, provider: `provider-${name}`, model: `model-${name}` }))

const allUp: Router.Conditions = { isAvailable: () => true, isDown: () => false }

const conditions = (options: {
  readonly open?: ReadonlyArray<string>
  readonly down?: ReadonlyArray<string>
}): Router.Conditions => ({
  isAvailable: (route) => !(options.open ?? []).includes(route),
  isDown: (route) => (options.down ?? []).includes(route)
})

/** No canary share, so orders are deterministic unless weights are set. */
const noCanary: Partial<Router.Settings> = { canary: 0 }

const recordMany = (
  router: Router.Router,
  route: string,
  count: number,
  outcome: { readonly success: boolean; readonly latencyMs: number }
) => Effect.forEach(Array.from({ length: count }), () => router.record(route, outcome), { discard: true })

const statsOf = (router: Router.Router, route: string) =>
  Effect.map(router.stats, (all) => {
    const found = all.find((s) => s.route === route)
    if (found === undefined) throw new Error(`no stats for ${route}`)
    return found
  })

/** Lets forked fibers run until they suspend. */
const settle = Effect.repeatN(Effect.yieldNow(), 20)

describe("Router.order: priority and skipping", () => {
  it.scoped("keeps the plan's priority order with default settings and no canary share", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a", "b", "c", "d"), settings: noCanary })
      const ordered = yield* router.order(["a", "b", "c", "d"], "a lighthouse at dusk", allUp)
      expect(ordered.routes).toStrictEqual(["a", "b", "c", "d"])
      expect(ordered.skipped).toStrictEqual([])
      expect(ordered.canary).toStrictEqual(Option.none())
      expect(ordered.promptClass).toStrictEqual(Option.none())
      // the order given is the plan's, not the order routes were declared in
      const reversed = yield* router.order(["d", "c", "b", "a"], "a lighthouse at dusk", allUp)
      expect(reversed.routes).toStrictEqual(["d", "c", "b", "a"])
    }))

  it.scoped("skips a route whose breaker is unavailable (open) or whose health is down (down)", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a", "b", "c", "d"), settings: noCanary })
      const ordered = yield* router.order(
        ["a", "b", "c", "d"],
        "prompt",
        conditions({ open: ["b"], down: ["c"] })
      )
      expect(ordered.routes).toStrictEqual(["a", "d"])
      expect(ordered.skipped).toStrictEqual([{ route: "b", reason: "open" }, { route: "c", reason: "down" }])
    }))

  it.scoped("an open breaker wins over health: a route both open and down is skipped as open", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a", "b"), settings: noCanary })
      const ordered = yield* router.order(["a", "b"], "prompt", conditions({ open: ["a"], down: ["a"] }))
      expect(ordered.routes).toStrictEqual(["b"])
      expect(ordered.skipped).toStrictEqual([{ route: "a", reason: "open" }])
    }))

  it.scoped("falls back to the health-down routes, in order, when nothing else is left", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a", "b", "c"), settings: noCanary })
      const everyDown = yield* router.order(["a", "b", "c"], "prompt", conditions({ down: ["a", "b", "c"] }))
      expect(everyDown.routes).toStrictEqual(["a", "b", "c"])
      expect(everyDown.skipped).toStrictEqual([])
      // open routes are still left out of the fallback
      const someOpen = yield* router.order(["a", "b", "c"], "prompt", conditions({ open: ["b"], down: ["a", "c"] }))
      expect(someOpen.routes).toStrictEqual(["a", "c"])
      expect(someOpen.skipped).toStrictEqual([{ route: "b", reason: "open" }])
    }))

  it.scoped("returns no routes when every breaker is open, and lists them all as skipped", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a", "b", "c") })
      const ordered = yield* router.order(["a", "b", "c"], "prompt", conditions({ open: ["a", "b", "c"] }))
      expect(ordered.routes).toStrictEqual([])
      expect(ordered.skipped).toStrictEqual([
        { route: "a", reason: "open" },
        { route: "b", reason: "open" },
        { route: "c", reason: "open" }
      ])
      expect(ordered.canary).toStrictEqual(Option.none())
    }))
})

describe("Router.keywordClassifier", () => {
  const rules: ReadonlyArray<Router.ClassRule> = [
    { name: "photorealistic", keywords: ["photo", "photorealistic", "shot on film"], routes: ["openai"] },
    { name: "artistic", keywords: ["painting", "watercolor", "photo"], routes: ["pro"] },
    { name: "empty", keywords: [], routes: ["x"] }
  ]
  const classify = Router.keywordClassifier(rules)

  it("matches whole words, ignoring case", () => {
    expect(classify("A photo of a red bicycle")).toStrictEqual(Option.some("photorealistic"))
    expect(classify("PHOTO")).toStrictEqual(Option.some("photorealistic"))
    expect(classify("a Photorealistic cat")).toStrictEqual(Option.some("photorealistic"))
    expect(classify("photo, please")).toStrictEqual(Option.some("photorealistic"))
    expect(classify("(photo)")).toStrictEqual(Option.some("photorealistic"))
    expect(classify("an oil Painting of a ship")).toStrictEqual(Option.some("artistic"))
  })

  it("matches phrases as a whole", () => {
    expect(classify("a portrait, Shot On Film, grainy")).toStrictEqual(Option.some("photorealistic"))
    expect(classify("a shot of film stock")).toStrictEqual(Option.none())
  })

  it("never matches inside another word", () => {
    expect(classify("a diagram of photosynthesis")).toStrictEqual(Option.none())
    expect(classify("telephoto lens")).toStrictEqual(Option.none())
    expect(classify("photos of cats")).toStrictEqual(Option.none())
    expect(classify("watercolors")).toStrictEqual(Option.none())
    expect(classify("photo2")).toStrictEqual(Option.none())
    expect(classify("überphoto")).toStrictEqual(Option.none())
  })

  it("the first matching rule wins", () => {
    // "photo" is a keyword of both rules; "painting" only of the second, yet the first rule matches
    expect(classify("a painting made from a photo")).toStrictEqual(Option.some("photorealistic"))
    expect(Router.keywordClassifier([...rules].reverse())("a painting made from a photo")).toStrictEqual(
      Option.some("artistic")
    )
  })

  it("treats keywords literally, not as patterns", () => {
    const special = Router.keywordClassifier([{ name: "c++", keywords: ["c++", "a.b"], routes: [] }])
    expect(special("write c++ code")).toStrictEqual(Option.some("c++"))
    expect(special("axb")).toStrictEqual(Option.none())
    expect(special("a.b")).toStrictEqual(Option.some("c++"))
  })

  it("a rule without keywords matches nothing", () => {
    expect(Router.keywordClassifier([{ name: "empty", keywords: [], routes: [] }])("anything at all")).toStrictEqual(
      Option.none()
    )
    expect(classify("")).toStrictEqual(Option.none())
  })
})

describe("Router.order: prompt classes", () => {
  const classes: ReadonlyArray<Router.ClassRule> = [
    { name: "photorealistic", keywords: ["photo"], routes: ["c", "b"] },
    { name: "artistic", keywords: ["painting"], routes: ["d"] }
  ]

  it.scoped("puts the class's routes first, in the rule's order, the others after in plan order", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a", "b", "c", "d"), settings: { canary: 0, classes } })
      const photo = yield* router.order(["a", "b", "c", "d"], "A Photo of a bicycle", allUp)
      expect(photo.routes).toStrictEqual(["c", "b", "a", "d"])
      expect(photo.promptClass).toStrictEqual(Option.some("photorealistic"))
      const painting = yield* router.order(["a", "b", "c", "d"], "a painting", allUp)
      expect(painting.routes).toStrictEqual(["d", "a", "b", "c"])
      expect(painting.promptClass).toStrictEqual(Option.some("artistic"))
      const none = yield* router.order(["a", "b", "c", "d"], "photosynthesis", allUp)
      expect(none.routes).toStrictEqual(["a", "b", "c", "d"])
      expect(none.promptClass).toStrictEqual(Option.none())
    }))

  it.scoped("leaves out class routes that are skipped", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a", "b", "c", "d"), settings: { canary: 0, classes } })
      const ordered = yield* router.order(["a", "b", "c", "d"], "a photo", conditions({ open: ["c"] }))
      expect(ordered.routes).toStrictEqual(["b", "a", "d"])
      expect(ordered.skipped).toStrictEqual([{ route: "c", reason: "open" }])
    }))

  it.scoped("tries a route once even if a class rule lists it twice", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({
        routes: distinct("a", "b", "c"),
        settings: { canary: 0, classes: [{ name: "photo", keywords: ["photo"], routes: ["c", "c", "b"] }] }
      })
      const ordered = yield* router.order(["a", "b", "c"], "a photo", allUp)
      expect(ordered.routes).toStrictEqual(["c", "b", "a"])
    }))

  it.scoped("a custom classify overrides the keyword rules", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const router = yield* Router.make({
        routes: distinct("a", "b", "c", "d"),
        settings: { canary: 0, classes },
        classify: (prompt) => {
          seen.push(prompt)
          return Option.some("artistic")
        }
      })
      // the keyword rules would say "photorealistic"
      const ordered = yield* router.order(["a", "b", "c", "d"], "a photo", allUp)
      expect(ordered.promptClass).toStrictEqual(Option.some("artistic"))
      expect(ordered.routes).toStrictEqual(["d", "a", "b", "c"])
      expect(seen).toStrictEqual(["a photo"])
      const never = yield* Router.make({
        routes: distinct("a", "b", "c", "d"),
        settings: { canary: 0, classes },
        classify: () => Option.none()
      })
      const unclassified = yield* never.order(["a", "b", "c", "d"], "a photo", allUp)
      expect(unclassified.promptClass).toStrictEqual(Option.none())
      expect(unclassified.routes).toStrictEqual(["a", "b", "c", "d"])
    }))
})

describe("Router.order: weights", () => {
  const firsts = (router: Router.Router, n: number, routes: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const counts: Record<string, number> = {}
      for (let i = 0; i < n; i++) {
        const { routes: ordered } = yield* router.order(routes, "prompt", allUp)
        counts[ordered[0]!] = (counts[ordered[0]!] ?? 0) + 1
        // the others follow in plan order
        expect(ordered.slice(1)).toStrictEqual(routes.filter((r) => r !== ordered[0]))
      }
      return counts
    })

  it.scoped("picks the first route by relative weight", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a", "b", "c"), settings: { canary: 0, weights: { a: 3, b: 1 } } })
      const n = 4_000
      const counts = yield* firsts(router, n, ["a", "b", "c"]).pipe(Effect.withRandom(Random.make(42)))
      // the standard deviation of the share is sqrt(0.75 · 0.25 / 4000) ≈ 0.7 points; ±4 points is > 5σ
      expect(Math.abs((counts["a"] ?? 0) / n - 0.75)).toBeLessThan(0.04)
      expect(Math.abs((counts["b"] ?? 0) / n - 0.25)).toBeLessThan(0.04)
      expect(counts["c"]).toBeUndefined()
    }))

  it.scoped("an unweighted route (here the plan's first) is never picked first", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a", "b", "c"), settings: { canary: 0, weights: { b: 1, c: 1 } } })
      const counts = yield* firsts(router, 500, ["a", "b", "c"]).pipe(Effect.withRandom(Random.make(7)))
      expect(counts["a"]).toBeUndefined()
      expect((counts["b"] ?? 0) + (counts["c"] ?? 0)).toBe(500)
      expect(counts["b"]).toBeGreaterThan(0)
      expect(counts["c"]).toBeGreaterThan(0)
    }))

  it.scoped("ignores demoted routes", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a", "b", "c"), settings: { canary: 0, weights: { a: 3, b: 1 } } })
      yield* recordMany(router, "a", 10, { success: false, latencyMs: 0 })
      const orders = yield* Effect.forEach(
        Array.from({ length: 200 }),
        () => Effect.map(router.order(["a", "b", "c"], "prompt", allUp), (o) => o.routes)
      ).pipe(Effect.withRandom(Random.make(3)))
      for (const routes of orders) expect(routes).toStrictEqual(["b", "c", "a"])
    }))
})

describe("Router.order: demotion", () => {
  const settings: Partial<Router.Settings> = { canary: 0, demoteBelow: 0.7, restoreAt: 0.85, minimumCalls: 10 }

  it.scoped("tries a route whose success rate falls below demoteBelow after the others, once it has minimumCalls outcomes", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a", "b", "c"), settings })
      yield* recordMany(router, "a", 9, { success: false, latencyMs: 0 })
      expect((yield* router.order(["a", "b", "c"], "prompt", allUp)).routes).toStrictEqual(["a", "b", "c"])
      expect((yield* statsOf(router, "a")).demoted).toBe(false)
      yield* router.record("a", { success: false, latencyMs: 0 })
      expect((yield* router.order(["a", "b", "c"], "prompt", allUp)).routes).toStrictEqual(["b", "c", "a"])
      expect((yield* statsOf(router, "a")).demoted).toBe(true)
      // a demoted route is still tried, just last; several demoted keep their relative order
      yield* recordMany(router, "b", 10, { success: false, latencyMs: 0 })
      expect((yield* router.order(["a", "b", "c"], "prompt", allUp)).routes).toStrictEqual(["c", "a", "b"])
    }))

  it.scoped("demotes at a rate just below demoteBelow, not at demoteBelow", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a", "b", "c"), settings })
      // a: 7/10 = 0.7 (not below); b: 6/10 = 0.6 (below)
      yield* recordMany(router, "a", 7, { success: true, latencyMs: 10 })
      yield* recordMany(router, "a", 3, { success: false, latencyMs: 0 })
      yield* recordMany(router, "b", 6, { success: true, latencyMs: 10 })
      yield* recordMany(router, "b", 4, { success: false, latencyMs: 0 })
      expect((yield* router.order(["a", "b", "c"], "prompt", allUp)).routes).toStrictEqual(["a", "c", "b"])
    }))

  it.scoped("hysteresis: stays demoted between demoteBelow and restoreAt, restored at restoreAt", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a", "b", "c"), settings })
      yield* recordMany(router, "a", 10, { success: false, latencyMs: 0 })
      expect((yield* router.order(["a", "b"], "prompt", allUp)).routes).toStrictEqual(["b", "a"])
      // 40 / 50 = 0.8: above demoteBelow, below restoreAt
      yield* recordMany(router, "a", 40, { success: true, latencyMs: 10 })
      expect((yield* router.order(["a", "b"], "prompt", allUp)).routes).toStrictEqual(["b", "a"])
      expect((yield* statsOf(router, "a")).demoted).toBe(true)
      // a route never demoted at the same 0.8 is not demoted
      yield* recordMany(router, "c", 8, { success: true, latencyMs: 10 })
      yield* recordMany(router, "c", 2, { success: false, latencyMs: 0 })
      expect((yield* router.order(["c", "b"], "prompt", allUp)).routes).toStrictEqual(["c", "b"])
      // 56 / 66 ≈ 0.848: still below restoreAt
      yield* recordMany(router, "a", 16, { success: true, latencyMs: 10 })
      expect((yield* router.order(["a", "b"], "prompt", allUp)).routes).toStrictEqual(["b", "a"])
      // 57 / 67 ≈ 0.851: restored
      yield* router.record("a", { success: true, latencyMs: 10 })
      expect((yield* router.order(["a", "b"], "prompt", allUp)).routes).toStrictEqual(["a", "b"])
      expect((yield* statsOf(router, "a")).demoted).toBe(false)
    }))

  it.scoped("restores a demoted route once the window slides past its outcomes", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a", "b"), settings: { ...settings, window: Duration.minutes(5) } })
      yield* recordMany(router, "a", 10, { success: false, latencyMs: 0 })
      expect((yield* router.order(["a", "b"], "prompt", allUp)).routes).toStrictEqual(["b", "a"])
      yield* TestClock.adjust(Duration.millis(Duration.toMillis(Duration.minutes(5)) - 1))
      expect((yield* statsOf(router, "a")).outcomes).toBe(10)
      expect((yield* router.order(["a", "b"], "prompt", allUp)).routes).toStrictEqual(["b", "a"])
      yield* TestClock.adjust("1 millis")
      expect((yield* statsOf(router, "a")).outcomes).toBe(0)
      expect((yield* statsOf(router, "a")).successRate).toBeNull()
      expect((yield* router.order(["a", "b"], "prompt", allUp)).routes).toStrictEqual(["a", "b"])
      expect((yield* statsOf(router, "a")).demoted).toBe(false)
    }))

  it.scoped("only outcomes inside the window count: old failures slide out, recent successes stay", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a", "b"), settings: { ...settings, window: Duration.minutes(5) } })
      yield* recordMany(router, "a", 10, { success: false, latencyMs: 0 })
      yield* TestClock.adjust("3 minutes")
      yield* recordMany(router, "a", 10, { success: true, latencyMs: 10 })
      expect((yield* statsOf(router, "a")).successRate).toBe(0.5)
      expect((yield* router.order(["a", "b"], "prompt", allUp)).routes).toStrictEqual(["b", "a"])
      yield* TestClock.adjust("2 minutes")
      const stats = yield* statsOf(router, "a")
      expect(stats.outcomes).toBe(10)
      expect(stats.successRate).toBe(1)
      expect((yield* router.order(["a", "b"], "prompt", allUp)).routes).toStrictEqual(["a", "b"])
    }))
})

describe("Router.order: latency order", () => {
  it.scoped("tries routes with a lower latency EWMA first, routes of unknown latency last in plan order", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a", "b", "c", "d"), settings: { canary: 0, order: "latency" } })
      expect((yield* router.order(["a", "b", "c", "d"], "prompt", allUp)).routes).toStrictEqual(["a", "b", "c", "d"])
      yield* router.record("c", { success: true, latencyMs: 50 })
      yield* router.record("a", { success: true, latencyMs: 200 })
      expect((yield* router.order(["a", "b", "c", "d"], "prompt", allUp)).routes).toStrictEqual(["c", "a", "b", "d"])
      // failures do not feed the latency
      yield* router.record("d", { success: false, latencyMs: 1 })
      expect((yield* router.order(["a", "b", "c", "d"], "prompt", allUp)).routes).toStrictEqual(["c", "a", "b", "d"])
      // the EWMA moves: c goes 50 → 50 + 0.2·(1050 − 50) = 250 > 200
      yield* router.record("c", { success: true, latencyMs: 1_050 })
      expect(router.unsafeLatency("c")).toBe(250)
      expect((yield* router.order(["a", "b", "c", "d"], "prompt", allUp)).routes).toStrictEqual(["a", "c", "b", "d"])
    }))

  it.scoped("with priority order, latency does not reorder", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a", "b"), settings: noCanary })
      yield* router.record("b", { success: true, latencyMs: 1 })
      yield* router.record("a", { success: true, latencyMs: 1_000 })
      expect((yield* router.order(["a", "b"], "prompt", allUp)).routes).toStrictEqual(["a", "b"])
    }))
})

describe("Router.stats", () => {
  it.scoped("reports success rate, outcomes, latency EWMA and p95 per route", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a", "b") })
      const fresh = yield* router.stats
      expect(fresh).toStrictEqual([
        {
          route: "a",
          successRate: null,
          outcomes: 0,
          latencyEwmaMs: null,
          latencyP50Ms: null,
          latencyP95Ms: null,
          inFlight: 0,
          demoted: false,
          canaries: 0
        },
        {
          route: "b",
          successRate: null,
          outcomes: 0,
          latencyEwmaMs: null,
          latencyP50Ms: null,
          latencyP95Ms: null,
          inFlight: 0,
          demoted: false,
          canaries: 0
        }
      ])
      expect(router.unsafeLatency("a")).toBe(0)
      expect(router.latencyP95("a")).toStrictEqual(Option.none())

      yield* router.record("a", { success: true, latencyMs: 100 })
      yield* router.record("a", { success: true, latencyMs: 200 })
      yield* router.record("a", { success: true, latencyMs: 100 })
      yield* router.record("a", { success: false, latencyMs: 5_000 })
      const a = yield* statsOf(router, "a")
      expect(a.successRate).toBe(0.75)
      expect(a.outcomes).toBe(4)
      // 100, then 100 + 0.2·(200 − 100) = 120, then 120 + 0.2·(100 − 120) = 116
      expect(a.latencyEwmaMs).toBeCloseTo(116, 9)
      expect(router.unsafeLatency("a")).toBeCloseTo(116, 9)
      // nearest rank over the three successes (100, 100, 200)
      expect(a.latencyP50Ms).toBe(100)
      expect(a.latencyP95Ms).toBe(200)
      // the hedge delay waits for 20
      expect(router.latencyP95("a")).toStrictEqual(Option.none())
      expect((yield* statsOf(router, "b")).outcomes).toBe(0)
    }))

  it.scoped("p50 and p95 are nearest-rank percentiles; the hedge delay's p95 needs 20 successes", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a") })
      // 1..19 ms, shuffled, plus failures that do not count
      const shuffled = [7, 19, 1, 12, 3, 15, 9, 18, 2, 11, 5, 17, 14, 4, 8, 16, 6, 13, 10]
      for (const latencyMs of shuffled) yield* router.record("a", { success: true, latencyMs })
      yield* recordMany(router, "a", 5, { success: false, latencyMs: 9_999 })
      expect(router.latencyP95("a")).toStrictEqual(Option.none())
      // 1..19: rank ⌈0.95 · 19⌉ = 19, rank ⌈0.5 · 19⌉ = 10
      expect((yield* statsOf(router, "a")).latencyP95Ms).toBe(19)
      expect((yield* statsOf(router, "a")).latencyP50Ms).toBe(10)
      yield* router.record("a", { success: true, latencyMs: 20 })
      // 20 samples: rank ⌈0.95 · 20⌉ = 19, rank ⌈0.5 · 20⌉ = 10
      expect((yield* statsOf(router, "a")).latencyP95Ms).toBe(19)
      expect((yield* statsOf(router, "a")).latencyP50Ms).toBe(10)
      expect(router.latencyP95("a")).toStrictEqual(Option.some(Duration.millis(19)))
      for (let ms = 21; ms <= 100; ms++) yield* router.record("a", { success: true, latencyMs: ms })
      // 1..100: rank 95, rank 50
      expect((yield* statsOf(router, "a")).latencyP95Ms).toBe(95)
      expect((yield* statsOf(router, "a")).latencyP50Ms).toBe(50)
    }))

  it.scoped("p95 is read from the last 100 successes only", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a") })
      for (let ms = 1; ms <= 120; ms++) yield* router.record("a", { success: true, latencyMs: ms })
      // the last 100 are 21..120: rank 95 is 115
      expect((yield* statsOf(router, "a")).latencyP95Ms).toBe(115)
      // a burst of slow calls pushes out the fast ones
      for (let i = 0; i < 100; i++) yield* router.record("a", { success: true, latencyMs: 5_000 })
      expect(router.latencyP95("a")).toStrictEqual(Option.some(Duration.millis(5_000)))
    }))

  it.scoped("counts a running limited call in flight", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: [...distinct("a"), { name: "b", provider: "p", model: "m", concurrency: 2 }] })
      const a = yield* Effect.fork(router.limit("a", Effect.sleep("1 second")))
      const b1 = yield* Effect.fork(router.limit("b", Effect.sleep("1 second")))
      const b2 = yield* Effect.fork(router.limit("b", Effect.sleep("2 seconds")))
      yield* settle
      expect((yield* statsOf(router, "a")).inFlight).toBe(1)
      expect((yield* statsOf(router, "b")).inFlight).toBe(2)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(a)
      yield* Fiber.join(b1)
      expect((yield* statsOf(router, "a")).inFlight).toBe(0)
      expect((yield* statsOf(router, "b")).inFlight).toBe(1)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(b2)
      expect((yield* statsOf(router, "b")).inFlight).toBe(0)
    }))

  it.scoped("releases the in-flight count when a limited call fails or is interrupted", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a") })
      expect(yield* Effect.either(router.limit("a", Effect.fail("boom")))).toMatchObject({ _tag: "Left", left: "boom" })
      expect((yield* statsOf(router, "a")).inFlight).toBe(0)
      const fiber = yield* Effect.fork(router.limit("a", Effect.never))
      yield* settle
      expect((yield* statsOf(router, "a")).inFlight).toBe(1)
      yield* Fiber.interrupt(fiber)
      expect((yield* statsOf(router, "a")).inFlight).toBe(0)
    }))

  it.scoped("counts the canaries each route was put first on", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a", "b", "c"), settings: { canary: 0.1 } })
      // u = 0.05 → index 0 (b); u = 0.15 → index 1 (c); u = 0.5 → no canary
      const pick = (u: number) => router.order(["a", "b", "c"], "prompt", allUp).pipe(Effect.withRandom(Random.fixed([u])))
      const first = yield* pick(0.05)
      expect(first.canary).toStrictEqual(Option.some("b"))
      expect(first.routes).toStrictEqual(["b", "a", "c"])
      const second = yield* pick(0.15)
      expect(second.canary).toStrictEqual(Option.some("c"))
      expect(second.routes).toStrictEqual(["c", "a", "b"])
      const third = yield* pick(0.5)
      expect(third.canary).toStrictEqual(Option.none())
      expect(third.routes).toStrictEqual(["a", "b", "c"])
      const stats = yield* router.stats
      expect(stats.map((s) => [s.route, s.canaries])).toStrictEqual([["a", 0], ["b", 1], ["c", 1]])
    }))
})

describe("Router.order: regions", () => {
  const routes: ReadonlyArray<RouteInfo> = [
    { name: "pro-us", provider: "google", model: "gemini", region: "us" },
    { name: "openai", provider: "openai", model: "gpt-image" },
    { name: "pro-eu", provider: "google", model: "gemini", region: "eu" },
    { name: "flash-eu", provider: "google", model: "flash", region: "eu" }
  ]
  const plan = ["pro-us", "openai", "pro-eu", "flash-eu"]

  it.scoped("tries the same provider and model in another region before the next model", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes, settings: noCanary })
      expect((yield* router.order(plan, "prompt", allUp)).routes).toStrictEqual(["pro-us", "pro-eu", "openai", "flash-eu"])
      // when the first region is skipped the other one keeps the model's place
      expect((yield* router.order(plan, "prompt", conditions({ open: ["pro-us"] }))).routes).toStrictEqual([
        "openai",
        "pro-eu",
        "flash-eu"
      ])
    }))

  it.scoped("keeps the plan order with regionFailover off", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes, settings: { canary: 0, regionFailover: false } })
      expect((yield* router.order(plan, "prompt", allUp)).routes).toStrictEqual(plan)
    }))

  it.scoped("puts the preferred region first within the group", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes, settings: { canary: 0, preferRegion: Option.some("eu") } })
      expect((yield* router.order(plan, "prompt", allUp)).routes).toStrictEqual(["pro-eu", "pro-us", "openai", "flash-eu"])
      // a preferred region does not move a route ahead of another model
      expect((yield* router.order(["openai", "pro-us", "flash-eu", "pro-eu"], "prompt", allUp)).routes).toStrictEqual([
        "openai",
        "pro-eu",
        "pro-us",
        "flash-eu"
      ])
    }))

  it.scoped("a reported canary is the route tried first, even with a preferred region", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes, settings: { canary: 0.1, preferRegion: Option.some("us") } })
      // fallbacks after the region grouping's input: pro-us first, then openai, pro-eu, flash-eu;
      // u drives the canary index floor(u / 0.1): 0.05 → openai, 0.15 → pro-eu, 0.25 → flash-eu
      for (const u of [0.05, 0.15, 0.25]) {
        const ordered = yield* router.order(plan, "prompt", allUp).pipe(Effect.withRandom(Random.fixed([u])))
        expect(Option.isSome(ordered.canary)).toBe(true)
        expect(ordered.routes[0]).toBe(Option.getOrThrow(ordered.canary))
      }
    }))
})

describe("Router.limit", () => {
  /** A call that logs `name@millis` when it starts, then takes `millis`. */
  const call = (log: Ref.Ref<ReadonlyArray<string>>, name: string, millis = 0) =>
    Clock.currentTimeMillis.pipe(
      Effect.flatMap((now) => Ref.update(log, (all) => [...all, `${name}@${now}`])),
      Effect.zipRight(Effect.sleep(Duration.millis(millis))),
      Effect.as(name)
    )

  it.scoped("requestsPerMinute: a call past the bucket waits until a token refills (one per minute / limit)", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: [{ name: "a", provider: "p", model: "m", requestsPerMinute: 2 }] })
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const fibers = yield* Effect.forEach(
        ["1", "2", "3", "4"],
        (name) => Effect.fork(router.limit("a", call(log, name))),
        { concurrency: 1 }
      )
      yield* settle
      expect(yield* Ref.get(log)).toStrictEqual(["1@0", "2@0"])
      yield* TestClock.adjust("29999 millis")
      yield* settle
      expect(yield* Ref.get(log)).toHaveLength(2)
      yield* TestClock.adjust("1 millis")
      yield* settle
      expect(yield* Ref.get(log)).toStrictEqual(["1@0", "2@0", "3@30000"])
      yield* TestClock.adjust("30 seconds")
      yield* settle
      expect(yield* Ref.get(log)).toStrictEqual(["1@0", "2@0", "3@30000", "4@60000"])
      expect(yield* Fiber.join(Fiber.all(fibers))).toStrictEqual(["1", "2", "3", "4"])
    }))

  it.scoped("requestsPerMinute is per route", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({
        routes: [
          { name: "a", provider: "p", model: "m", requestsPerMinute: 1 },
          { name: "b", provider: "p", model: "n", requestsPerMinute: 1 }
        ]
      })
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      yield* Effect.fork(router.limit("a", call(log, "a1")))
      yield* settle
      yield* Effect.fork(router.limit("a", call(log, "a2")))
      yield* Effect.fork(router.limit("b", call(log, "b1")))
      yield* settle
      expect(yield* Ref.get(log)).toStrictEqual(["a1@0", "b1@0"])
      yield* TestClock.adjust("1 minute")
      yield* settle
      expect(yield* Ref.get(log)).toStrictEqual(["a1@0", "b1@0", "a2@60000"])
    }))

  it.scoped("concurrency: 1 → a second call waits until the first finishes", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: [{ name: "a", provider: "p", model: "m", concurrency: 1 }] })
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const first = yield* Effect.fork(router.limit("a", call(log, "first", 10_000)))
      yield* settle
      const second = yield* Effect.fork(router.limit("a", call(log, "second", 10_000)))
      yield* settle
      expect(yield* Ref.get(log)).toStrictEqual(["first@0"])
      yield* TestClock.adjust("9999 millis")
      yield* settle
      expect(yield* Ref.get(log)).toStrictEqual(["first@0"])
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(first)).toBe("first")
      yield* settle
      expect(yield* Ref.get(log)).toStrictEqual(["first@0", "second@10000"])
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(second)).toBe("second")
    }))

  it.scoped("a failed call frees its concurrency slot", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: [{ name: "a", provider: "p", model: "m", concurrency: 1 }] })
      expect((yield* Effect.either(router.limit("a", Effect.fail("boom"))))._tag).toBe("Left")
      expect(yield* router.limit("a", Effect.succeed("ok"))).toBe("ok")
    }))

  it.scoped("a route without limits runs calls at once", () =>
    Effect.gen(function*() {
      const router = yield* Router.make({ routes: distinct("a") })
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      yield* Effect.forEach(["1", "2", "3"], (name) => Effect.fork(router.limit("a", call(log, name, 1_000))))
      yield* settle
      expect(yield* Ref.get(log)).toStrictEqual(["1@0", "2@0", "3@0"])
      // a route the router was not told about is not limited either
      expect(yield* router.limit("unknown", Effect.succeed(1))).toBe(1)
    }))
})

describe("Router properties", () => {
  it.effect.prop(
    "the canary share converges to its configured fraction",
    {
      canary: FastCheck.double({ min: 0.005, max: 0.1, noNaN: true }),
      fallbacks: FastCheck.integer({ min: 1, max: 3 }),
      seed: FastCheck.integer()
    },
    ({ canary, fallbacks, seed }) =>
      Effect.scoped(Effect.gen(function*() {
        const names = ["primary", ...Array.from({ length: fallbacks }, (_, i) => `fallback-${i}`)]
        const router = yield* Router.make({ routes: distinct(...names), settings: { canary } })
        const n = 20_000
        const firsts = new Map<string, number>()
        let reported = 0
        yield* Effect.gen(function*() {
          for (let i = 0; i < n; i++) {
            const ordered = yield* router.order(names, "prompt", allUp)
            const first = ordered.routes[0]!
            firsts.set(first, (firsts.get(first) ?? 0) + 1)
            if (Option.isSome(ordered.canary)) {
              reported++
              expect(ordered.canary.value).toBe(first)
            } else {
              expect(first).toBe("primary")
            }
          }
        }).pipe(Effect.withRandom(Random.make(seed)))
        const tolerance = 4 * Math.sqrt(canary * (1 - canary) / n) + 0.001
        const stats = yield* router.stats
        for (const name of names.slice(1)) {
          const share = (firsts.get(name) ?? 0) / n
          expect(Math.abs(share - canary)).toBeLessThanOrEqual(tolerance)
          expect(stats.find((s) => s.route === name)?.canaries).toBe(firsts.get(name) ?? 0)
        }
        expect(reported).toBe(n - (firsts.get("primary") ?? 0))
      })),
    // 20,000 orderings a run: a few seconds in all
    { fastCheck: { numRuns: 6 }, timeout: 60_000 }
  )

  const routeArbitrary = FastCheck.record({
    available: FastCheck.boolean(),
    down: FastCheck.boolean(),
    provider: FastCheck.constantFrom("google", "openai"),
    model: FastCheck.constantFrom("m1", "m2"),
    region: FastCheck.constantFrom("us", "eu", undefined),
    weight: FastCheck.constantFrom(0, 0, 1, 3),
    failures: FastCheck.integer({ min: 0, max: 12 }),
    latencyMs: FastCheck.integer({ min: 0, max: 500 })
  })

  it.effect.prop(
    "a route reported unavailable is never tried, and every route is either tried or skipped",
    {
      routes: FastCheck.array(routeArbitrary, { minLength: 1, maxLength: 6 }),
      order: FastCheck.constantFrom("priority" as const, "latency" as const),
      canary: FastCheck.constantFrom(0, 0.01, 0.3),
      regionFailover: FastCheck.boolean(),
      preferRegion: FastCheck.constantFrom(Option.none(), Option.some("us"), Option.some("eu")),
      classRoutes: FastCheck.uniqueArray(FastCheck.integer({ min: 0, max: 5 }), { maxLength: 3 }),
      prompt: FastCheck.constantFrom("a photo of a cat", "a lighthouse"),
      seed: FastCheck.integer()
    },
    ({ canary, classRoutes, order, preferRegion, prompt, regionFailover, routes, seed }) =>
      Effect.scoped(Effect.gen(function*() {
        const names = routes.map((_, i) => `r${i}`)
        const router = yield* Router.make({
          routes: routes.map((r, i) => ({ name: names[i]!, provider: r.provider, model: r.model, region: r.region })),
          settings: {
            order,
            canary,
            regionFailover,
            preferRegion,
            weights: Object.fromEntries(routes.map((r, i) => [names[i]!, r.weight])),
            classes: [{ name: "photo", keywords: ["photo"], routes: classRoutes.map((i) => `r${i}`) }]
          }
        })
        yield* Effect.forEach(routes, (r, i) =>
          Effect.zipRight(
            recordMany(router, names[i]!, r.failures, { success: false, latencyMs: 0 }),
            recordMany(router, names[i]!, 12 - r.failures, { success: true, latencyMs: r.latencyMs })
          ))
        const unavailable = new Set(names.filter((_, i) => !routes[i]!.available))
        const down = new Set(names.filter((name, i) => !unavailable.has(name) && routes[i]!.down))
        const usable = names.filter((name) => !unavailable.has(name) && !down.has(name))
        const conditions: Router.Conditions = {
          isAvailable: (route) => !unavailable.has(route),
          isDown: (route) => routes[names.indexOf(route)]!.down
        }
        for (let i = 0; i < 5; i++) {
          const ordered = yield* router.order(names, prompt, conditions).pipe(Effect.withRandom(Random.make(seed + i)))
          for (const route of ordered.routes) expect(unavailable.has(route)).toBe(false)
          expect(new Set(ordered.routes).size).toBe(ordered.routes.length)
          const skipped = ordered.skipped.map((s) => s.route)
          if (usable.length > 0) {
            expect([...ordered.routes].sort()).toStrictEqual([...usable].sort())
            expect([...ordered.routes, ...skipped].sort()).toStrictEqual([...names].sort())
            for (const s of ordered.skipped) expect(s.reason).toBe(unavailable.has(s.route) ? "open" : "down")
          } else {
            // the all-down fallback: the down routes are tried, the open ones skipped
            expect([...ordered.routes].sort()).toStrictEqual([...down].sort())
            expect([...skipped].sort()).toStrictEqual([...unavailable].sort())
            for (const s of ordered.skipped) expect(s.reason).toBe("open")
          }
          // skipped keeps plan order
          expect(skipped).toStrictEqual(names.filter((name) => skipped.includes(name)))
          if (Option.isSome(ordered.canary)) expect(ordered.routes).toContain(ordered.canary.value)
        }
      })),
    { fastCheck: { numRuns: 100 } }
  )
})
