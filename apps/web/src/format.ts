import type { Battery, TrackerStatus } from './api/queries.ts'

/** What each status means, as the API defines it (shown on hover and to screen readers). */
export const STATUS_MEANING: Record<TrackerStatus, string> = {
  ACTIVE: 'Seen within the last 24 hours',
  STALE: 'Seen before, but not within the last 24 hours',
  LOST: 'Not seen for 7 days or more, or never seen',
  INACTIVE: 'Deactivated: no longer imported; its history stays',
}

export const STATUS_LABEL: Record<TrackerStatus, string> = {
  ACTIVE: 'Active',
  STALE: 'Stale',
  LOST: 'Lost',
  INACTIVE: 'Inactive',
}

export const BATTERY_LABEL: Record<Battery, string> = {
  OK: 'Battery OK',
  MEDIUM: 'Battery medium',
  LOW: 'Battery low',
  CRITICAL: 'Battery critical',
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 86_400_000],
  ['month', 30 * 86_400_000],
  ['week', 7 * 86_400_000],
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
]
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' })

/** "3 hours ago", "yesterday", "just now". */
export function relativeTime(iso: string, now = Date.now()): string {
  const delta = new Date(iso).getTime() - now
  for (const [unit, ms] of UNITS) {
    if (Math.abs(delta) >= ms) return relative.format(Math.round(delta / ms), unit)
  }
  return 'just now'
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' })

/** A time in the browser's zone: the date alone for a daily point, whose time of day says nothing. */
export function formatTime(iso: string, resolution: 'HOUR' | 'DAY' | 'EXACT' = 'EXACT'): string {
  const date = new Date(iso)
  if (resolution === 'DAY') return `${dateOnly.format(date)} (UTC day)`
  return dateTime.format(date)
}

export function formatMeters(meters: number | null): string {
  if (meters === null) return 'unknown'
  return meters >= 1000 ? `${(meters / 1000).toFixed(1)} km` : `${Math.round(meters)} m`
}

/** Distinct colours for tracks, readable on light and dark outlines alike. */
const PALETTE = [
  '#e6194b',
  '#3cb44b',
  '#4363d8',
  '#f58231',
  '#911eb4',
  '#42d4f4',
  '#f032e6',
  '#9a6324',
  '#469990',
  '#808000',
]
export const trackColour = (index: number) => PALETTE[index % PALETTE.length]!
