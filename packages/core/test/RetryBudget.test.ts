import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck, Ref, TestClock } from "effect"
import { Overloaded } from "../src/Errors.js"
import * as Retry from "../src/Retry.js"
import * as RetryBudget from "../src/RetryBudget.js"

const overloaded = new Overloaded({ provider: "test", model: "test-model", message: "overloaded" })

const withdrawals = (budget: RetryBudget.RetryBudget, times: number) =>
  Effect.map(Effect.replicateEffect(budget.tryWithdraw, times), (results) => results.filter(Boolean).length)

describe("RetryBudget", () => {
  it.effect("starts full, at capacity 10 s of the floor by default", () =>
    Effect.gen(function*() {
      expect(yield* (yield* RetryBudget.make()).balance).toBe(100)
      expect(yield* (yield* RetryBudget.make({ minPerSecond: 3 })).balance).toBe(30)
      expect(yield* (yield* RetryBudget.make({ minPerSecond: 0 })).balance).toBe(10)
      expect(yield* (yield* RetryBudget.make({ capacity: 4 })).balance).toBe(4)
    }))

  it.effect("a retry takes one token, and there are none once they are spent", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ minPerSecond: 0, capacity: 3 })
      expect(yield* Effect.replicateEffect(budget.tryWithdraw, 4)).toStrictEqual([true, true, true, false])
      expect(yield* budget.balance).toBe(0)
    }))

  it.effect("each request deposits `ratio` tokens, up to capacity", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ ratio: 0.2, minPerSecond: 0, capacity: 2 })
      yield* withdrawals(budget, 2)
      yield* Effect.repeatN(budget.deposit, 3) // four deposits: 0.8 of a token
      expect(yield* budget.tryWithdraw).toBe(false)
      yield* budget.deposit
      expect(yield* budget.tryWithdraw).toBe(true)
      yield* Effect.repeatN(budget.deposit, 99)
      expect(yield* budget.balance).toBe(2)
    }))

  it.effect("refills at minPerSecond with Clock time, up to capacity", () =>
    Effect.gen(function*() {
      const budget = yield* RetryBudget.make({ ratio: 0, minPerSecond: 10, capacity: 5 })
      expect(yield* withdrawals(budget, 6)).toBe(5)
      yield* TestClock.adjust("99 millis")
      expect(yield* budget.tryWithdraw).toBe(false)
      yield* TestClock.adjust("1 millis")
      expect(yield* budget.tryWithdraw).toBe(true)
      expect(yield* budget.tryWithdraw).toBe(false)
      yield* TestClock.adjust("250 millis")
      expect(yield* budget.balance).toBeCloseTo(2.5, 9)
      yield* TestClock.adjust("1 minute")
      expect(yield* budget.balance).toBe(5)
    }))

  it.effect.prop(
    "over any run, withdrawals ≤ capacity + ratio·requests + minPerSecond·seconds",
    {
      ratio: FastCheck.double({ min: 0, max: 1, noNaN: true }),
      minPerSecond: FastCheck.double({ min: 0, max: 20, noNaN: true }),
      capacity: FastCheck.integer({ min: 0, max: 20 }),
      rounds: FastCheck.array(
        FastCheck.record({
          deposits: FastCheck.integer({ min: 0, max: 30 }),
          withdrawals: FastCheck.integer({ min: 0, max: 30 }),
          wait: FastCheck.integer({ min: 0, max: 2_000 })
        }),
        { maxLength: 4 }
      )
    },
    ({ capacity, minPerSecond, ratio, rounds }) =>
      Effect.gen(function*() {
        const budget = yield* RetryBudget.make({ ratio, minPerSecond, capacity })
        let requests = 0
        let elapsed = 0
        let retries = 0
        for (const round of rounds) {
          // deposits and withdrawals interleaved, then time passes
          for (let i = 0; i < Math.max(round.deposits, round.withdrawals); i++) {
            if (i < round.deposits) {
              requests++
              yield* budget.deposit
            }
            if (i < round.withdrawals && (yield* budget.tryWithdraw)) retries++
            const balance = yield* budget.balance
            expect(balance).toBeGreaterThanOrEqual(0)
            expect(balance).toBeLessThanOrEqual(capacity)
          }
          elapsed += round.wait
          if (round.wait > 0) yield* TestClock.adjust(round.wait)
        }
        expect(retries).toBeLessThanOrEqual(capacity + ratio * requests + minPerSecond * elapsed / 1000 + 1e-6)
      }),
    { fastCheck: { numRuns: 15 } }
  )

  it.effect.prop(
    "N requests that all fail make at most capacity + 0.2·N retries",
    { requests: FastCheck.integer({ min: 1, max: 60 }), capacity: FastCheck.integer({ min: 0, max: 30 }) },
    ({ capacity, requests }) =>
      Effect.gen(function*() {
        const budget = yield* RetryBudget.make({ ratio: 0.2, minPerSecond: 0, capacity })
        const calls = yield* Ref.make(0)
        // a zero backoff never sleeps: no TestClock time is needed, and none would refill the bucket
        const request = Ref.update(calls, (n) => n + 1).pipe(
          Effect.zipRight(Effect.fail(overloaded)),
          Retry.retry({ attempts: 5, initialDelay: 0 }, budget),
          Effect.flip
        )
        yield* Effect.replicateEffect(request, requests)
        const retries = (yield* Ref.get(calls)) - requests
        expect(retries).toBeLessThanOrEqual(capacity + 0.2 * requests)
        // the capacity is there from the start, so at least that many retries are made
        expect(retries).toBeGreaterThanOrEqual(Math.min(capacity, 4 * requests))
      }),
    { fastCheck: { numRuns: 30 } }
  )

  it.effect("unlimited always allows", () =>
    Effect.gen(function*() {
      yield* RetryBudget.unlimited.deposit
      expect(yield* Effect.replicateEffect(RetryBudget.unlimited.tryWithdraw, 1_000)).not.toContain(false)
      expect(yield* RetryBudget.unlimited.balance).toBe(Number.POSITIVE_INFINITY)
    }))

  it("exposes the defaults as data", () => {
    expect(RetryBudget.defaults).toStrictEqual({ ratio: 0.2, minPerSecond: 10 })
  })
})
