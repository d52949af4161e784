import { REFRESH_REQUEST_CHANNEL, type TimeWindow } from '@tracker/db'

/** The channel every writer notifies (insert trigger, importer, update_nearest_city, operators). */
export const REFRESH_CHANNEL = REFRESH_REQUEST_CHANNEL

export type RefreshReason = 'notification' | 'startup' | 'reconnect' | 'periodic' | 'manual' | 'retry'

/**
 * What one notification (or another caller) asks for: location_history in any case, and, with a
 * window, the aggregates too where the window lies below their materialized watermark.
 */
export interface RefreshRequest {
  window: TimeWindow | null
  reason: RefreshReason
  /** The caller's run (a periodic cycle) for the logs; a batch of notifications gets its own. */
  runId?: string
}

/**
 * A notification's payload: `{"from": iso, "to": iso, ...}` from the insert trigger, the importer
 * and update_nearest_city, or any other text (the seed's `pg_notify(..., 'test')`), which only asks
 * for location_history. A malformed window is treated the same way rather than dropped.
 */
export function parseRefreshPayload(payload: string): TimeWindow | null {
  if (!payload.startsWith('{')) return null
  let parsed: unknown
  try {
    parsed = JSON.parse(payload)
  } catch {
    return null
  }
  const { from, to } = (parsed ?? {}) as { from?: unknown; to?: unknown }
  if (typeof from !== 'string' || typeof to !== 'string') return null
  const window = { from: new Date(from), to: new Date(to) }
  if (Number.isNaN(window.from.getTime()) || Number.isNaN(window.to.getTime())) return null
  return window.from <= window.to ? window : { from: window.to, to: window.from }
}

/** The smallest window covering both (a burst is refreshed once, over everything it touched). */
export function mergeWindows(a: TimeWindow | null, b: TimeWindow | null): TimeWindow | null {
  if (!a) return b
  if (!b) return a
  return {
    from: new Date(Math.min(a.from.getTime(), b.from.getTime())),
    to: new Date(Math.max(a.to.getTime(), b.to.getTime())),
  }
}

/**
 * The part of `window` that lies below an aggregate's watermark, where late reports stay invisible
 * until refreshed; above it real-time aggregation already shows them. Null when nothing is below
 * (or nothing was ever materialized: then every query is real-time).
 */
export function windowBelowWatermark(window: TimeWindow, watermark: Date | null): TimeWindow | null {
  if (!watermark || Number.isNaN(watermark.getTime())) return null
  if (window.from >= watermark) return null
  return { from: window.from, to: window.to < watermark ? window.to : watermark }
}
