import { type AggregateName, DAILY_AGGREGATE, DAY_MS, HOUR_MS, HOURLY_AGGREGATE } from '@tracker/db'

/**
 * The history's two resolutions, written once. Every reader and writer of tiers (the upkeep of
 * location_history, the read query, the API cache's expiry) takes them from here; the database's
 * location_history_view holds the same rule in SQL (`location_history_tier_start`), and a test keeps
 * the two equal.
 */
export type BucketSize = '1 hour' | '1 day'

export interface Tier {
  bucketSize: BucketSize
  bucketMs: number
  /** The continuous aggregate this tier reads. */
  aggregate: AggregateName
  /** 1 for hourly, 0 for daily: orders a daily point before the hours of its day in a mixed answer. */
  rank: 0 | 1
}

export const HOURLY_TIER: Tier = {
  bucketSize: '1 hour',
  bucketMs: HOUR_MS,
  aggregate: HOURLY_AGGREGATE,
  rank: 1,
}
export const DAILY_TIER: Tier = { bucketSize: '1 day', bucketMs: DAY_MS, aggregate: DAILY_AGGREGATE, rank: 0 }

/**
 * The order in which the aggregates are refreshed: hourly, then daily. Both read raw reports (the
 * hourly tier's retention would erase a daily-on-hourly aggregate), so the order is not a
 * dependency; hourly first makes the most recent change visible first.
 */
export const REFRESH_ORDER: readonly Tier[] = [HOURLY_TIER, DAILY_TIER]

export const tierOfAggregate = (aggregate: AggregateName): Tier =>
  aggregate === HOURLY_AGGREGATE ? HOURLY_TIER : DAILY_TIER

/** Every hour of the last 24 is served hourly... */
const HOURLY_AT_LEAST_MS = 24 * HOUR_MS

/**
 * The tier boundary: the hourly tier starts at 00:00 UTC of the day that contains now - 24 hours;
 * days before it are one daily point each. So every hour of the last 24 hours is hourly, each day is
 * wholly hourly or one daily point (no report counted twice), and points are in time order. The
 * boundary moves once a day, at midnight UTC.
 */
export function hourlyTierStart(now: Date): Date {
  return new Date(Math.floor((now.getTime() - HOURLY_AT_LEAST_MS) / DAY_MS) * DAY_MS)
}

/** ...and the hourly tier reaches back at most this far (just before midnight: 48 hours). */
export const HOURLY_TIER_REACH_MS = HOURLY_AT_LEAST_MS + DAY_MS

/** When `hourlyTierStart` next changes: the next midnight UTC. */
export function nextTierChange(now: Date): Date {
  return new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS + DAY_MS)
}

/** The tier a bucket starting at `bucketStart` belongs to at `now`. */
export function tierAt(bucketStart: Date, now: Date): Tier {
  return bucketStart >= hourlyTierStart(now) ? HOURLY_TIER : DAILY_TIER
}
