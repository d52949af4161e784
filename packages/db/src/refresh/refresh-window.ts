import {
  DAILY_BUCKET_MS,
  HOURLY_BUCKET_MS,
  oldestSafeRefreshStart,
  type RetentionConfig,
} from '../config/retention.ts'
import { type AggregateName, DAILY_AGGREGATE, HOURLY_AGGREGATE } from '../storage-policies.ts'

export interface TimeWindow {
  from: Date
  to: Date
}

export const BUCKET_MS: Record<AggregateName, number> = {
  [HOURLY_AGGREGATE]: HOURLY_BUCKET_MS,
  [DAILY_AGGREGATE]: DAILY_BUCKET_MS,
}

const floorTo = (ms: number, step: number) => Math.floor(ms / step) * step
const ceilTo = (ms: number, step: number) => Math.ceil(ms / step) * step

/**
 * The window to hand `refresh_continuous_aggregate` for a change in `window`: widened to whole
 * buckets (a refresh only recomputes buckets that lie entirely inside its window) and clipped so it
 * never starts where raw retention may have dropped data (which would erase history). The hourly
 * tier is also clipped to its own refresh window: older hourly buckets are not served. Null when
 * nothing of the window is safe to refresh.
 */
export function clipRefreshWindow(
  config: RetentionConfig,
  aggregate: AggregateName,
  window: TimeWindow,
  now: Date,
): TimeWindow | null {
  const bucket = BUCKET_MS[aggregate]
  let oldest = oldestSafeRefreshStart(config, bucket, now).getTime()
  if (aggregate === HOURLY_AGGREGATE) oldest = Math.max(oldest, now.getTime() - config.hourlyRefreshWindowMs)
  const from = Math.max(floorTo(window.from.getTime(), bucket), ceilTo(oldest, bucket))
  const to = ceilTo(Math.max(window.to.getTime(), window.from.getTime() + 1), bucket)
  return from < to ? { from: new Date(from), to: new Date(to) } : null
}

/** The periodic refresh window of an aggregate: its configured reach back from now, to now. */
export function periodicRefreshWindow(
  config: RetentionConfig,
  aggregate: AggregateName,
  now: Date,
): TimeWindow {
  const reach = aggregate === HOURLY_AGGREGATE ? config.hourlyRefreshWindowMs : config.dailyRefreshWindowMs
  return clipRefreshWindow(config, aggregate, { from: new Date(now.getTime() - reach), to: now }, now)!
}
