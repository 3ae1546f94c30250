/**
 * The `JobStore` on `@effect/sql`: one implementation for SQLite (the
 * embedded default, in WAL mode) and PostgreSQL (many workers in separate
 * processes, claims with `FOR UPDATE SKIP LOCKED`), with the few dialect
 * differences chosen by `sql.onDialectOrElse`.
 *
 * Two tables, named with a prefix (`ballast_batch_` by default): `jobs`
 * (metadata, the encoded request, the lease, the result's file names) and
 * `attempts` (one row per attempt, keyed by job and attempt number). Every
 * transaction starts with a write, so that SQLite takes its write lock at
 * once (and waits for it) instead of failing to upgrade a read.
 *
 * @since 0.1.0
 */
import { ImageRequest } from "@ballast/core"
import { SqlClient, type SqlError } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Chunk, Effect, Layer, Option, Redacted, Schema, Stream } from "effect"
import { Attempt, type Counts, emptyCounts, Job, type JobId, JobResult, type JobState, states } from "./Job.js"
import {
  type Claimed,
  type Finishing,
  type Inserted,
  JobStore,
  JobStoreError,
  type NewJob,
  type Recovered,
  stateAfter
} from "./JobStore.js"

/**
 * Options of the store.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Prefix of the table and index names (default `ballast_batch_`); letters, digits and `_`. */
  readonly tablePrefix?: string | undefined
}

/**
 * The default table prefix.
 *
 * @since 0.1.0
 */
export const defaultTablePrefix = "ballast_batch_"

// What rows look like; PostgreSQL answers BIGINT and COUNT(*) as strings, SQLite as numbers.
type Numeric = number | string | bigint
interface JobRow {
  readonly seq: Numeric
  readonly id: string
  readonly idempotency_key: string | null
  readonly request: string
  readonly priority: Numeric
  readonly deadline: Numeric | null
  readonly state: string
  readonly reason: string | null
  readonly attempts: Numeric
  readonly run_at: Numeric | null
  readonly lease_owner: string | null
  readonly started_at: Numeric | null
  readonly result: string | null
  readonly created_at: Numeric
  readonly updated_at: Numeric
}
interface AttemptRow {
  readonly number: Numeric
  readonly worker: string
  readonly started_at: Numeric
  readonly finished_at: Numeric
  readonly outcome: string
  readonly route: string | null
  readonly error_tag: string | null
  readonly message: string
}

const num = (value: Numeric): number => Number(value)
const optionalNum = (value: Numeric | null): number | undefined => value === null ? undefined : Number(value)

const decodeJob = Schema.decodeUnknown(Job)
const decodeAttempt = Schema.decodeUnknown(Attempt)
const encodeRequest = Schema.encodeSync(ImageRequest)
const encodeResult = Schema.encodeSync(JobResult)

const storeError = (message: string) => (cause: unknown) => new JobStoreError({ message, cause })

const rowToJob = (row: JobRow): Effect.Effect<Job, JobStoreError> =>
  Effect.try({ try: () => JSON.parse(row.request) as unknown, catch: storeError(`job ${row.id}: unreadable request`) })
    .pipe(
      Effect.flatMap((request) =>
        decodeJob({
          id: row.id,
          request,
          priority: num(row.priority),
          ...(row.deadline !== null ? { deadline: num(row.deadline) } : {}),
          ...(row.idempotency_key !== null ? { idempotencyKey: row.idempotency_key } : {}),
          state: row.state,
          ...(row.reason !== null ? { reason: row.reason } : {}),
          attempts: num(row.attempts),
          ...(row.run_at !== null ? { runAt: num(row.run_at) } : {}),
          createdAt: num(row.created_at),
          updatedAt: num(row.updated_at),
          ...(row.result !== null ? { result: JSON.parse(row.result) as unknown } : {})
        })
      ),
      Effect.mapError(storeError(`job ${row.id}: a stored row does not decode`))
    )

const rowToAttempt = (row: AttemptRow): Effect.Effect<Attempt, JobStoreError> =>
  decodeAttempt({
    number: num(row.number),
    worker: row.worker,
    startedAt: num(row.started_at),
    finishedAt: num(row.finished_at),
    outcome: row.outcome,
    ...(row.route !== null ? { route: row.route } : {}),
    ...(row.error_tag !== null ? { errorTag: row.error_tag } : {}),
    message: row.message
  }).pipe(Effect.mapError(storeError("an attempt row does not decode")))

