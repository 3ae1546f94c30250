import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import * as Reactivity from "@effect/experimental/Reactivity"
import { Context, Effect, Layer, Redacted, type Scope } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { JobStore } from "../../src/JobStore.js"
import * as SqlStore from "../../src/SqlStore.js"

/** PostgreSQL for tests: database `test` on 127.0.0.1:5432 (trust auth), unless BALLAST_TEST_PG_URL says otherwise. */
export const postgresUrl = process.env["BALLAST_TEST_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"

/** Makes a fresh, empty store, removed when the scope closes. */
export class FreshStore extends Context.Tag("test/FreshStore")<
  FreshStore,
  { readonly name: string; readonly make: Effect.Effect<JobStore.Service, never, Scope.Scope> }
>() {}

/** A directory under the OS's temp dir, removed when the scope closes. */
export const tempDirectory = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), prefix))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

/** A SQLite file in a temp directory, with the store's tables. */
export const sqliteStore = (options: SqlStore.Options = {}): Effect.Effect<JobStore.Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* tempDirectory("ballast-batch-")
    const client = yield* SqliteClient.make({ filename: join(dir, "batch.db") }).pipe(Effect.provide(Reactivity.layer))
    return yield* SqlStore.make(options).pipe(Effect.provideService(SqlClient.SqlClient, client), Effect.orDie)
  })

let counter = 0

/** A unique table prefix for this process: parallel test files and re-runs never share tables. */
export const uniquePrefix = (): string =>
  `t${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}_${counter++}_`

/** Fresh SQLite files. */
export const sqliteFresh: Layer.Layer<FreshStore> = Layer.succeed(FreshStore, { name: "SQLite", make: sqliteStore() })

/** Fresh table sets (a unique prefix each, dropped afterwards) in one PostgreSQL connection pool. */
export const postgresFresh: Layer.Layer<FreshStore> = Layer.effect(
  FreshStore,
  Effect.map(SqlClient.SqlClient, (sql) => ({
    name: "PostgreSQL",
    make: Effect.gen(function*() {
      const prefix = uniquePrefix()
      yield* Effect.addFinalizer(() =>
        sql`DROP TABLE IF EXISTS ${sql(`${prefix}jobs`)}, ${sql(`${prefix}attempts`)}`.pipe(Effect.orDie)
      )
      return yield* SqlStore.make({ tablePrefix: prefix }).pipe(Effect.provideService(SqlClient.SqlClient, sql), Effect.orDie)
    })
  }))
).pipe(Layer.provide(PgClient.layer({ url: Redacted.make(postgresUrl), maxConnections: 8 })), Layer.orDie)
