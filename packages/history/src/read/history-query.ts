import { type Database, type Kysely, type LocationHistoryViewRow, sql } from '@tracker/db'
import { DAILY_TIER, HOURLY_TIER } from '../tiers.ts'
import { valueList } from '../upkeep/history-rows.ts'

export type HistorySourceName = 'location_history' | 'aggregate'

/** A point of a tracker's history, without tracker_id, plus where it came from and its order rank. */
export interface HistoryRow extends Omit<LocationHistoryViewRow, 'tracker_id'> {
  /** 0 for daily, 1 for hourly (the tiers' rank). */
  rank: number
  source: HistorySourceName
}

export interface HistoryQuery {
  trackerId: string
  from: Date
  to: Date
  /** "1 day": daily points over the whole range; "1 hour": the tiers (hourly from `tierStart`, daily before). */
  bucketSize: '1 hour' | '1 day'
  /** The hourly tier's start (`hourlyTierStart(now)`). */
  tierStart: Date
  /** Rows to fetch: the caller asks for one more than it returns, to know whether it cut. */
  limit: number
  /** Keyset: points strictly after this (timestamp, rank). */
  after?: { timestamp: Date; rank: number }
}

const ts = (d: Date) => sql`${d.toISOString()}::timestamptz`

/**
 * One resolution of a tracker's history over [lo, hi): location_history's rows, then the
 * aggregate's buckets after the newest one location_history has for the tracker at that resolution
 * (the newest hour or day, or more while the refresher catches up). The two never overlap.
 */
function tierPoints(
  tier: typeof HOURLY_TIER,
  id: ReturnType<typeof sql>,
  lo: ReturnType<typeof sql>,
  hi: ReturnType<typeof sql>,
) {
  const size = sql`${tier.bucketSize}::text`
  return sql`
    SELECT ${size} AS bucket_size, ${tier.rank}::int AS rank, "timestamp", ${valueList}, 'location_history'::text AS source
      FROM location_history
     WHERE tracker_id = ${id} AND bucket_size = ${size} AND "timestamp" >= ${lo} AND "timestamp" < ${hi}
    UNION ALL
    SELECT ${size}, ${tier.rank}::int, bucket, ${valueList}, 'aggregate'::text
      FROM ${sql.table(tier.aggregate)}
     WHERE tracker_id = ${id} AND bucket >= ${lo} AND bucket < ${hi}
       AND bucket > coalesce((SELECT max("timestamp") FROM location_history
                               WHERE tracker_id = ${id} AND bucket_size = ${size}), '-infinity'::timestamptz)`
}

/**
 * Daily points of the days location_history keeps hourly (the hourly tier), rolled up from hours: a
 * day's latest report is its latest hour's, so the rollup is exactly the daily bucket, and it sees
 * what the hourly upkeep saw (late reports included) where the daily aggregate would lag them until
 * its periodic refresh. The hours are location_history's, completed by the hourly aggregate's after
 * its newest hour within that hour's day (the refresher may not have caught up with the last report);
 * such a day says it came from the aggregate (min(): 'aggregate' sorts before 'location_history').
 */
function hoursRolledUpToDays(
  id: ReturnType<typeof sql>,
  lo: ReturnType<typeof sql>,
  hi: ReturnType<typeof sql>,
) {
  const day = sql`time_bucket(INTERVAL '1 day', "timestamp")`
  const latest = (column: string) => sql`last(${sql.ref(column)}, "timestamp")`
  const hourly = sql`${HOURLY_TIER.bucketSize}::text`
  return sql`
    SELECT ${DAILY_TIER.bucketSize}::text, ${DAILY_TIER.rank}::int, ${day},
           ${latest('latitude')}, ${latest('longitude')}, ${latest('nearest_city')}, ${latest('horizontal_accuracy')},
           min(best_accuracy), sum(report_count)::bigint, min(first_report_at), max(last_report_at),
           min(source)
      FROM (SELECT "timestamp", ${valueList}, 'location_history'::text AS source FROM location_history
             WHERE tracker_id = ${id} AND bucket_size = ${hourly}
               AND "timestamp" >= ${lo} AND "timestamp" < ${hi} + INTERVAL '1 day'
            UNION ALL
            SELECT bucket, ${valueList}, 'aggregate'::text FROM ${sql.table(HOURLY_TIER.aggregate)}, newest
             WHERE tracker_id = ${id} AND bucket > newest.hour
               AND bucket < time_bucket(INTERVAL '1 day', newest.hour) + INTERVAL '1 day') AS hours
     GROUP BY ${day}
    HAVING ${day} >= ${lo} AND ${day} < ${hi}`
}

