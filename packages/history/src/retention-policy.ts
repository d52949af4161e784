import {
  DAILY_AGGREGATE,
  type Database,
  formatDuration,
  HOURLY_AGGREGATE,
  HYPERTABLE,
  type Kysely,
  type Logger,
  RETENTION_ENV,
  type RetentionConfig,
  sql,
  type TrackerDatabase,
} from '@tracker/db'
import { type AggregateSupport, detectAggregateSupport } from './aggregates/aggregate-support.ts'

/** The storage settings the database actually has (null where it has no such policy). */
export interface DatabaseRetention {
  rawRetentionMs: number | null
  rawChunkIntervalMs: number | null
  hourlyRetentionMs: number | null
  dailyRetentionMs: number | null
}

/** Reads the retention policies and the raw chunk interval from TimescaleDB's catalog. */
export async function readDatabaseRetention(db: Kysely<Database>): Promise<DatabaseRetention> {
  const { rows } = await sql<{ object: string; ms: string | number | null }>`
    SELECT coalesce(ca.view_name, j.hypertable_name) AS object,
           (extract(epoch FROM (j.config ->> 'drop_after')::interval) * 1000)::bigint AS ms
      FROM timescaledb_information.jobs j
      LEFT JOIN timescaledb_information.continuous_aggregates ca
        ON ca.materialization_hypertable_schema = j.hypertable_schema
       AND ca.materialization_hypertable_name = j.hypertable_name
     WHERE j.proc_name = 'policy_retention'
       AND coalesce(ca.view_name, j.hypertable_name) IN (${HYPERTABLE}, ${HOURLY_AGGREGATE}, ${DAILY_AGGREGATE})`.execute(
    db,
  )
  const { rows: dims } = await sql<{ ms: string | number }>`
    SELECT (extract(epoch FROM time_interval) * 1000)::bigint AS ms
      FROM timescaledb_information.dimensions WHERE hypertable_name = ${HYPERTABLE}`.execute(db)
  const of = (object: string) => {
    const ms = rows.find((r) => r.object === object)?.ms
    return ms === undefined || ms === null ? null : Number(ms)
  }
  return {
    rawRetentionMs: of(HYPERTABLE),
    rawChunkIntervalMs: dims[0] ? Number(dims[0].ms) : null,
    hourlyRetentionMs: of(HOURLY_AGGREGATE),
    dailyRetentionMs: of(DAILY_AGGREGATE),
  }
}

export interface ResolvedRetention {
  /** What every refresh window and late horizon is computed from: the stricter of both. */
  effective: RetentionConfig
  /** One sentence per setting where the database and the configuration disagree. */
  mismatches: string[]
}

/**
 * The configuration, made at least as strict as what the database really does. Raw retention decides
 * how far back a refresh may safely reach and how late a report may be stored: a database that drops
 * raw chunks sooner than configured (RAW_RETENTION raised, `db:migrate` not rerun) would otherwise let
 * a refresh rebuild days from dropped data and erase their history. So the shorter raw retention and
 * the longer raw chunk interval win; the aggregates' retentions are reported when they differ.
 */
export function resolveRetention(configured: RetentionConfig, actual: DatabaseRetention): ResolvedRetention {
  const effective = { ...configured }
  const mismatches: string[] = []
  const compare = (key: keyof DatabaseRetention, stricter: (a: number, b: number) => number) => {
    const value = actual[key]
    if (value === null || value === configured[key]) return
    effective[key] = stricter(configured[key], value)
    mismatches.push(
      `${RETENTION_ENV[key]} is ${formatDuration(configured[key])} but the database has ${formatDuration(value)}` +
        ` (using ${formatDuration(effective[key])}); run \`npm run db:migrate\` with this configuration to apply it`,
    )
  }
  compare('rawRetentionMs', Math.min)
  compare('rawChunkIntervalMs', Math.max)
  compare('hourlyRetentionMs', Math.min)
  compare('dailyRetentionMs', Math.min)
  return { effective, mismatches }
}

/**
 * What every app that computes a refresh window or a late horizon calls at start: the configuration
 * made as strict as the database's actual policies (as configured where there is no TimescaleDB to
 * ask), each difference logged as a warning.
 */
export async function resolveDatabaseRetention(
  database: TrackerDatabase,
  configured: RetentionConfig,
  logger: Logger,
  /** When the caller has detected it already (the engine at open). */
  known?: AggregateSupport,
): Promise<ResolvedRetention> {
  const support = known ?? (await detectAggregateSupport(database))
  const resolved = support.enabled
    ? resolveRetention(configured, await readDatabaseRetention(database.db))
    : { effective: configured, mismatches: [] }
  for (const mismatch of resolved.mismatches) {
    logger.warn({ event: 'retention_mismatch' }, `storage settings differ from the database: ${mismatch}`)
  }
  return resolved
}
