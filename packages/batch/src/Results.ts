/**
 * Where the images of finished jobs go: files in a directory (platform
 * `FileSystem`), while the database keeps their names. Each image is written
 * to a temporary file and renamed into place, and its name carries the job id
 * and the attempt number, so a worker killed mid-write leaves at most a
 * temporary file, and a worker that lost its lease can never overwrite the
 * image another attempt recorded.
 *
 * @since 0.1.0
 */
import type { GeneratedImage } from "@ballast/core"
import { FileSystem, Path } from "@effect/platform"
import { Context, Effect, Layer, Schema } from "effect"
import { type Job, type JobId, StoredImage } from "./Job.js"

/**
 * Reading or writing an image file failed.
 *
 * @since 0.1.0
 */
export class ResultsError extends Schema.TaggedError<ResultsError>("@ballast/batch/ResultsError")("ResultsError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * The image files of finished jobs.
 *
 * @since 0.1.0
 */
export class Results extends Context.Tag("@ballast/batch/Results")<Results, Results.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace Results {
  /**
   * @since 0.1.0
   */
  export interface Service {
    /** The directory the images are written to. */
    readonly directory: string
    /** Writes an attempt's images (temporary file, then rename) and describes them. */
    readonly write: (
      jobId: JobId,
      attempt: number,
      images: ReadonlyArray<GeneratedImage>
    ) => Effect.Effect<ReadonlyArray<StoredImage>, ResultsError>
    /** Removes images written by an attempt whose result was not recorded. */
    readonly remove: (images: ReadonlyArray<StoredImage>) => Effect.Effect<void>
    /** The bytes of a stored image. */
    readonly read: (image: StoredImage) => Effect.Effect<Uint8Array, ResultsError>
    /**
     * Copies a succeeded job's images to `directory` as `<job id>.<ext>` (or
     * `<job id>-<n>.<ext>` when the request asked for several) and returns
     * their paths.
     */
    readonly exportTo: (job: Job, directory: string) => Effect.Effect<ReadonlyArray<string>, ResultsError>
  }
}

/**
 * The file extension for an image's MIME type.
 *
 * @since 0.1.0
 */
export const extensionOf = (mimeType: string): string =>
  mimeType === "image/png"
    ? "png"
    : mimeType === "image/jpeg"
    ? "jpg"
    : mimeType === "image/webp"
    ? "webp"
    : "bin"

/**
 * Builds the store of image files in `directory` (created when missing).
 *
 * @since 0.1.0
 */
export const make = (
  options: { readonly directory: string }
): Effect.Effect<Results.Service, ResultsError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const directory = path.resolve(options.directory)
    yield* fs.makeDirectory(directory, { recursive: true }).pipe(
      Effect.mapError((cause) => new ResultsError({ message: `cannot create ${directory}: ${cause.message}`, cause }))
    )
    const failed = (what: string) => (cause: { readonly message: string }) =>
      new ResultsError({ message: `${what}: ${cause.message}`, cause })

    const write: Results.Service["write"] = (jobId, attempt, images) =>
      Effect.forEach(images, (image, i) => {
        const file = `${jobId}.${attempt}.${i + 1}.${extensionOf(image.mimeType)}`
        const target = path.join(directory, file)
        const temporary = `${target}.tmp`
        return fs.writeFile(temporary, image.data).pipe(
          Effect.zipRight(fs.rename(temporary, target)),
          Effect.mapError(failed(`cannot write ${target}`)),
          Effect.as(StoredImage.make({ file, mimeType: image.mimeType, bytes: image.data.length }, { disableValidation: true }))
        )
      })

    const remove: Results.Service["remove"] = (images) =>
      Effect.forEach(images, (image) => Effect.ignore(fs.remove(path.join(directory, image.file))), { discard: true })

    const read: Results.Service["read"] = (image) => {
      const file = path.join(directory, image.file)
      return fs.readFile(file).pipe(Effect.mapError(failed(`cannot read ${file}`)))
    }

    const exportTo: Results.Service["exportTo"] = (job, out) => {
      const images = job.result?.images ?? []
      return Effect.forEach(images, (image, i) => {
        const name = images.length === 1
          ? `${job.id}.${extensionOf(image.mimeType)}`
          : `${job.id}-${i + 1}.${extensionOf(image.mimeType)}`
        const target = path.join(out, name)
        return fs.copyFile(path.join(directory, image.file), target).pipe(
          Effect.mapError(failed(`cannot copy ${image.file} to ${target}`)),
          Effect.as(target)
        )
      })
    }

    return { directory, write, remove, read, exportTo }
  })

/**
 * The image files as a Layer.
 *
 * @since 0.1.0
 */
export const layer = (
  options: { readonly directory: string }
): Layer.Layer<Results, ResultsError, FileSystem.FileSystem | Path.Path> => Layer.effect(Results, make(options))

/**
 * The default directory for a store location: `<file>.images` beside a
 * SQLite file, `ballast-batch-images` in the working directory for
 * PostgreSQL (whose workers must share it).
 *
 * @since 0.1.0
 */
export const defaultDirectory = (location: string, isPostgres: boolean): string =>
  isPostgres ? "ballast-batch-images" : `${location}.images`
