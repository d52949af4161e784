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
 * A tracker's history in one statement, each report counted in exactly one point and points in time
 * order. "1 hour": daily points for the days before the hourly tier, hourly points from its start;
 * "1 day": daily points over the whole range. A point is in the range when its bucket starts in it
 * (a range starting mid-day includes that day's point).
 */
export async function selectHistory(db: Kysely<Database>, q: HistoryQuery): Promise<HistoryRow[]> {
  const id = sql`${q.trackerId}::uuid`
  const dayFloor = sql`time_bucket(INTERVAL '1 day', ${ts(q.from)})`
  const hourFloor = sql`time_bucket(INTERVAL '1 hour', ${ts(q.from)})`
  const end = sql`${ts(q.to)} + INTERVAL '1 microsecond'`
  const tierStart = ts(q.tierStart)
  const parts =
    q.bucketSize === DAILY_TIER.bucketSize
      ? tierPoints(DAILY_TIER, id, dayFloor, end)
      : sql`${tierPoints(DAILY_TIER, id, dayFloor, sql`least(${end}, ${tierStart})`)}
        UNION ALL
        ${tierPoints(HOURLY_TIER, id, sql`greatest(${hourFloor}, ${tierStart})`, end)}`
  const after = q.after
    ? sql`WHERE ("timestamp", rank) > (${ts(q.after.timestamp)}, ${q.after.rank}::int)`
    : sql``
  const { rows } = await sql<HistoryRow>`
    SELECT * FROM (${parts}) AS points
    ${after}
    ORDER BY "timestamp", rank
    LIMIT ${q.limit}`.execute(db)
  return rows
}
