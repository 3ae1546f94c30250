import { PipelineConfig } from "@ballast/core"
import type { FileSystem } from "@effect/platform"
import { Effect } from "effect"
import * as CliFailure from "../CliFailure.js"

/** Reads and validates a pipeline configuration; every problem, with its path, becomes the failure's message. */
export const loadPipelineConfig = (
  path: string
): Effect.Effect<PipelineConfig.PipelineConfig, CliFailure.CliFailure, FileSystem.FileSystem> =>
  PipelineConfig.fromFile(path).pipe(Effect.catchTag("ConfigError", (error) => CliFailure.failure(error.message)))

/** The plan as one line: `gemini-pro@4K → gemini-pro@2K → gemini-flash → … → writer (description)`. */
export const planLine = (config: PipelineConfig.PipelineConfig): string =>
  config.plan.flatMap((entry) =>
    entry._tag === "Describe"
      ? [`${entry.describe} (description)`]
      : entry.resolutions === undefined
      ? [entry.route]
      : entry.resolutions.map((resolution) => `${entry.route}@${resolution}`)
  ).join(" → ")

/** Renders rows as an aligned plain-text table. */
export const table = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((cells) => cells[i]?.length ?? 0)))
  const line = (cells: ReadonlyArray<string>) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()
  return [line(headers), ...rows.map(line)].join("\n")
}
