import type { BucketSize, Database, LocationHistoryViewRow } from '@tracker/db'
import { type Kysely, sql } from 'kysely'

export type HistorySourceName = 'location_history' | 'aggregate'

/** A location_history row of the tracker, without tracker_id, plus where it came from and its order rank. */
export interface HistoryRow extends Omit<LocationHistoryViewRow, 'tracker_id'> {
  /** 0 for daily, 1 for hourly: orders a day before the hours that start with it. */
  rank: number
  source: HistorySourceName
}

export interface HistoryQuery {
  trackerId: string
  from: Date
  to: Date
  bucketSize: BucketSize
  /** Rows to fetch: the caller asks for one more than it returns, to know whether it cut. */
  limit: number
  /** Keyset: points strictly after this (timestamp, rank). */
  after?: { timestamp: Date; rank: number }
}

const COLUMNS = sql`latitude, longitude, nearest_city, horizontal_accuracy, best_accuracy, report_count,
  first_report_at, last_report_at`

/**
 * A tracker's history in one statement. Points come from location_history (the materialized view
 * the refresher keeps) where it holds them, and from the continuous aggregates (real-time
 * aggregation on) for the buckets after the newest one location_history has for the tracker at
 * that resolution: today's daily point, the newest hour, or more when the refresher lags.
 *
 * "1 day": daily buckets over the whole range. "1 hour": the seed's tiers, as
 * location_history_view draws them: hourly buckets from now - 24 h (rounded down to the hour),
 * daily buckets that start before that.
 */
export async function selectHistory(db: Kysely<Database>, q: HistoryQuery): Promise<HistoryRow[]> {
  const id = sql`${q.trackerId}::uuid`
  const from = sql`${q.from.toISOString()}::timestamptz`
  const to = sql`${q.to.toISOString()}::timestamptz`
  const hourly = q.bucketSize === '1 hour'
  const hourlyStart = sql`time_bucket(INTERVAL '1 hour', now() - INTERVAL '24 hours')`
  // In "1 hour" mode daily buckets cover only the part of the range before the hourly tier (the
  // day that straddles its start included, as in location_history_view); none if the range starts inside it.
  const beforeHourlyTier = (column: string) =>
    hourly ? sql`AND ${sql.ref(column)} < ${hourlyStart} AND ${from} < ${hourlyStart}` : sql``

  const daily = sql`
    SELECT '1 day'::text AS bucket_size, 0 AS rank, "timestamp", ${COLUMNS}, 'location_history'::text AS source
      FROM location_history
     WHERE tracker_id = ${id} AND bucket_size = '1 day'
       AND "timestamp" >= time_bucket(INTERVAL '1 day', ${from}) AND "timestamp" <= ${to}
       ${beforeHourlyTier('timestamp')}
    UNION ALL
    SELECT '1 day'::text, 0, bucket, ${COLUMNS}, 'aggregate'::text
      FROM location_history_daily
     WHERE tracker_id = ${id}
       AND bucket >= time_bucket(INTERVAL '1 day', ${from}) AND bucket <= ${to}
       AND bucket > coalesce((SELECT max("timestamp") FROM location_history
                               WHERE tracker_id = ${id} AND bucket_size = '1 day'), '-infinity'::timestamptz)
       ${beforeHourlyTier('bucket')}`

  const hourlyParts = hourly
    ? sql`
    UNION ALL
    SELECT '1 hour'::text, 1, "timestamp", ${COLUMNS}, 'location_history'::text
      FROM location_history
     WHERE tracker_id = ${id} AND bucket_size = '1 hour'
       AND "timestamp" >= greatest(time_bucket(INTERVAL '1 hour', ${from}), ${hourlyStart}) AND "timestamp" <= ${to}
    UNION ALL
    SELECT '1 hour'::text, 1, bucket, ${COLUMNS}, 'aggregate'::text
      FROM location_history_hourly
     WHERE tracker_id = ${id}
       AND bucket >= greatest(time_bucket(INTERVAL '1 hour', ${from}), ${hourlyStart}) AND bucket <= ${to}
       AND bucket > coalesce((SELECT max("timestamp") FROM location_history
                               WHERE tracker_id = ${id} AND bucket_size = '1 hour'), '-infinity'::timestamptz)`
    : sql``

  const after = q.after
    ? sql`WHERE ("timestamp", rank) > (${q.after.timestamp.toISOString()}::timestamptz, ${q.after.rank}::int)`
    : sql``

  const { rows } = await sql<HistoryRow>`
    SELECT * FROM (${daily} ${hourlyParts}) AS points
    ${after}
    ORDER BY "timestamp", rank
    LIMIT ${q.limit}`.execute(db)
  return rows
}
