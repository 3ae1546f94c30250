import { describe, expect, it } from "@effect/vitest"
import { Array as Arr, Cause, Effect, Either, Exit, FastCheck, Option, Ref } from "effect"
import {
  AllRoutesFailed,
  BadRequest,
  CircuitOpen,
  ContentRejected,
  FailedAttempt,
  Fallback,
  type GenerationError,
  Overloaded,
  ProviderUnavailable,
  RateLimited,
  Timeout,
  Unauthorized
} from "../src/index.js"

const labels = { provider: "ballast", model: "gemini-3-pro-image-preview" }
const fields = (route: string) => ({ provider: "google", model: route, message: `${route} failed` })

const overloaded = (route: string) => new Overloaded(fields(route))
const badRequest = (route: string, scope: "request" | "route") => new BadRequest({ ...fields(route), scope })

/** A step that records that it ran, then ends with `outcome`. */
const recorded = (
  ran: Ref.Ref<ReadonlyArray<string>>,
  route: string,
  resolution: string,
  outcome: Either.Either<string, GenerationError>
) =>
  Fallback.step(
    route,
    resolution,
    Effect.zipRight(
      Ref.update(ran, (all) => [...all, `${route}@${resolution}`]),
      Either.match(outcome, { onLeft: Effect.fail, onRight: Effect.succeed })
    )
  )

const allRoutesFailedOf = (result: Either.Either<unknown, GenerationError>): AllRoutesFailed => {
  if (Either.isLeft(result) && result.left instanceof AllRoutesFailed) return result.left
  throw new Error(`expected AllRoutesFailed, got ${String(result)}`)
}

const attemptError = FastCheck.constantFrom<GenerationError>(
  overloaded("x"),
  new RateLimited({ ...fields("x"), retryAfter: Option.none() }),
  new Timeout(fields("x")),
  new ProviderUnavailable(fields("x")),
  new Unauthorized(fields("x")),
  new ContentRejected(fields("x")),
  new CircuitOpen({ ...fields("x"), route: "x", retryAt: Option.none() }),
  badRequest("x", "route"),
  badRequest("x", "request")
)

