// @ts-check
/**
 * The production build of the `ballast` binary: one ESM file that plain `node`
 * runs, with no TypeScript loader.
 *
 *   pnpm --filter @ballast/gateway build                 # → packages/gateway/dist/ballast.mjs (+ .map)
 *   node packages/gateway/scripts/build.mjs --outdir /tmp/x
 *   node packages/gateway/scripts/build.mjs --external yaml   # one more external, for this build only
 *
 * The workspace packages export their TypeScript sources, so the bundle is the
 * only way to run them without tsx. esbuild bundles `src/bin/ballast.ts` and
 * everything it imports — the `@ballast/*` sources and their npm dependencies,
 * the OpenTelemetry modules `Tracing.ts` imports on demand included (esbuild
 * keeps a literal `import()` lazy: the module is in the file but runs only
 * when imported).
 *
 * What is not bundled is `EXTERNALS`: packages with native addons (a `.node`
 * file cannot go into a bundle) or that must be loaded from disk. Each is
 * resolved from the package that imports it, and linked into
 * `<outdir>/node_modules`, so the bundle finds it wherever it is built — under
 * pnpm a transitive dependency (`better-sqlite3` through
 * `@effect/sql-sqlite-node`) is in no `node_modules` above `dist/`. The
 * `package.json` written beside the bundle names the externals and their
 * versions, so a copy of `dist/` elsewhere gets them with `npm install`.
 *
 * The source map (`ballast.mjs.map`, used with `node --enable-source-maps`)
 * maps the workspace's own sources only: esbuild's full map, through to the
 * TypeScript of effect, openai, undici..., costs ~100 MB of RSS and ~0.2 s of
 * start-up once Node loads it — all that the bundle saves over tsx — and the
 * own-sources map ~15 MB. Frames in bundled dependencies keep their place in
 * `ballast.mjs`, which is not minified.
 */
import * as esbuild from "esbuild"
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"

/**
 * Packages left out of the bundle and loaded from `node_modules` at run time:
 * native addons, and anything that reads files beside its own sources. A name
 * covers its subpaths (`better-sqlite3/lib/...`).
 */
export const EXTERNALS = [
  // A native addon, through @effect/sql-sqlite-node (@ballast/batch's SQLite store).
  "better-sqlite3"
]

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), "..")

// CommonJS modules inside an ESM bundle call `require` (of node built-ins, and of externals); esbuild's shim
// throws without a real one.
const banner = `import { createRequire as __ballastCreateRequire } from "node:module"; const require = __ballastCreateRequire(import.meta.url);`

/**
 * The real path of package `name`'s directory, as Node would find it from a
 * module in `fromDir`.
 *
 * @param {string} name
 * @param {string} fromDir
 * @returns {string | undefined}
 */
const findPackageDir = (name, fromDir) => {
  const require = createRequire(join(fromDir, "noop.js"))
  const paths = require.resolve.paths(name) ?? []
  for (const base of paths) {
    const candidate = join(base, name)
    if (existsSync(join(candidate, "package.json"))) return realpathSync(candidate)
  }
  return undefined
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
const BASE64_VALUE = new Map([...BASE64].map((char, value) => [char, value]))

/** @param {string} segment @returns {Array<number>} the segment's base64 VLQ fields */
const decodeSegment = (segment) => {
  const fields = []
  let value = 0
  let shift = 0
  for (const char of segment) {
    const digit = BASE64_VALUE.get(char) ?? 0
    value += (digit & 31) << shift
    if (digit & 32) shift += 5
    else {
      fields.push(value & 1 ? -(value >>> 1) : value >>> 1)
      value = 0
      shift = 0
    }
  }
  return fields
}

/** @param {number} field @returns {string} */
const encodeField = (field) => {
  let value = field < 0 ? (-field << 1) | 1 : field << 1
  let out = ""
  do {
    let digit = value & 31
    value >>>= 5
    if (value) digit |= 32
    out += BASE64[digit]
  } while (value)
  return out
}

/**
 * Rewrites a source map's mappings so that only code from `keep` sources is
 * mapped; each run of other code starts with an unmapped segment, so that a
 * position in it does not resolve to the mapped code before it.
 *
 * @param {{ sources: Array<string>, mappings: string }} map
 * @param {(source: string) => boolean} keep
 */
const keepMappings = (map, keep) => {
  const kept = map.sources.map(keep)
  // Absolute values, as decoded; then the previous values written, which the next written segment is relative to.
  let source = 0, line = 0, column = 0, name = 0
  let writtenSource = 0, writtenLine = 0, writtenColumn = 0, writtenName = 0
  let unmapped = false
  map.mappings = map.mappings.split(";").map((generatedLine) => {
    let generatedColumn = 0
    let writtenGeneratedColumn = 0
    /** @type {Array<string>} */
    const segments = []
    /** @param {Array<number> | undefined} fields */
    const write = (fields) => {
      let out = encodeField(generatedColumn - writtenGeneratedColumn)
      writtenGeneratedColumn = generatedColumn
      if (fields !== undefined) {
        out += encodeField(source - writtenSource) + encodeField(line - writtenLine) + encodeField(column - writtenColumn)
        writtenSource = source
        writtenLine = line
        writtenColumn = column
        if (fields.length > 4) {
          out += encodeField(name - writtenName)
          writtenName = name
        }
      }
      segments.push(out)
    }
    for (const segment of generatedLine.split(",")) {
      if (segment === "") continue
      const fields = decodeSegment(segment)
      generatedColumn += fields[0] ?? 0
      if (fields.length > 1) {
        source += fields[1] ?? 0
        line += fields[2] ?? 0
        column += fields[3] ?? 0
        if (fields.length > 4) name += fields[4] ?? 0
      }
      if (fields.length > 1 && kept[source]) {
        write(fields)
        unmapped = false
      } else if (!unmapped) {
        write(undefined)
        unmapped = true
      }
    }
    return segments.join(",")
  }).join(";")
}

/** @param {string} path */
const packageNameOf = (path) => {
  const parts = path.split("/")
  return path.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0] ?? path
}

