import { DAY_MS, oldestSafeRefreshStart, type RetentionConfig } from '@tracker/db'
import { HOURLY_TIER, HOURLY_TIER_REACH_MS, type Tier } from './tiers.ts'

/** A half-open time range [from, to). */
export interface TimeWindow {
  from: Date
  to: Date
}

const floorTo = (ms: number, step: number) => Math.floor(ms / step) * step
const ceilTo = (ms: number, step: number) => Math.ceil(ms / step) * step

/** The window widened to whole buckets of `stepMs` (a refresh or an upkeep only handles whole buckets). */
export function alignWindow(window: TimeWindow, stepMs: number): TimeWindow {
  const from = floorTo(window.from.getTime(), stepMs)
  return { from: new Date(from), to: new Date(Math.max(ceilTo(window.to.getTime(), stepMs), from + stepMs)) }
}

/** Whole UTC days: the unit of location_history's upkeep (a day is either one daily point or its hours). */
export const alignToDays = (window: TimeWindow): TimeWindow => alignWindow(window, DAY_MS)

/** The smallest window covering both (a burst is handled once, over everything it touched). */
export function mergeWindows(a: TimeWindow | null, b: TimeWindow | null): TimeWindow | null {
  if (!a) return b
  if (!b) return a
  return {
    from: new Date(Math.min(a.from.getTime(), b.from.getTime())),
    to: new Date(Math.max(a.to.getTime(), b.to.getTime())),
  }
}

/**
 * The window to hand `refresh_continuous_aggregate` for a change in `window`: widened to whole
 * buckets (a refresh only recomputes buckets that lie entirely inside its window) and clipped so it
 * never starts where raw retention may have dropped data (a refresh there rebuilds buckets from what
 * is left, i.e. erases history: ../shared/timescaledb.md). The hourly tier is also clipped to how far
 * back hourly points are served. Null when nothing of the window is safe to refresh.
 */
export function clipRefreshWindow(
  retention: RetentionConfig,
  tier: Tier,
  window: TimeWindow,
  now: Date,
): TimeWindow | null {
  const bucket = tier.bucketMs
  let oldest = oldestSafeRefreshStart(retention, bucket, now).getTime()
  if (tier === HOURLY_TIER) oldest = Math.max(oldest, now.getTime() - HOURLY_TIER_REACH_MS)
  const from = Math.max(floorTo(window.from.getTime(), bucket), ceilTo(oldest, bucket))
  const to = ceilTo(Math.max(window.to.getTime(), window.from.getTime() + 1), bucket)
  return from < to ? { from: new Date(from), to: new Date(to) } : null
}

/**
 * A window that materializes complete buckets only: it ends where the current bucket starts. The
 * bucket still filling is served by real-time aggregation; materializing it would move the watermark
 * past now, and every report arriving in it afterwards would be an invalidation that the next refresh
 * recomputes for every tracker.
 */
export function completeBucketsOnly(window: TimeWindow | null, tier: Tier, now: Date): TimeWindow | null {
  if (!window) return null
  const end = floorTo(now.getTime(), tier.bucketMs)
  return window.to.getTime() <= end
    ? window
    : window.from.getTime() < end
      ? { from: window.from, to: new Date(end) }
      : null
}

/**
 * The periodic refresh window of a tier's aggregate: back from now as far as a refresh is safe (late
 * reports are only ever brought into the aggregates here, and they may land anywhere retention still
 * keeps; TimescaleDB recomputes only the buckets its invalidation log names, so the reach costs
 * little), at least the configured reach, up to the start of the current bucket (as the seed's
 * policies' end offsets keep it).
 */
export function periodicRefreshWindow(retention: RetentionConfig, tier: Tier, now: Date): TimeWindow | null {
  const configured = tier === HOURLY_TIER ? retention.hourlyRefreshWindowMs : retention.dailyRefreshWindowMs
  const reach = Math.max(configured, retention.rawRetentionMs)
  return completeBucketsOnly(
    clipRefreshWindow(retention, tier, { from: new Date(now.getTime() - reach), to: now }, now),
    tier,
    now,
  )
}