describe("Fallback", () => {
  it.effect("tries the steps in order and stops at the first success", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make<ReadonlyArray<string>>([])
      const result = yield* Fallback.run([
        recorded(ran, "pro", "4K", Either.left(overloaded("pro"))),
        recorded(ran, "pro", "2K", Either.right("pro@2K")),
        recorded(ran, "flash", "1K", Either.right("flash@1K"))
      ], labels)
      expect(result).toBe("pro@2K")
      expect(yield* Ref.get(ran)).toStrictEqual(["pro@4K", "pro@2K"])
    }))

  it.effect("a first step that succeeds is the only one run", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make<ReadonlyArray<string>>([])
      const result = yield* Fallback.run([
        recorded(ran, "pro", "4K", Either.right("pro@4K")),
        recorded(ran, "flash", "1K", Either.right("flash@1K"))
      ], labels)
      expect(result).toBe("pro@4K")
      expect(yield* Ref.get(ran)).toStrictEqual(["pro@4K"])
    }))

  it.effect("a BadRequest about the request stops the chain and is returned as it is", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make<ReadonlyArray<string>>([])
      const fatal = badRequest("flash", "request")
      const result = yield* Effect.either(Fallback.run([
        recorded(ran, "pro", "4K", Either.left(overloaded("pro"))),
        recorded(ran, "flash", "2K", Either.left(fatal)),
        recorded(ran, "gpt", "1K", Either.right("gpt@1K"))
      ], labels))
      expect(result).toStrictEqual(Either.left(fatal))
      if (Either.isLeft(result)) expect(result.left).toBe(fatal) // the very same error, not a copy or a wrapper
      expect(yield* Ref.get(ran)).toStrictEqual(["pro@4K", "flash@2K"])
    }))

  it.effect("a BadRequest made without a scope is taken to be about the route: the chain moves on", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make<ReadonlyArray<string>>([])
      const unscoped = new BadRequest(fields("pro"))
      expect(unscoped.scope).toBe("route")
      const result = yield* Effect.either(Fallback.run([
        recorded(ran, "pro", "4K", Either.left(unscoped)),
        recorded(ran, "flash", "1K", Either.right("flash@1K"))
      ], labels))
      expect(result).toStrictEqual(Either.right("flash@1K"))
      expect(yield* Ref.get(ran)).toStrictEqual(["pro@4K", "flash@1K"])
    }))

  it.effect("a BadRequest about the route moves on to the next step", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make<ReadonlyArray<string>>([])
      const result = yield* Fallback.run([
        recorded(ran, "text-only", "1K", Either.left(badRequest("text-only", "route"))),
        recorded(ran, "flash", "1K", Either.right("flash@1K"))
      ], labels)
      expect(result).toBe("flash@1K")
      expect(yield* Ref.get(ran)).toStrictEqual(["text-only@1K", "flash@1K"])
    }))

  it.effect("every other error moves on, CircuitOpen, Unauthorized and ContentRejected included", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make<ReadonlyArray<string>>([])
      const result = yield* Fallback.run([
        recorded(ran, "a", "4K", Either.left(new CircuitOpen({ ...fields("a"), route: "a", retryAt: Option.none() }))),
        recorded(ran, "b", "4K", Either.left(new Unauthorized(fields("b")))),
        recorded(ran, "c", "2K", Either.left(new ContentRejected(fields("c")))),
        recorded(ran, "d", "1K", Either.left(new Timeout(fields("d")))),
        recorded(ran, "e", "1K", Either.right("e"))
      ], labels)
      expect(result).toBe("e")
      expect(yield* Ref.get(ran)).toStrictEqual(["a@4K", "b@4K", "c@2K", "d@1K", "e@1K"])
    }))

  it.effect("exhaustion gives AllRoutesFailed keeping every step's error, in order", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make<ReadonlyArray<string>>([])
      const errors = [
        overloaded("pro"),
        new RateLimited({ ...fields("flash"), retryAfter: Option.none() }),
        badRequest("flux", "route"),
        new CircuitOpen({ ...fields("text"), route: "text", retryAt: Option.none() })
      ] as const
      const failed = allRoutesFailedOf(
        yield* Effect.either(Fallback.run([
          recorded(ran, "pro", "4K", Either.left(errors[0])),
          recorded(ran, "flash", "2K", Either.left(errors[1])),
          recorded(ran, "flux", "1K", Either.left(errors[2])),
          recorded(ran, "text", "description", Either.left(errors[3]))
        ], labels))
      )
      expect(failed._tag).toBe("AllRoutesFailed")
      expect(failed.provider).toBe("ballast")
      expect(failed.model).toBe("gemini-3-pro-image-preview")
      expect(failed.attempts.map((a) => [a.route, a.resolution])).toStrictEqual([
        ["pro", "4K"],
        ["flash", "2K"],
        ["flux", "1K"],
        ["text", "description"]
      ])
      failed.attempts.forEach((attempt, i) => expect(attempt.error).toBe(errors[i]))
      expect(failed.message).toBe(
        "4 attempts failed: pro@4K Overloaded; flash@2K RateLimited; flux@1K BadRequest; text@description CircuitOpen"
      )
      expect(yield* Ref.get(ran)).toHaveLength(4)
    }))

  it.effect("a single failing step is still reported as AllRoutesFailed", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make<ReadonlyArray<string>>([])
      const error = overloaded("pro")
      const failed = allRoutesFailedOf(
        yield* Effect.either(Fallback.run([recorded(ran, "pro", "1K", Either.left(error))], labels))
      )
      expect(failed.attempts).toHaveLength(1)
      expect(failed.attempts[0]!.error).toBe(error)
      expect(failed.message).toBe("1 attempt failed: pro@1K Overloaded")
    }))

  it.effect("a nested AllRoutesFailed is flattened into the outer one, in order", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make<ReadonlyArray<string>>([])
      const inner = Fallback.run([
        recorded(ran, "eu", "2K", Either.left(overloaded("eu"))),
        recorded(ran, "us", "2K", Either.left(new Timeout(fields("us"))))
      ], labels)
      const failed = allRoutesFailedOf(
        yield* Effect.either(Fallback.run([
          recorded(ran, "pro", "4K", Either.left(overloaded("pro"))),
          Fallback.step("regions", "2K", inner),
          recorded(ran, "flash", "1K", Either.left(new ProviderUnavailable(fields("flash"))))
        ], labels))
      )
      expect(failed.attempts.map((a) => `${a.route}@${a.resolution} ${a.error._tag}`)).toStrictEqual([
        "pro@4K Overloaded",
        "eu@2K Overloaded",
        "us@2K Timeout",
        "flash@1K ProviderUnavailable"
      ])
      expect(failed.attempts.some((a) => (a.error as GenerationError)._tag === "AllRoutesFailed")).toBe(false)
    }))

  it.effect("a nested chain stopped by a request-scoped BadRequest stops the outer chain too", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make<ReadonlyArray<string>>([])
      const fatal = badRequest("us", "request")
      const inner = Fallback.run([
        recorded(ran, "eu", "2K", Either.left(overloaded("eu"))),
        recorded(ran, "us", "2K", Either.left(fatal))
      ], labels)
      const result = yield* Effect.either(Fallback.run([
        Fallback.step("regions", "2K", inner),
        recorded(ran, "flash", "1K", Either.right("flash"))
      ], labels))
      expect(result).toStrictEqual(Either.left(fatal))
      expect(yield* Ref.get(ran)).toStrictEqual(["eu@2K", "us@2K"])
    }))

  it.effect("defects and interruptions are not fallen back from", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make<ReadonlyArray<string>>([])
      const died = yield* Effect.exit(Fallback.run([
        Fallback.step("pro", "4K", Effect.die(new Error("bug"))),
        recorded(ran, "flash", "1K", Either.right("flash"))
      ], labels))
      expect(Exit.isFailure(died) && Cause.isDie(died.cause)).toBe(true)
      const interrupted = yield* Effect.exit(Fallback.run([
        Fallback.step("pro", "4K", Effect.interrupt),
        recorded(ran, "flash", "1K", Either.right("flash"))
      ], labels))
      expect(Exit.isFailure(interrupted) && Cause.isInterruptedOnly(interrupted.cause)).toBe(true)
      expect(yield* Ref.get(ran)).toStrictEqual([])
    }))

  it("summarize names every attempt's route, resolution and error, in order, repeats counted", () => {
    expect(Fallback.summarize([
      new FailedAttempt({ route: "gemini-pro", resolution: "4K", error: overloaded("gemini-pro") }),
      new FailedAttempt({ route: "openai", resolution: "1K", error: new Unauthorized(fields("openai")) })
    ])).toBe("2 attempts failed: gemini-pro@4K Overloaded; openai@1K Unauthorized")
    const pro = new FailedAttempt({ route: "gemini-pro", resolution: "4K", error: overloaded("gemini-pro") })
    const flash = new FailedAttempt({ route: "flash", resolution: "4K", error: overloaded("flash") })
    expect(Fallback.summarize([pro, pro, pro, flash, pro])).toBe(
      "5 attempts failed: gemini-pro@4K Overloaded ×3; flash@4K Overloaded; gemini-pro@4K Overloaded"
    )
  })

  it.prop(
    "runs the steps up to the first success or request-scoped BadRequest, and reports the rest in order",
    {
      outcomes: FastCheck.array(
        FastCheck.oneof(
          { weight: 1, arbitrary: FastCheck.constant(Either.right("ok")) },
          { weight: 4, arbitrary: attemptError.map(Either.left) }
        ),
        { minLength: 1, maxLength: 8 }
      )
    },
    ({ outcomes }) => {
      const ran: Array<number> = []
      const steps = outcomes.map((outcome, i) =>
        Fallback.step(
          `r${i}`,
          "1K",
          Effect.suspend(() => {
            ran.push(i)
            return Either.match(outcome, { onLeft: Effect.fail, onRight: () => Effect.succeed(i) })
          })
        )
      )
      if (!Arr.isNonEmptyReadonlyArray(steps)) throw new Error("the arbitrary makes at least one step")
      const result = Effect.runSync(Effect.either(Fallback.run(steps, labels)))
      const stop = outcomes.findIndex((o) =>
        Either.isRight(o) || (o.left._tag === "BadRequest" && o.left.scope === "request")
      )
      if (stop === -1) {
        expect(ran).toStrictEqual(outcomes.map((_, i) => i))
        const failed = allRoutesFailedOf(result)
        expect(failed.attempts.map((a) => a.route)).toStrictEqual(outcomes.map((_, i) => `r${i}`))
        failed.attempts.forEach((a, i) => expect(Either.left(a.error)).toStrictEqual(outcomes[i]))
      } else {
        expect(ran).toStrictEqual(outcomes.slice(0, stop + 1).map((_, i) => i))
        const stopping = outcomes[stop]!
        expect(result).toStrictEqual(Either.isRight(stopping) ? Either.right(stop) : stopping)
      }
    },
    { fastCheck: { numRuns: 100 } }
  )
})
