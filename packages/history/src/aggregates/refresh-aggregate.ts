import { type AggregateName, type Database, type Kysely, notifyHistoryRefreshed, sql } from '@tracker/db'
import type { TimeWindow } from '../windows.ts'

export type AggregateRefreshOutcome = 'refreshed' | 'skipped_concurrent'

/**
 * Another session refreshing an overlapping window: TimescaleDB 2.26.3+ fails fast with SQLSTATE
 * 55P03 (lock_not_available); 2.21-2.26.2 may raise "materialization range ... overlaps". Either way
 * someone else is doing the work, so this is a skip, not a failure.
 */
export function isConcurrentRefreshError(error: unknown): boolean {
  const e = error as { code?: string; message?: string }
  return e?.code === '55P03' || /overlap/i.test(e?.message ?? '')
}

/**
 * `CALL refresh_continuous_aggregate` for one window. Must run outside any transaction block: pass a
 * session from `TrackerDatabase.withSession`, never a transaction.
 */
export async function refreshContinuousAggregate(
  session: Kysely<Database>,
  aggregate: AggregateName,
  window: TimeWindow,
): Promise<AggregateRefreshOutcome> {
  try {
    // The window arguments are typed "any" in TimescaleDB: cast them.
    await sql`CALL refresh_continuous_aggregate(${aggregate}, ${window.from.toISOString()}::timestamptz, ${window.to.toISOString()}::timestamptz)`.execute(
      session,
    )
  } catch (error) {
    if (isConcurrentRefreshError(error)) return 'skipped_concurrent'
    throw error
  }
  await notifyHistoryRefreshed(session, { object: aggregate, from: window.from, to: window.to })
  return 'refreshed'
}

/**
 * The end of an aggregate's materialized range: buckets below it are served from materialized rows
 * (late reports there stay invisible until refreshed), above it from raw rows in real time.
 */
export async function aggregateWatermark(
  db: Kysely<Database>,
  aggregate: AggregateName,
): Promise<Date | null> {
  const { rows } = await sql<{ watermark: Date | null }>`
    SELECT _timescaledb_functions.to_timestamp(_timescaledb_functions.cagg_watermark(ca.mat_hypertable_id)) AS watermark
      FROM _timescaledb_catalog.continuous_agg ca
     WHERE ca.user_view_name = ${aggregate}`.execute(db)
  const watermark = rows[0]?.watermark ?? null
  // Nothing materialized yet: TimescaleDB answers the minimum timestamp, which reads as an invalid date.
  return watermark && !Number.isNaN(watermark.getTime()) ? watermark : null
}

/**
 * The start of the oldest chunk an aggregate still keeps: its retention policy has dropped every
 * bucket before it. Null when it keeps none.
 */
export async function oldestKeptBucket(db: Kysely<Database>, aggregate: AggregateName): Promise<Date | null> {
  const { rows } = await sql<{ oldest: Date | null }>`
    SELECT min(c.range_start) AS oldest
      FROM timescaledb_information.continuous_aggregates ca
      JOIN timescaledb_information.chunks c
        ON c.hypertable_schema = ca.materialization_hypertable_schema
       AND c.hypertable_name = ca.materialization_hypertable_name
     WHERE ca.view_name = ${aggregate}`.execute(db)
  return rows[0]?.oldest ?? null
}
