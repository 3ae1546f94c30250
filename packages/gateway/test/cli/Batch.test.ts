import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { progressLine } from "../../src/cli/Batch.js"
import { run } from "./capture.js"
import { tempDir, write } from "./tempFiles.js"

const dir = tempDir()
const pngSignature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]

const jobsFile = write(
  dir,
  "jobs.jsonl",
  [
    `{"prompt": "a lighthouse at dusk", "resolution": "2K", "aspectRatio": "16:9", "priority": 5, "idempotencyKey": "sku-1042"}`,
    `{"prompt": "a red fox in the snow"}`,
    `{"prompt": "a tea cup", "resolution": "8K"}`,
    ``,
    `not json`,
    `{"prompt": "a lighthouse at dusk, again", "idempotencyKey": "sku-1042"}`,
    `{"prompt": "a watercolor harbour", "aspectRatio": "1:1", "colour": "blue"}`,
    `{"prompt": "a paper boat", "deadline": "2099-01-01T00:00:00Z"}`
  ].join("\n")
)

const countsOf = (db: string) =>
  Effect.map(run(["batch", "status", "--db", db, "--json"]), (result) => {
    expect(result.code).toBe(0)
    return JSON.parse(result.out) as Record<string, number>
  })

describe("ballast batch", () => {
  it.effect("submit queues the good lines and reports each bad one by its number (exit code 1)", () =>
    Effect.gen(function*() {
      const db = join(dir, "submit.db")
      const result = yield* run(["batch", "submit", jobsFile, "--db", db])
      expect(result.code).toBe(1)
      expect(result.err.split("\n")).toEqual([
        `line 3: resolution: Expected "1K" | "2K" | "4K", actual "8K"`,
        expect.stringMatching(/^line 5: .*JSON/),
        expect.stringMatching(/^line 7: colour: is unexpected/),
        `3 bad line(s) in ${jobsFile} were not submitted (listed above)`
      ])
      expect(result.out).toMatch(/^line 1: job_[0-9a-z]+, done by about \d{4}-\d\d-\d\d \d\d:\d\d America\/Los_Angeles$/m)
      expect(result.out).toMatch(/^line 6: job_[0-9a-z]+ \(already submitted\)/m)
      expect(result.out).toContain(`submitted 3 job(s) to ${db} (1 more already submitted with the same idempotency key)`)
      // the idempotency key made one job of lines 1 and 6
      const id1 = /^line 1: (job_[0-9a-z]+)/m.exec(result.out)![1]
      const id6 = /^line 6: (job_[0-9a-z]+)/m.exec(result.out)![1]
      expect(id6).toBe(id1)
      expect(yield* countsOf(db)).toEqual({ queued: 3, scheduled: 0, running: 0, succeeded: 0, failed: 0, dead: 0 })
      // submitting the same file again adds nothing for the keyed line
      const again = yield* run(["batch", "submit", jobsFile, "--db", db])
      expect(again.out).toContain("submitted 2 job(s)")
      expect((yield* countsOf(db)).queued).toBe(5)
    }))

  // Live clock: the demo's providers are the fault server on 127.0.0.1 behind the real SDKs.
  it.live("work --demo runs every job in seconds; status counts them; results writes one image per succeeded job", () =>
    Effect.gen(function*() {
      const db = join(dir, "demo.db")
      const good = write(
        dir,
        "good.jsonl",
        Array.from({ length: 6 }, (_, i) => JSON.stringify({ prompt: `catalogue item ${i}`, resolution: "1K" })).join("\n")
      )
      expect((yield* run(["batch", "submit", good, "--db", db])).code).toBe(0)
      const worked = yield* run(["batch", "work", "--demo", "--db", db, "--concurrency", "3"])
      expect(worked.err).not.toContain("ballast:")
      expect(worked.code).toBe(0)
      expect(worked.out).toContain(`6 succeeded, 0 rescheduled, 0 failed, 0 dead; images in ${db}.images`)
      expect(worked.err.split("\n").filter((line) => / attempt \d+: succeeded — /.test(line))).toHaveLength(6)
      expect(yield* countsOf(db)).toEqual({ queued: 0, scheduled: 0, running: 0, succeeded: 6, failed: 0, dead: 0 })
      const out = join(dir, "out")
      const results = yield* run(["batch", "results", "--db", db, "--out", out])
      expect(results.code).toBe(0)
      expect(results.out).toBe(`wrote 6 image(s) of 6 succeeded job(s) to ${out}`)
      const files = readdirSync(out)
      expect(files).toHaveLength(6)
      for (const file of files) {
        expect(file).toMatch(/^job_[0-9a-z]+\.png$/)
        expect([...readFileSync(join(out, file)).subarray(0, 8)]).toEqual(pngSignature)
      }
    }), 60_000)

  it.effect("status prints every state and when the window opens; the bar counts finished jobs", () =>
    Effect.gen(function*() {
      const db = join(dir, "empty.db")
      const result = yield* run(["batch", "status", "--db", db])
      expect(result.code).toBe(0)
      // a bar when stdout is a terminal, one line per state otherwise
      expect(result.out).toMatch(
        process.stdout.isTTY === true
          ? /^\[░+\] +0% finished · 0 queued · 0 scheduled · 0 running · 0 succeeded · 0 failed · 0 dead\nthe off-peak window (is open|opens at .+)$/
          : /^queued +0\nscheduled +0\nrunning +0\nsucceeded +0\nfailed +0\ndead +0\nthe off-peak window (is open|opens at .+)$/
      )
      expect(progressLine({ queued: 1, scheduled: 0, running: 0, succeeded: 2, failed: 1, dead: 0 })).toBe(
        "[███████████████████████░░░░░░░]  75% finished · 1 queued · 0 scheduled · 0 running · 2 succeeded · 1 failed · 0 dead"
      )
    }))

  it.effect("work needs --demo or --config (exit code 2); a bad subcommand lists the valid ones", () =>
    Effect.gen(function*() {
      const bare = yield* run(["batch", "work", "--db", join(dir, "x.db")])
      expect(bare.code).toBe(2)
      expect(bare.err).toContain("work needs --config <gateway configuration> or --demo")
      const none = yield* run(["batch"])
      expect(none.code).toBe(2)
      expect(none.err).toContain("expected one of: submit, work, status, results")
      const missing = yield* run(["batch", "submit", join(dir, "missing.jsonl")])
      expect(missing.code).toBe(2)
    }))
})
