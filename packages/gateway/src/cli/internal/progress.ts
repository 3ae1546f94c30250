import { Clock, Console, Effect, Schedule, type Scope } from "effect"

const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]

// The spinner only makes sense on a terminal; piped or captured stderr gets the plain lines alone.
const interactive = (): boolean => process.stderr.isTTY === true

const clearLine = "\r\x1b[K"

/** Writes one line of progress to stderr, over the spinner when there is one. */
export const line = (text: string): Effect.Effect<void> =>
  Console.error(interactive() ? `${clearLine}${text}` : text)

/** `line`, synchronously on a given console (for callbacks that cannot run an effect). */
export const unsafeLine = (console: Console.Console, text: string): void =>
  console.unsafe.error(interactive() ? `${clearLine}${text}` : text)

/**
 * Shows `label` with a spinner and the elapsed time on stderr, redrawn every
 * 100 ms until the scope closes (then erased). Does nothing when stderr is not
 * a terminal.
 */
export const spinner = (label: string): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    if (!interactive()) return
    const start = yield* Clock.currentTimeMillis
    let frame = 0
    const draw = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => {
        const elapsed = ((now - start) / 1000).toFixed(1)
        process.stderr.write(`${clearLine}${frames[frame++ % frames.length]} ${label} ${elapsed}s`)
      }))
    yield* Effect.addFinalizer(() => Effect.sync(() => process.stderr.write(clearLine)))
    yield* Effect.forkScoped(Effect.repeat(draw, Schedule.spaced("100 millis")))
  })
