import { sql } from '@tracker/db'
import { DAILY_TIER, HOURLY_TIER } from '../tiers.ts'
import type { TimeWindow } from '../windows.ts'

/** location_history's value columns (everything but its key: tracker_id, bucket_size, timestamp). */
export const VALUE_COLUMNS = [
  'latitude',
  'longitude',
  'nearest_city',
  'horizontal_accuracy',
  'best_accuracy',
  'report_count',
  'first_report_at',
  'last_report_at',
] as const

export const valueList = sql.raw(VALUE_COLUMNS.join(', '))

/** Which trackers a statement covers: some (by id) or every one. */
export type TrackerFilter = readonly string[] | null

export function trackerCondition(column: string, trackers: TrackerFilter) {
  return trackers ? sql`AND ${sql.ref(column)} = ANY(${[...trackers]}::uuid[])` : sql``
}

const ts = (d: Date) => sql`${d.toISOString()}::timestamptz`

/**
 * What location_history should hold for `trackers` in `window` (whole days) with the hourly tier
 * starting at `tierStart`, read from the continuous aggregates (real-time aggregation on, so buckets
 * above their watermark come from raw reports): hourly points from the tier start on, daily points
 * before it. The tracker filter and the bucket bounds are plain restrictions, so the planner pushes
 * them into both halves of each aggregate (materialized and real-time) and into its index.
 */
export function expectedRows(window: TimeWindow, trackers: TrackerFilter, tierStart: Date) {
  const lo = ts(window.from)
  const hi = ts(window.to)
  const b = ts(tierStart)
  return sql`
    SELECT tracker_id, bucket AS "timestamp", ${HOURLY_TIER.bucketSize}::text AS bucket_size, ${valueList}
      FROM ${sql.table(HOURLY_TIER.aggregate)}
     WHERE bucket >= greatest(${lo}, ${b}) AND bucket < ${hi} ${trackerCondition('tracker_id', trackers)}
    UNION ALL
    SELECT tracker_id, bucket, ${DAILY_TIER.bucketSize}::text, ${valueList}
      FROM ${sql.table(DAILY_TIER.aggregate)}
     WHERE bucket >= ${lo} AND bucket < least(${hi}, ${b}) ${trackerCondition('tracker_id', trackers)}`
}

/** The same window of location_history as it is. */
export function storedRows(window: TimeWindow, trackers: TrackerFilter) {
  return sql`
    SELECT tracker_id, "timestamp", bucket_size, ${valueList}
      FROM location_history
     WHERE "timestamp" >= ${ts(window.from)} AND "timestamp" < ${ts(window.to)} ${trackerCondition('tracker_id', trackers)}`
}
