import { Options } from "@effect/cli"
import { Effect } from "effect"
import * as CliFailure from "../CliFailure.js"

/**
 * An option taking one of `values`; a bad value fails with a message naming
 * the option and every valid value (`Options.choice` does not name the option).
 */
export const oneOf = <const A extends string>(name: string, values: ReadonlyArray<A>): Options.Options<A> =>
  Options.text(name).pipe(
    Options.withPseudoName(values.join("|")),
    Options.mapEffect((value) =>
      (values as ReadonlyArray<string>).includes(value)
        ? Effect.succeed(value as A)
        : CliFailure.invalidValue(`--${name} must be one of: ${values.join(", ")}; got "${value}"`)
    )
  )
