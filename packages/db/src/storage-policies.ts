import { type Kysely, sql } from 'kysely'
import { DAY_MS, HOUR_MS, toSqlInterval } from './config/duration.ts'
import { assertRetentionConfig, type RetentionConfig } from './config/retention.ts'
import type { Database } from './schema/database.ts'

/** The objects whose chunking, compression, retention and refresh the configuration governs. */
export const HYPERTABLE = 'location_reports'
export const HOURLY_AGGREGATE = 'location_history_hourly'
export const DAILY_AGGREGATE = 'location_history_daily'
export type AggregateName = typeof HOURLY_AGGREGATE | typeof DAILY_AGGREGATE

interface JobRow {
  job_id: number
  proc_name: string
  config: Record<string, unknown>
}

async function jobsOf(db: Kysely<Database>, name: string): Promise<JobRow[]> {
  // Policies on a continuous aggregate are registered on its materialization hypertable.
  const { rows } = await sql<JobRow>`
    SELECT j.job_id, j.proc_name, j.config
      FROM timescaledb_information.jobs j
     WHERE j.hypertable_name = ${name}
        OR j.hypertable_name = (SELECT materialization_hypertable_name
                                  FROM timescaledb_information.continuous_aggregates WHERE view_name = ${name})`.execute(
    db,
  )
  return rows
}

async function intervalMs(db: Kysely<Database>, value: unknown): Promise<number | null> {
  if (typeof value !== 'string') return null
  const { rows } = await sql<{
    ms: number
  }>`SELECT (extract(epoch FROM ${value}::interval) * 1000)::bigint AS ms`.execute(db)
  return Number(rows[0]!.ms)
}

async function ensureRetention(db: Kysely<Database>, name: string, ms: number): Promise<boolean> {
  const job = (await jobsOf(db, name)).find((j) => j.proc_name === 'policy_retention')
  if (job && (await intervalMs(db, job.config.drop_after)) === ms) return false
  await sql`SELECT remove_retention_policy(${name}, if_exists => true)`.execute(db)
  await sql`SELECT add_retention_policy(${name}, drop_after => ${toSqlInterval(ms)}::interval)`.execute(db)
  return true
}

async function ensureCompression(db: Kysely<Database>, name: string, ms: number): Promise<boolean> {
  const job = (await jobsOf(db, name)).find((j) => j.proc_name === 'policy_compression')
  if (job && (await intervalMs(db, job.config.compress_after)) === ms) return false
  await sql`SELECT remove_compression_policy(${name}, if_exists => true)`.execute(db)
  await sql`SELECT add_compression_policy(${name}, compress_after => ${toSqlInterval(ms)}::interval)`.execute(
    db,
  )
  return true
}

async function ensureRefreshPolicy(
  db: Kysely<Database>,
  name: AggregateName,
  startMs: number,
  endMs: number,
  scheduleMs: number,
): Promise<boolean> {
  const job = (await jobsOf(db, name)).find((j) => j.proc_name === 'policy_refresh_continuous_aggregate')
  if (
    job &&
    (await intervalMs(db, job.config.start_offset)) === startMs &&
    (await intervalMs(db, job.config.end_offset)) === endMs
  ) {
    return false
  }
  await sql`SELECT remove_continuous_aggregate_policy(${name}, if_exists => true)`.execute(db)
  await sql`
    SELECT add_continuous_aggregate_policy(${name},
      start_offset => ${toSqlInterval(startMs)}::interval,
      end_offset => ${toSqlInterval(endMs)}::interval,
      schedule_interval => ${toSqlInterval(scheduleMs)}::interval)`.execute(db)
  return true
}

async function ensureChunkInterval(db: Kysely<Database>, name: string, ms: number): Promise<void> {
  // Applies to chunks created from now on; existing chunks keep their size.
  await sql`SELECT set_chunk_time_interval(${name}, ${toSqlInterval(ms)}::interval)`.execute(db)
}

/**
 * Makes the database's policies match the validated configuration. The migrations install the
 * defaults; this runs after them (`pnpm db:migrate`) so an operator's settings take effect. Refresh
 * policies keep the seed's cadence: hourly every hour with a 1-hour lag, daily every day with a
 * 1-day lag; only how far back they reach is configuration.
 */
export async function applyStoragePolicies(db: Kysely<Database>, config: RetentionConfig): Promise<string[]> {
  assertRetentionConfig(config)
  return db.transaction().execute(async (tx) => {
    const changed: string[] = []
    const note = (did: boolean, what: string) => did && changed.push(what)
    await ensureChunkInterval(tx, HYPERTABLE, config.rawChunkIntervalMs)
    await ensureChunkInterval(tx, HOURLY_AGGREGATE, config.hourlyChunkIntervalMs)
    await ensureChunkInterval(tx, DAILY_AGGREGATE, config.dailyChunkIntervalMs)
    note(await ensureCompression(tx, HYPERTABLE, config.rawCompressAfterMs), `${HYPERTABLE} compression`)
    note(await ensureRetention(tx, HYPERTABLE, config.rawRetentionMs), `${HYPERTABLE} retention`)
    note(
      await ensureRetention(tx, HOURLY_AGGREGATE, config.hourlyRetentionMs),
      `${HOURLY_AGGREGATE} retention`,
    )
    note(await ensureRetention(tx, DAILY_AGGREGATE, config.dailyRetentionMs), `${DAILY_AGGREGATE} retention`)
    note(
      await ensureRefreshPolicy(tx, HOURLY_AGGREGATE, config.hourlyRefreshWindowMs, HOUR_MS, HOUR_MS),
      `${HOURLY_AGGREGATE} refresh policy`,
    )
    note(
      await ensureRefreshPolicy(tx, DAILY_AGGREGATE, config.dailyRefreshWindowMs, DAY_MS, DAY_MS),
      `${DAILY_AGGREGATE} refresh policy`,
    )
    return changed
  })
}