// Claims come back in any order from RETURNING; this is the order they were picked in.
const byClaimOrder = (a: JobRow, b: JobRow): number =>
  num(b.priority) - num(a.priority) || (optionalNum(a.run_at) ?? 0) - (optionalNum(b.run_at) ?? 0) ||
  num(a.seq) - num(b.seq)

// SQLite's limit on bound parameters is 32,766; an insert binds 9 per job, a group commit at most 12.
const insertChunk = 500
const finishChunk = 500

/**
 * Builds the store on the `SqlClient` of the context, creating its tables
 * and indexes when they are missing.
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<JobStore.Service, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const prefix = options.tablePrefix ?? defaultTablePrefix
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(prefix)) {
      return yield* Effect.dieMessage(`invalid table prefix ${JSON.stringify(prefix)}`)
    }
    const jobs = sql(`${prefix}jobs`)
    const attempts = sql(`${prefix}attempts`)
    const index = (name: string) => sql(`${prefix}${name}`)
    const isPg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })

    const createTables = Effect.gen(function*() {
      yield* sql.onDialectOrElse({
        pg: () =>
          sql`CREATE TABLE IF NOT EXISTS ${jobs} (
            seq BIGSERIAL PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            idempotency_key TEXT UNIQUE,
            request TEXT NOT NULL,
            priority INTEGER NOT NULL,
            deadline BIGINT,
            state TEXT NOT NULL,
            reason TEXT,
            attempts INTEGER NOT NULL,
            run_at BIGINT,
            lease_owner TEXT,
            lease_expires BIGINT,
            lost_by TEXT,
            started_at BIGINT,
            result TEXT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
          )`,
        orElse: () =>
          sql`CREATE TABLE IF NOT EXISTS ${jobs} (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            idempotency_key TEXT UNIQUE,
            request TEXT NOT NULL,
            priority INTEGER NOT NULL,
            deadline INTEGER,
            state TEXT NOT NULL,
            reason TEXT,
            attempts INTEGER NOT NULL,
            run_at INTEGER,
            lease_owner TEXT,
            lease_expires INTEGER,
            lost_by TEXT,
            started_at INTEGER,
            result TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
          )`
      })
      yield* sql`CREATE TABLE IF NOT EXISTS ${attempts} (
        job_id TEXT NOT NULL,
        number INTEGER NOT NULL,
        worker TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        finished_at BIGINT NOT NULL,
        outcome TEXT NOT NULL,
        route TEXT,
        error_tag TEXT,
        message TEXT NOT NULL,
        PRIMARY KEY (job_id, number)
      )`
      // Claims: the first `limit` scheduled jobs in claim order.
      yield* sql`CREATE INDEX IF NOT EXISTS ${index("jobs_claim")} ON ${jobs} (state, priority DESC, run_at, seq)`
      // Listing a state in submission order.
      yield* sql`CREATE INDEX IF NOT EXISTS ${index("jobs_state_seq")} ON ${jobs} (state, seq)`
      // Heartbeats: a worker's leases.
      yield* sql`CREATE INDEX IF NOT EXISTS ${index("jobs_lease")} ON ${jobs} (lease_owner) WHERE lease_owner IS NOT NULL`
      // Deadlines: the few jobs that have one.
      yield* sql`CREATE INDEX IF NOT EXISTS ${index("jobs_deadline")} ON ${jobs} (deadline) WHERE deadline IS NOT NULL`
    })
    // Several processes may start at once; PostgreSQL's CREATE ... IF NOT EXISTS is not safe against that alone.
    yield* isPg
      ? sql.withTransaction(
        Effect.zipRight(sql`SELECT pg_advisory_xact_lock(hashtext(${`${prefix}jobs`}))`, createTables)
      )
      : Effect.zipRight(sql`PRAGMA synchronous = NORMAL`, createTables)

    const wrap = <A, R>(what: string, effect: Effect.Effect<A, SqlError.SqlError, R>) =>
      Effect.mapError(effect, (cause) => new JobStoreError({ message: `${what}: ${cause.message}`, cause }))

    const insertRows = (chunk: ReadonlyArray<NewJob>) =>
      Effect.gen(function*() {
        const rows = chunk.map(({ createdAt, id, submission }) => ({
          id,
          idempotency_key: submission.idempotencyKey ?? submission.request.idempotencyKey ?? null,
          request: JSON.stringify(encodeRequest(submission.request)),
          priority: submission.priority,
          deadline: submission.deadline === undefined ? null : submission.deadline.epochMillis,
          state: "queued",
          attempts: 0,
          created_at: createdAt,
          updated_at: createdAt
        }))
        const created = yield* sql<{ id: string }>`
          INSERT INTO ${jobs} ${sql.insert(rows)}
          ON CONFLICT (idempotency_key) DO NOTHING
          RETURNING id`
        const createdIds = new Set(created.map((row) => row.id))
        const keysToFind = rows.filter((row) => !createdIds.has(row.id)).map((row) => row.idempotency_key!)
        const existing = keysToFind.length === 0 ? [] : yield* sql<{ id: string; idempotency_key: string }>`
          SELECT id, idempotency_key FROM ${jobs} WHERE ${sql.in("idempotency_key", keysToFind)}`
        const idByKey = new Map(existing.map((row) => [row.idempotency_key, row.id]))
        return rows.map((row): Inserted =>
          createdIds.has(row.id)
            ? { id: row.id, duplicate: false }
            : { id: idByKey.get(row.idempotency_key!)! as JobId, duplicate: true }
        )
      })

    const insert: JobStore.Service["insert"] = (newJobs) => {
      if (newJobs.length === 0) return Effect.succeed([])
      const chunks: Array<ReadonlyArray<NewJob>> = []
      for (let i = 0; i < newJobs.length; i += insertChunk) chunks.push(newJobs.slice(i, i + insertChunk))
      // Jobs without idempotency keys, one chunk of them, are one statement: atomic without a transaction.
      const oneStatement = chunks.length === 1 &&
        newJobs.every(({ submission }) => (submission.idempotencyKey ?? submission.request.idempotencyKey) === undefined)
      return wrap(
        "insert",
        oneStatement
          ? insertRows(chunks[0]!)
          : sql.withTransaction(Effect.map(Effect.forEach(chunks, insertRows), (parts) => parts.flat()))
      )
    }

    const get: JobStore.Service["get"] = (id) =>
      wrap("get", sql<JobRow>`SELECT * FROM ${jobs} WHERE id = ${id}`).pipe(
        Effect.flatMap((rows) =>
          rows[0] === undefined ? Effect.succeedNone : Effect.asSome(rowToJob(rows[0]))
        )
      )

    const attemptsOf: JobStore.Service["attempts"] = (id) =>
      wrap(
        "attempts",
        sql<AttemptRow>`SELECT * FROM ${attempts} WHERE job_id = ${id} ORDER BY number`
      ).pipe(Effect.flatMap((rows) => Effect.forEach(rows, rowToAttempt)))

    const counts: JobStore.Service["counts"] = wrap(
      "counts",
      sql<{ state: string; n: Numeric }>`SELECT state, COUNT(*) AS n FROM ${jobs} GROUP BY state`
    ).pipe(Effect.map((rows) => {
      const result: Record<JobState, number> = { ...emptyCounts }
      for (const row of rows) {
        if ((states as ReadonlyArray<string>).includes(row.state)) result[row.state as JobState] = num(row.n)
      }
      return result as Counts
    }))

    // Seven index lookups, however long the queue: the newest job, and per unfinished state its oldest job and its
    // highest priority (a COUNT(*) would read every unfinished job). Each state is bounded as a range rather than
    // compared for equality, so that the ORDER BY keeps it and PostgreSQL reads the (state, …) index: with the state
    // taken as a constant, it would rather walk the primary key, past every finished job, when it thinks the state
    // common.
    const unfinished = ["queued", "scheduled", "running"] as const
    const firstOf = (state: string, column: string, order: string) =>
      sql`(SELECT ${sql(column)} FROM ${jobs} WHERE ${sql.literal(`state >= '${state}' AND state <= '${state}'`)}
        ORDER BY ${sql.literal(`state, ${order}`)} LIMIT 1)`
    const aheadSql = sql<Record<string, Numeric | null>>`SELECT (SELECT MAX(seq) FROM ${jobs}) AS newest, ${
      sql.csv(unfinished.flatMap((state) => [
        sql`${firstOf(state, "seq", "seq")} AS ${sql(`oldest_${state}`)}`,
        sql`${firstOf(state, "priority", "priority DESC")} AS ${sql(`top_${state}`)}`
      ]))
    }`
    const ahead: JobStore.Service["ahead"] = (priority) =>
      wrap("ahead", aheadSql).pipe(Effect.map(([row]) => {
        const newest = row?.["newest"] ?? null
        if (row === undefined || newest === null) return 0
        const waiting = unfinished.filter((state) => row[`oldest_${state}`] !== null)
        if (!waiting.some((state) => num(row[`top_${state}`]!) >= priority)) return 0
        return num(newest) - Math.min(...waiting.map((state) => num(row[`oldest_${state}`]!))) + 1
      }))

    const nextRunAt: JobStore.Service["nextRunAt"] = wrap(
      "nextRunAt",
      sql<{ run_at: Numeric | null }>`SELECT MIN(run_at) AS run_at FROM ${jobs} WHERE state = 'scheduled'`
    ).pipe(Effect.map((rows) => Option.fromNullable(optionalNum(rows[0]?.run_at ?? null))))

    const list: JobStore.Service["list"] = (state, listOptions) => {
      const pageSize = listOptions?.pageSize ?? 500
      return Stream.paginateChunkEffect(-1, (after: number) =>
        wrap(
          "list",
          sql<JobRow>`SELECT * FROM ${jobs} WHERE state = ${state} AND seq > ${after} ORDER BY seq LIMIT ${pageSize}`
        ).pipe(
          Effect.flatMap((rows) =>
            Effect.map(Effect.forEach(rows, rowToJob), (page) => {
              const last = rows[rows.length - 1]
              return [
                Chunk.unsafeFromArray(page),
                rows.length < pageSize || last === undefined ? Option.none() : Option.some(num(last.seq))
              ] as const
            })
          )
        ))
    }

    const schedule: JobStore.Service["schedule"] = ({ now, runAt }) =>
      wrap(
        "schedule",
        sql<{ id: string }>`UPDATE ${jobs} SET state = 'scheduled', run_at = ${runAt}, updated_at = ${now}
          WHERE state = 'queued' RETURNING id`
      ).pipe(Effect.map((rows) => rows.length))

    const recover: JobStore.Service["recover"] = ({ maxAttempts, now }) =>
      wrap(
        "recover",
        sql.withTransaction(Effect.gen(function*() {
          const lost = yield* sql<
            { id: string; attempts: Numeric; lost_by: string; started_at: Numeric; state: string }
          >`UPDATE ${jobs} SET
              state = CASE WHEN attempts >= ${maxAttempts} THEN 'dead' ELSE 'scheduled' END,
              reason = CASE WHEN attempts >= ${maxAttempts}
                THEN 'gave up after ' || attempts || ' attempts; the last worker stopped renewing its lease'
                ELSE 'its worker stopped renewing its lease' END,
              lost_by = lease_owner, lease_owner = NULL, lease_expires = NULL, run_at = ${now}, updated_at = ${now}
            WHERE state = 'running' AND lease_expires <= ${now}
            RETURNING id, attempts, lost_by, started_at, state`
          if (lost.length > 0) {
            yield* sql`INSERT INTO ${attempts} ${
              sql.insert(lost.map((row) => ({
                job_id: row.id,
                number: num(row.attempts),
                worker: row.lost_by,
                started_at: num(row.started_at),
                finished_at: now,
                outcome: "lost",
                route: null,
                error_tag: null,
                message: "the worker stopped renewing its lease (killed, or cut off from the database)"
              })))
            } ON CONFLICT (job_id, number) DO NOTHING`
          }
          // SQLite, without statistics, would rather read every waiting job by state than the few with a deadline.
          const byDeadline = isPg ? sql`` : sql`INDEXED BY ${index("jobs_deadline")}`
          const expired = yield* sql<{ id: string }>`UPDATE ${jobs} ${byDeadline} SET state = 'dead',
              reason = 'its deadline passed before it could run', updated_at = ${now}
            WHERE deadline IS NOT NULL AND deadline <= ${now} AND state IN ('queued', 'scheduled')
            RETURNING id`
          const dead = lost.filter((row) => row.state === "dead").length
          return { requeued: lost.length - dead, dead, expired: expired.length } satisfies Recovered
        }))
      )

    const claimSql = sql.onDialectOrElse({
      pg: () => (o: Parameters<JobStore.Service["claim"]>[0]) =>
        sql<JobRow>`WITH picked AS (
            SELECT seq FROM ${jobs}
            WHERE state = 'scheduled' AND (run_at <= ${o.dueBy} OR (deadline IS NOT NULL AND deadline <= ${o.urgentBefore}))
            ORDER BY priority DESC, run_at, seq
            LIMIT ${o.limit}
            FOR UPDATE SKIP LOCKED
          )
          UPDATE ${jobs} AS j SET state = 'running', attempts = j.attempts + 1, lease_owner = ${o.worker},
            lease_expires = ${o.leaseExpires}, started_at = ${o.now}, updated_at = ${o.now}
          FROM picked WHERE j.seq = picked.seq
          RETURNING j.*`,
      orElse: () => (o: Parameters<JobStore.Service["claim"]>[0]) =>
        sql<JobRow>`UPDATE ${jobs} SET state = 'running', attempts = attempts + 1, lease_owner = ${o.worker},
            lease_expires = ${o.leaseExpires}, started_at = ${o.now}, updated_at = ${o.now}
          WHERE seq IN (
            SELECT seq FROM ${jobs}
            WHERE state = 'scheduled' AND (run_at <= ${o.dueBy} OR (deadline IS NOT NULL AND deadline <= ${o.urgentBefore}))
            ORDER BY priority DESC, run_at, seq
            LIMIT ${o.limit}
          )
          RETURNING *`
    })

    const claim: JobStore.Service["claim"] = (claimOptions) =>
      claimOptions.limit <= 0 ? Effect.succeed([]) : wrap("claim", claimSql(claimOptions)).pipe(
        Effect.flatMap((rows) =>
          Effect.forEach([...rows].sort(byClaimOrder), (row) =>
            Effect.map(rowToJob(row), (job): Claimed => ({
              job,
              lease: { jobId: job.id, worker: claimOptions.worker, attempt: job.attempts },
              startedAt: num(row.started_at ?? claimOptions.now)
            })))
        )
      )

    const heartbeatSql = sql.onDialectOrElse({
      // The leases are locked in id order (bytewise, as JavaScript compares them), as a group commit locks them.
      pg: () => (worker: string, leaseExpires: number) =>
        sql<{ id: JobId }>`UPDATE ${jobs} SET lease_expires = ${leaseExpires}
          WHERE seq IN (
            SELECT seq FROM ${jobs} WHERE lease_owner = ${worker} AND state = 'running' ORDER BY id COLLATE "C" FOR UPDATE
          ) AND lease_owner = ${worker} AND state = 'running'
          RETURNING id`,
      orElse: () => (worker: string, leaseExpires: number) =>
        sql<{ id: JobId }>`UPDATE ${jobs} SET lease_expires = ${leaseExpires}
          WHERE lease_owner = ${worker} AND state = 'running' RETURNING id`
    })

    const heartbeat: JobStore.Service["heartbeat"] = ({ leaseExpires, worker }) =>
      wrap("heartbeat", heartbeatSql(worker, leaseExpires)).pipe(
        Effect.map((rows) => new Set(rows.map((row) => row.id)))
      )

    // One row of a group commit: the job's next state, the lease that fences it and the attempt's record.
    const finishRow = ({ finish: outcome, lease }: Finishing) => ({
      id: lease.jobId,
      state: stateAfter(outcome),
      reason: outcome._tag === "Succeeded" ? null : outcome.reason,
      runAt: outcome._tag === "Rescheduled" ? outcome.runAt : null,
      result: outcome._tag === "Succeeded" ? JSON.stringify(encodeResult(outcome.result)) : null,
      finishedAt: outcome.attempt.finishedAt,
      worker: lease.worker,
      attempt: lease.attempt,
      outcome: outcome.attempt.outcome,
      route: outcome.attempt.route ?? null,
      errorTag: outcome.attempt.errorTag ?? null,
      message: outcome.attempt.message
    })
    type FinishRow = ReturnType<typeof finishRow>
    const valuesList = sql.join(", ", false)

    // Each statement updates the jobs whose lease still holds and records their attempts; it answers the ids of
    // the jobs it recorded. The rows of one statement name distinct jobs.
    const finishStatement = sql.onDialectOrElse({
      // One statement, atomic by itself. The rows are locked in id order (bytewise, as JavaScript compares them),
      // as heartbeats lock them, so that a worker's group commit and its heartbeat cannot deadlock.
      pg: () => (rows: ReadonlyArray<FinishRow>) =>
        Effect.map(
          sql<{ job_id: string }>`WITH v (id, state, reason, run_at, result, finished_at, worker, attempt, outcome, route,
              error_tag, message) AS (VALUES ${
            valuesList(rows.map((r) =>
              sql`(${r.id}::text, ${r.state}::text, ${r.reason}::text, ${r.runAt}::bigint, ${r.result}::text,
                ${r.finishedAt}::bigint, ${r.worker}::text, ${r.attempt}::integer, ${r.outcome}::text, ${r.route}::text,
                ${r.errorTag}::text, ${r.message}::text)`
            ))
          }),
            locked AS (
              SELECT j.seq FROM ${jobs} AS j JOIN v ON j.id = v.id ORDER BY j.id COLLATE "C" FOR UPDATE OF j
            ),
            updated AS (
              UPDATE ${jobs} AS j SET state = v.state, reason = v.reason, run_at = v.run_at, result = v.result,
                lease_owner = NULL, lease_expires = NULL, updated_at = v.finished_at
              FROM v, locked
              WHERE j.seq = locked.seq AND j.id = v.id AND j.state = 'running' AND j.lease_owner = v.worker
                AND j.attempts = v.attempt
              RETURNING j.id, j.started_at
            )
            INSERT INTO ${attempts} (job_id, number, worker, started_at, finished_at, outcome, route, error_tag, message)
            SELECT v.id, v.attempt, v.worker, updated.started_at, v.finished_at, v.outcome, v.route, v.error_tag, v.message
            FROM updated JOIN v ON v.id = updated.id
            RETURNING job_id`,
          (recorded) => recorded.map((row) => row.job_id)
        ),
      // SQLite has no UPDATE in a WITH: the update answers the attempts' start times, then one insert records them
      // (in the caller's transaction).
      orElse: () => (rows: ReadonlyArray<FinishRow>) =>
        Effect.gen(function*() {
          const updated = yield* sql<{ id: string; started_at: Numeric }>`WITH v (id, state, reason, run_at, result,
              finished_at, worker, attempt) AS (VALUES ${
            valuesList(rows.map((r) =>
              sql`(${r.id}, ${r.state}, ${r.reason}, ${r.runAt}, ${r.result}, ${r.finishedAt}, ${r.worker}, ${r.attempt})`
            ))
          })
            UPDATE ${jobs} SET state = v.state, reason = v.reason, run_at = v.run_at, result = v.result,
              lease_owner = NULL, lease_expires = NULL, updated_at = v.finished_at
            FROM v
            WHERE ${jobs}.id = v.id AND ${jobs}.state = 'running' AND ${jobs}.lease_owner = v.worker
              AND ${jobs}.attempts = v.attempt
            RETURNING id, started_at`
          if (updated.length === 0) return []
          const startedAt = new Map(updated.map((row) => [row.id, num(row.started_at)]))
          yield* sql`INSERT INTO ${attempts} ${
            sql.insert(rows.filter((r) => startedAt.has(r.id)).map((r) => ({
              job_id: r.id,
              number: r.attempt,
              worker: r.worker,
              started_at: startedAt.get(r.id)!,
              finished_at: r.finishedAt,
              outcome: r.outcome,
              route: r.route,
              error_tag: r.errorTag,
              message: r.message
            })))
          }`
          return updated.map((row) => row.id)
        })
    })

    const finishAll: JobStore.Service["finishAll"] = (finishes) =>
      finishes.length === 0 ? Effect.succeed([]) : Effect.suspend(() => finishRounds(finishes))

    const finishRounds = (finishes: ReadonlyArray<Finishing>) => {
      // A job named twice is checked twice, in order, as separate calls would: the second finds the first's write.
      // Each round names a job once.
      const rounds: Array<Array<FinishRow>> = []
      const roundOf = new Map<string, number>()
      const placed = finishes.map((entry) => {
        const row = finishRow(entry)
        const round = roundOf.get(row.id) ?? 0
        roundOf.set(row.id, round + 1)
        ;(rounds[round] ??= []).push(row)
        return round
      })
      const record = Effect.gen(function*() {
        const recorded = rounds.map(() => new Set<string>())
        for (let round = 0; round < rounds.length; round++) {
          const rows = rounds[round]!
          for (let i = 0; i < rows.length; i += finishChunk) {
            for (const id of yield* finishStatement(rows.slice(i, i + finishChunk))) recorded[round]!.add(id)
          }
        }
        const answers = finishes.map((entry, i) => recorded[placed[i]!]!.has(entry.lease.jobId))
        // A finish whose lease is gone may be a retry of one that committed while its answer was lost (a dropped
        // connection): its attempt row — this job, attempt number, worker, outcome and end — is already there.
        const unanswered = answers.flatMap((answer, i) => answer ? [] : [i])
        if (unanswered.length > 0) {
          const ids = [...new Set(unanswered.map((i) => finishes[i]!.lease.jobId))]
          const existing = yield* sql<{ job_id: string; number: Numeric; worker: string; outcome: string; finished_at: Numeric }>`
            SELECT job_id, number, worker, outcome, finished_at FROM ${attempts} WHERE ${sql.in("job_id", ids)}`
          for (const i of unanswered) {
            const row = finishRow(finishes[i]!)
            answers[i] = existing.some((e) =>
              e.job_id === row.id && num(e.number) === row.attempt && e.worker === row.worker &&
              e.outcome === row.outcome && num(e.finished_at) === row.finishedAt
            )
          }
        }
        return answers
      })
      // On PostgreSQL one statement needs no transaction around it.
      const single = isPg && rounds.length === 1 && rounds[0]!.length <= finishChunk
      return wrap("finish", single ? record : sql.withTransaction(record))
    }

    const finish: JobStore.Service["finish"] = (lease, outcome) =>
      Effect.map(finishAll([{ lease, finish: outcome }]), (recorded) => recorded[0]!)

    return {
      insert,
      get,
      attempts: attemptsOf,
      counts,
      ahead,
      nextRunAt,
      list,
      schedule,
      recover,
      claim,
      heartbeat,
      finish,
      finishAll
    } satisfies JobStore.Service
  })

/**
 * The store as a Layer on the `SqlClient` of the context.
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<JobStore, JobStoreError, SqlClient.SqlClient> =>
  Layer.effect(JobStore, Effect.mapError(make(options), storeError("cannot create the job tables")))

/**
 * The store in a SQLite file (created when missing), in WAL mode with
 * `synchronous = NORMAL`: a committed job survives the process being killed.
 *
 * @since 0.1.0
 * @example
 * import { Effect } from "effect"
 * import { BatchQueue, SqlStore } from "@ballast/batch"
 *
 * const program = Effect.flatMap(BatchQueue.BatchQueue, (queue) => queue.counts).pipe(
 *   Effect.provide(BatchQueue.layer().pipe(Effect.provide(SqlStore.layerSqlite({ filename: "batch.db" }))))
 * )
 */
