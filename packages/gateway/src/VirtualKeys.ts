/**
 * Virtual keys: the keys callers present to the gateway instead of provider
 * keys. They are configured as SHA-256 digests, so the configuration holds no
 * usable secret; a presented key is hashed and compared with every configured
 * digest in constant time (`crypto.timingSafeEqual`, no early exit). A key
 * with `requestsPerMinute` is limited by a token bucket (a burst of that many,
 * refilled evenly over the minute); an empty bucket is answered `429` with the
 * wait until the next token, rather than queued — Effect's `RateLimiter`
 * delays callers, and a gateway should tell a client to come back instead of
 * holding its connection.
 *
 * @since 0.1.0
 */
import { createHash, timingSafeEqual } from "node:crypto"
import { Clock, Effect, Option } from "effect"
import type { VirtualKey } from "./GatewayConfig.js"

/**
 * The lowercase hex SHA-256 of a key, as the configuration stores it.
 *
 * @since 0.1.0
 * @example
 * import { VirtualKeys } from "@ballast/gateway"
 *
 * VirtualKeys.hash("ballast-demo") // "…64 hex digits…"
 */
export const hash = (key: string): string => createHash("sha256").update(key, "utf8").digest("hex")

/**
 * Whether two hex digests are equal, compared in constant time.
 *
 * @since 0.1.0
 */
export const digestsEqual = (a: string, b: string): boolean => {
  const left = Buffer.from(a, "hex")
  const right = Buffer.from(b, "hex")
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right)
}

/**
 * The outcome of checking a request's key.
 *
 * @since 0.1.0
 */
export type Verdict =
  | { readonly _tag: "Missing" }
  | { readonly _tag: "Invalid" }
  | { readonly _tag: "Limited"; readonly key: string; readonly retryAfterMs: number }
  | { readonly _tag: "Allowed"; readonly key: string }

/**
 * The configured keys with their request limits.
 *
 * @since 0.1.0
 */
export interface VirtualKeys {
  /** Finds the key (constant time over every configured digest) and takes a token from its bucket. */
  readonly check: (presented: Option.Option<string>) => Effect.Effect<Verdict>
}

interface Bucket {
  tokens: number
  updatedAt: number
}

/**
 * Builds the checker for the configured keys; buckets start full.
 *
 * @since 0.1.0
 */
export const make = (keys: ReadonlyArray<VirtualKey>): VirtualKeys => {
  const digests = keys.map((key) => ({ key, digest: Buffer.from(key.sha256, "hex") }))
  const buckets = new Map<string, Bucket>()

  const find = (presented: string): VirtualKey | undefined => {
    const digest = createHash("sha256").update(presented, "utf8").digest()
    let found: VirtualKey | undefined
    // Every digest is compared, so the time taken does not tell which (or whether one) matched.
    for (const candidate of digests) {
      if (timingSafeEqual(candidate.digest, digest) && found === undefined) found = candidate.key
    }
    return found
  }

  const take = (key: VirtualKey, now: number): number => {
    const limit = key.requestsPerMinute
    if (limit === undefined) return 0
    const perMs = limit / 60_000
    const bucket = buckets.get(key.name) ?? { tokens: limit, updatedAt: now }
    bucket.tokens = Math.min(limit, bucket.tokens + (now - bucket.updatedAt) * perMs)
    bucket.updatedAt = now
    buckets.set(key.name, bucket)
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return 0
    }
    return Math.ceil((1 - bucket.tokens) / perMs)
  }

  return {
    check: (presented) =>
      Clock.currentTimeMillis.pipe(Effect.map((now): Verdict => {
        if (Option.isNone(presented) || presented.value === "") return { _tag: "Missing" }
        const key = find(presented.value)
        if (key === undefined) return { _tag: "Invalid" }
        const wait = take(key, now)
        return wait > 0 ? { _tag: "Limited", key: key.name, retryAfterMs: wait } : { _tag: "Allowed", key: key.name }
      }))
  }
}