/**
 * Daily points over [lo, hi) whatever the tier: location_history's daily rows, its hourly days rolled
 * up, then the daily aggregate's buckets after the newest day location_history has for the tracker
 * (while the refresher catches up). None of the three overlap.
 */
function dailyPoints(id: ReturnType<typeof sql>, lo: ReturnType<typeof sql>, hi: ReturnType<typeof sql>) {
  const size = sql`${DAILY_TIER.bucketSize}::text`
  return sql`
    WITH newest AS (
      SELECT max("timestamp") FILTER (WHERE bucket_size = ${HOURLY_TIER.bucketSize}::text) AS hour,
             time_bucket(INTERVAL '1 day', max("timestamp")) AS day
        FROM location_history WHERE tracker_id = ${id})
    SELECT ${size} AS bucket_size, ${DAILY_TIER.rank}::int AS rank, "timestamp", ${valueList}, 'location_history'::text AS source
      FROM location_history
     WHERE tracker_id = ${id} AND bucket_size = ${size} AND "timestamp" >= ${lo} AND "timestamp" < ${hi}
    UNION ALL
    ${hoursRolledUpToDays(id, lo, hi)}
    UNION ALL
    SELECT ${size}, ${DAILY_TIER.rank}::int, bucket, ${valueList}, 'aggregate'::text
      FROM ${sql.table(DAILY_TIER.aggregate)}, newest
     WHERE tracker_id = ${id} AND bucket >= ${lo} AND bucket < ${hi}
       AND bucket > coalesce(newest.day, '-infinity'::timestamptz)`
}

/**
 * A tracker's history in one statement, each report counted in exactly one point and points in time
 * order. "1 hour": daily points for the days before the hourly tier, hourly points from its start;
 * "1 day": daily points over the whole range. A point is in the range when its bucket starts in it
 * (a range starting mid-day includes that day's point).
 */
export async function selectHistory(db: Kysely<Database>, q: HistoryQuery): Promise<HistoryRow[]> {
  const { rows } = await historyQuery(q).execute(db)
  return rows
}

/**
 * The statement `selectHistory` runs, not run: what an export declares a cursor for (without a
 * limit it is every point of the range), so both read the one definition of a tracker's history.
 */
export function historyQuery(q: Omit<HistoryQuery, 'limit'> & { limit?: number }) {
  const id = sql`${q.trackerId}::uuid`
  const dayFloor = sql`time_bucket(INTERVAL '1 day', ${ts(q.from)})`
  const hourFloor = sql`time_bucket(INTERVAL '1 hour', ${ts(q.from)})`
  const end = sql`${ts(q.to)} + INTERVAL '1 microsecond'`
  const tierStart = ts(q.tierStart)
  const parts =
    q.bucketSize === DAILY_TIER.bucketSize
      ? dailyPoints(id, dayFloor, end)
      : sql`${tierPoints(DAILY_TIER, id, dayFloor, sql`least(${end}, ${tierStart})`)}
        UNION ALL
        ${tierPoints(HOURLY_TIER, id, sql`greatest(${hourFloor}, ${tierStart})`, end)}`
  const after = q.after
    ? sql`WHERE ("timestamp", rank) > (${ts(q.after.timestamp)}, ${q.after.rank}::int)`
    : sql``
  const limit = q.limit === undefined ? sql`` : sql`LIMIT ${q.limit}`
  return sql<HistoryRow>`
    SELECT * FROM (${parts}) AS points
    ${after}
    ORDER BY "timestamp", rank
    ${limit}`
}
