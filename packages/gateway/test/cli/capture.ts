import { NodeContext } from "@effect/platform-node"
import { Console, Effect } from "effect"
import * as Cli from "../../src/cli/Cli.js"

/** What one in-process run of the CLI printed, and its exit code. */
export interface Captured {
  readonly code: number
  readonly out: string
  readonly err: string
}

const noop = () => {}

/** A Console that keeps what is logged (`out`) and what is reported as an error (`err`). */
const capturing = () => {
  const out: Array<string> = []
  const err: Array<string> = []
  const toOut = (...args: ReadonlyArray<unknown>) => void out.push(args.map(String).join(" "))
  const toErr = (...args: ReadonlyArray<unknown>) => void err.push(args.map(String).join(" "))
  const unsafe: Console.UnsafeConsole = {
    assert: noop,
    clear: noop,
    count: noop,
    countReset: noop,
    debug: noop,
    dir: noop,
    dirxml: noop,
    error: toErr,
    group: noop,
    groupCollapsed: noop,
    groupEnd: noop,
    info: toOut,
    log: toOut,
    table: noop,
    time: noop,
    timeEnd: noop,
    timeLog: noop,
    trace: noop,
    warn: toErr
  }
  const lift = <A extends ReadonlyArray<unknown>>(f: (...args: A) => void) => (...args: A) =>
    Effect.sync(() => f(...args))
  const console: Console.Console = {
    [Console.TypeId]: Console.TypeId,
    assert: lift(unsafe.assert),
    clear: Effect.sync(unsafe.clear),
    count: lift(unsafe.count),
    countReset: lift(unsafe.countReset),
    debug: lift(unsafe.debug),
    dir: lift(unsafe.dir),
    dirxml: lift(unsafe.dirxml),
    error: lift(unsafe.error),
    group: () => Effect.void,
    groupEnd: Effect.void,
    info: lift(unsafe.info),
    log: lift(unsafe.log),
    table: lift(unsafe.table),
    time: lift(unsafe.time),
    timeEnd: lift(unsafe.timeEnd),
    timeLog: lift(unsafe.timeLog),
    trace: lift(unsafe.trace),
    warn: lift(unsafe.warn),
    unsafe
  }
  return { console, out, err }
}

/**
 * `ballast <argv>` as an effect to run in-process on the Node platform, and
 * the lines it has printed so far (for a command that runs until interrupted).
 */
export const capture = (argv: ReadonlyArray<string>) => {
  const { console, err, out } = capturing()
  const effect: Effect.Effect<Captured> = Cli.run(argv).pipe(
    Effect.withConsole(console),
    Effect.provide(NodeContext.layer),
    Effect.map((code) => ({ code, out: out.join("\n"), err: err.join("\n") }))
  )
  return { effect, out: out as ReadonlyArray<string>, err: err as ReadonlyArray<string> }
}

/** Runs `ballast <argv>` in-process on the Node platform and captures what it prints. */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<Captured> =>
  Effect.suspend(() => capture(argv).effect)
