/**
 * Discrete-event time for long simulations: a `Clock` whose sleeps never wait
 * and a scheduler the runner drains itself, so that hours of traffic with
 * thousands of concurrent fibers run synchronously in milliseconds.
 *
 * Why not `TestClock`? `TestClock.adjust` waits for every fiber to suspend by
 * polling them across real `setTimeout(0)` turns, about 4 ms per wake-up: fine
 * for unit tests, minutes for a simulated day. Here every fiber runs on an
 * Effect `ControlledScheduler`; when no task is left, every fiber is
 * necessarily suspended, and time jumps straight to the earliest sleeper.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Duration, Effect, Exit, FiberId, Scheduler } from "effect"

interface Sleeper {
  readonly at: number
  readonly seq: number
  readonly wake: () => void
  cancelled: boolean
}

/**
 * A min-heap of sleepers by (wake-up time, arrival order).
 */
class SleeperQueue {
  private readonly heap: Array<Sleeper> = []

  get size(): number {
    return this.heap.length
  }

  push(sleeper: Sleeper): void {
    const heap = this.heap
    heap.push(sleeper)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
  }

  pop(): Sleeper | undefined {
    const heap = this.heap
    const top = heap[0]
    const last = heap.pop()
    if (top === undefined || last === undefined || heap.length === 0) return top
    heap[0] = last
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      const right = left + 1
      let smallest = i
      if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left
      if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right
      if (smallest === i) break
      ;[heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!]
      i = smallest
    }
    return top
  }
}

const before = (a: Sleeper, b: Sleeper) => a.at < b.at || (a.at === b.at && a.seq < b.seq)

/**
 * A `Clock` that only moves when the runner moves it.
 *
 * @since 0.1.0
 */
export class VirtualClock implements Clock.Clock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId
  private readonly sleepers = new SleeperQueue()
  private seq = 0

  constructor(private now: number) {}

  unsafeCurrentTimeMillis(): number {
    return this.now
  }

  unsafeCurrentTimeNanos(): bigint {
    return BigInt(Math.round(this.now * 1_000_000))
  }

  readonly currentTimeMillis: Effect.Effect<number> = Effect.sync(() => this.now)
  readonly currentTimeNanos: Effect.Effect<bigint> = Effect.sync(() => this.unsafeCurrentTimeNanos())

  sleep(duration: Duration.Duration): Effect.Effect<void> {
    const millis = Math.max(0, Duration.toMillis(duration))
    return Effect.async<void>((resume) => {
      const sleeper: Sleeper = { at: this.now + millis, seq: this.seq++, wake: () => resume(Effect.void), cancelled: false }
      this.sleepers.push(sleeper)
      return Effect.sync(() => {
        sleeper.cancelled = true
      })
    })
  }

  /**
   * Moves time to the earliest pending sleeper and wakes it; sleepers due at
   * the same instant wake on the following calls, in the order they slept.
   * Returns false when nobody sleeps.
   */
  advance(): boolean {
    let next = this.sleepers.pop()
    while (next !== undefined && next.cancelled) next = this.sleepers.pop()
    if (next === undefined || next.at === Infinity) return false
    this.now = Math.max(this.now, next.at)
    next.wake()
    return true
  }
}

/**
 * Runs an effect to completion on virtual time, synchronously, and returns its
 * exit. Time starts at `start` (epoch ms, default 0) and jumps from one sleeper
 * to the next whenever every fiber is suspended. The effect must not wait on
 * real I/O: nothing but its own sleeps can wake it. An effect that waits on
 * something that never comes is interrupted (its finalizers run) and the exit
 * is a defect saying so, instead of hanging.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { VirtualTime } from "@ballast/testing"
 *
 * const exit = VirtualTime.run(Effect.as(Effect.sleep("3 hours"), "done")) // returns at once
 */
export const run = <A, E>(effect: Effect.Effect<A, E>, options?: { readonly start?: number }): Exit.Exit<A, E> => {
  const clock = new VirtualClock(options?.start ?? 0)
  const scheduler = new Scheduler.ControlledScheduler()
  const fiber = Effect.runFork(Effect.withClock(effect, clock), { scheduler })
  const drain = () => {
    while (scheduler.tasks.buckets.length > 0) scheduler.step()
  }
  drain()
  for (;;) {
    const exit = fiber.unsafePoll()
    if (exit !== null) return exit
    if (!clock.advance()) {
      // Interrupt the stuck fiber so its finalizers run: `Effect.never` holds a real timer that
      // would otherwise keep the process alive after `run` has returned.
      fiber.unsafeInterruptAsFork(FiberId.none)
      do drain()
      while (fiber.unsafePoll() === null && clock.advance())
      return Exit.die(new Error("VirtualTime.run: every fiber is waiting and no sleeper is left to wake (deadlock)"))
    }
    drain()
  }
}

/**
 * Runs an effect on virtual time and returns its value, or throws its failure.
 *
 * @since 0.1.0
 */
export const runSync = <A, E>(effect: Effect.Effect<A, E>, options?: { readonly start?: number }): A => {
  const exit = run(effect, options)
  if (Exit.isSuccess(exit)) return exit.value
  throw Cause.squash(exit.cause)
}