/**
 * Marks `externals` external and records, for each, the package directory it
 * resolves to from the module that imports it.
 *
 * @param {ReadonlyArray<string>} externals
 * @param {Map<string, string>} found package name → its directory
 * @returns {esbuild.Plugin}
 */
const externalsPlugin = (externals, found) => ({
  name: "ballast-externals",
  setup(build) {
    const filter = new RegExp(`^(${externals.map((e) => e.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")).join("|")})(/.*)?$`)
    build.onResolve({ filter }, (args) => {
      const name = packageNameOf(args.path)
      const dir = findPackageDir(name, args.resolveDir)
      if (dir === undefined) {
        return { errors: [{ text: `external ${name} does not resolve from ${args.importer}; is it installed?` }] }
      }
      const previous = found.get(name)
      if (previous !== undefined && previous !== dir) {
        return { errors: [{ text: `external ${name} resolves to two copies: ${previous} and ${dir}` }] }
      }
      found.set(name, dir)
      return { path: args.path, external: true }
    })
  }
})

/**
 * Builds `<outdir>/ballast.mjs`, its source map, `<outdir>/node_modules`
 * links to the externals it imports and `<outdir>/package.json`.
 *
 * @param {{ outdir?: string, externals?: ReadonlyArray<string>, logLevel?: esbuild.LogLevel }} [options]
 * @returns {Promise<{ outfile: string, externals: ReadonlyArray<string>, bytes: number }>}
 */
export const build = async (options = {}) => {
  const outdir = resolve(options.outdir ?? join(packageDir, "dist"))
  const externals = options.externals ?? EXTERNALS
  const outfile = join(outdir, "ballast.mjs")
  /** @type {Map<string, string>} */
  const found = new Map()
  const result = await esbuild.build({
    absWorkingDir: packageDir,
    entryPoints: [join(packageDir, "src/bin/ballast.ts")],
    outfile,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    sourcemap: "linked",
    // The map points at the sources in the repository; a deployed copy needs no copy of them.
    sourcesContent: false,
    legalComments: "none",
    banner: { js: banner },
    plugins: [externalsPlugin(externals, found)],
    metafile: true,
    // esbuild does not type-check: an import of a name a module does not export (a tree mid-edit) would only
    // warn, and the bundle would fail when it starts.
    logOverride: { "import-is-undefined": "error" },
    logLevel: options.logLevel ?? "warning"
  })
  const mapFile = `${outfile}.map`
  const map = JSON.parse(readFileSync(mapFile, "utf8"))
  keepMappings(map, (source) => !source.includes("/node_modules/"))
  writeFileSync(mapFile, JSON.stringify(map))
  // Each external that the bundle imports, linked as `node_modules/<name>` beside it.
  const modules = join(outdir, "node_modules")
  rmSync(modules, { recursive: true, force: true })
  /** @type {Record<string, string>} */
  const dependencies = {}
  for (const [name, dir] of [...found].sort(([a], [b]) => a.localeCompare(b))) {
    const link = join(modules, name)
    mkdirSync(dirname(link), { recursive: true })
    symlinkSync(relative(dirname(link), dir), link, "dir")
    dependencies[name] = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version
  }
  writeFileSync(
    join(outdir, "package.json"),
    `${JSON.stringify({ name: "ballast-gateway-bundle", private: true, type: "module", dependencies }, null, 2)}\n`
  )
  const bytes = result.metafile.outputs[relative(packageDir, outfile)]?.bytes ?? 0
  return { outfile, externals: Object.keys(dependencies), bytes }
}

if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      outdir: { type: "string" },
      external: { type: "string", multiple: true },
      quiet: { type: "boolean", default: false }
    }
  })
  const { bytes, externals, outfile } = await build({
    ...(values.outdir === undefined ? {} : { outdir: values.outdir }),
    externals: [...EXTERNALS, ...(values.external ?? [])]
  })
  if (!values.quiet) {
    const where = relative(process.cwd(), outfile).startsWith("..") ? outfile : relative(process.cwd(), outfile)
    const linked = externals.length === 0 ? "no externals imported" : `externals linked: ${externals.join(", ")}`
    console.log(`${where}: ${(bytes / 1024 / 1024).toFixed(1)} MB (${linked})`)
  }
}