export const layerSqlite = (options: Options & { readonly filename: string }): Layer.Layer<JobStore, JobStoreError> =>
  layer(options).pipe(
    Layer.provide(SqliteClient.layer({ filename: options.filename })),
    Layer.catchAll((error) =>
      Layer.fail(
        error instanceof JobStoreError
          ? error
          : new JobStoreError({ message: `cannot open ${options.filename}`, cause: error })
      )
    )
  )

/**
 * The store in PostgreSQL, at a `postgres://` URL.
 *
 * @since 0.1.0
 */
export const layerPostgres = (
  options: Options & { readonly url: Redacted.Redacted | string; readonly maxConnections?: number | undefined }
): Layer.Layer<JobStore, JobStoreError> =>
  layer(options).pipe(
    Layer.provide(PgClient.layer({
      url: typeof options.url === "string" ? Redacted.make(options.url) : options.url,
      ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {})
    })),
    Layer.catchAll((error) =>
      Layer.fail(
        error instanceof JobStoreError ? error : new JobStoreError({ message: "cannot connect to PostgreSQL", cause: error })
      )
    )
  )

/**
 * Whether a `--db` value names PostgreSQL (`postgres://…`, `postgresql://…`)
 * rather than a SQLite file.
 *
 * @since 0.1.0
 */
export const isPostgresUrl = (location: string): boolean => /^postgres(ql)?:\/\//i.test(location)

/**
 * The store at a location: a `postgres://` URL, or else the path of a SQLite file.
 *
 * @since 0.1.0
 */
export const layerFor = (location: string, options: Options = {}): Layer.Layer<JobStore, JobStoreError> =>
  isPostgresUrl(location)
    ? layerPostgres({ ...options, url: location })
    : layerSqlite({ ...options, filename: location })
