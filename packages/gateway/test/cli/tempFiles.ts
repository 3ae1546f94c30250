import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "@effect/vitest"

/** A fresh directory under the OS's temp dir, removed after the file's tests. */
export const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "ballast-cli-"))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Writes `text` to `name` in `dir` and returns its path. */
export const write = (dir: string, name: string, text: string): string => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}
