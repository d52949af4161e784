import { sql } from '@tracker/db'
import { DAILY_TIER, HOURLY_TIER, type Tier } from '../tiers.ts'
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
const NEVER = new Date(8.64e15)
const later = (a: Date, b: Date) => (a > b ? a : b)
const earlier = (a: Date, b: Date) => (a < b ? a : b)

/**
 * Where location_history's rows come from. Where raw reports are all still kept (from `rawFrom`
 * on), a point is the tier's bucket computed from them for just the trackers asked for: what the
 * continuous aggregate holds once refreshed, at a cost that follows the trackers and days asked for
 * (TimescaleDB's refresh of a bucket recomputes it for every tracker). Before `rawFrom` retention may
 * have dropped raw reports, and the continuous aggregates are the only record. Null `rawFrom`: the
 * aggregates everywhere (a database without TimescaleDB, where plain views stand in for them).
 */
export interface RowSource {
  rawFrom: Date | null
}

/**
 * One tier's points computed from raw reports: the continuous aggregates' definition (migration
 * 20261121060200: a bucket's position is its latest report), restricted to trackers and buckets.
 * Migrations are frozen, so the definition is restated here; the upkeep's property test compares
 * both after each refresh.
 */
function pointsFromReports(tier: Tier, from: Date, to: Date, trackers: TrackerFilter) {
  const width = sql.lit(tier.bucketSize)
  return sql`
    SELECT tracker_id, time_bucket(INTERVAL ${width}, "timestamp") AS "timestamp", ${tier.bucketSize}::text AS bucket_size,
           last(latitude, "timestamp") AS latitude,
           last(longitude, "timestamp") AS longitude,
           last(nearest_city, "timestamp") AS nearest_city,
           last(horizontal_accuracy, "timestamp") AS horizontal_accuracy,
           min(horizontal_accuracy) AS best_accuracy,
           count(*) AS report_count,
           min("timestamp") AS first_report_at,
           max("timestamp") AS last_report_at
      FROM location_reports
     WHERE "timestamp" >= ${ts(from)} AND "timestamp" < ${ts(to)} ${trackerCondition('tracker_id', trackers)}
     GROUP BY tracker_id, time_bucket(INTERVAL ${width}, "timestamp")`
}

/** One tier's points as its continuous aggregate holds them (real-time aggregation on). */
function pointsFromAggregate(tier: Tier, from: Date | null, to: Date | null, trackers: TrackerFilter) {
  const bounds = from && to ? sql`bucket >= ${ts(from)} AND bucket < ${ts(to)}` : sql`false`
  return sql`
    SELECT tracker_id, bucket AS "timestamp", ${tier.bucketSize}::text AS bucket_size, ${valueList}
      FROM ${sql.table(tier.aggregate)}
     WHERE ${bounds} ${trackerCondition('tracker_id', trackers)}`
}

/**
 * What location_history should hold for `trackers` in `window` (whole days) with the hourly tier
 * starting at `tierStart`: hourly points from the tier start on, daily points before it; each from
 * raw reports where they are all kept, from the aggregate before (see RowSource). The tracker filter
 * and the bounds are plain restrictions, so they reach the indexes (and, in an aggregate, both its
 * materialized and its real-time half).
 */
export function expectedRows(
  window: TimeWindow,
  trackers: TrackerFilter,
  tierStart: Date,
  source: RowSource,
) {
  const rawFrom = source.rawFrom ?? NEVER
  const parts = []
  for (const [tier, from, to] of [
    [HOURLY_TIER, later(window.from, tierStart), window.to],
    [DAILY_TIER, window.from, earlier(window.to, tierStart)],
  ] as const) {
    if (from >= to) continue
    if (from < rawFrom) parts.push(pointsFromAggregate(tier, from, earlier(to, rawFrom), trackers))
    if (to > rawFrom) parts.push(pointsFromReports(tier, later(from, rawFrom), to, trackers))
  }
  // An empty window still needs a row shape (the statements join and insert from it).
  if (parts.length === 0) return pointsFromAggregate(DAILY_TIER, null, null, trackers)
  return sql.join(parts, sql` UNION ALL `)
}

/** What the continuous aggregates themselves say for the same window (no raw reports): for tests. */
export function aggregateRows(window: TimeWindow, trackers: TrackerFilter, tierStart: Date) {
  return expectedRows(window, trackers, tierStart, { rawFrom: null })
}

/** The same window of location_history as it is. */
export function storedRows(window: TimeWindow, trackers: TrackerFilter) {
  return sql`
    SELECT tracker_id, "timestamp", bucket_size, ${valueList}
      FROM location_history
     WHERE "timestamp" >= ${ts(window.from)} AND "timestamp" < ${ts(window.to)} ${trackerCondition('tracker_id', trackers)}`
}
