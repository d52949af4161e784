/**
 * The ranges a user picks, in the browser's time zone, and the history requests that cover them.
 * The API keeps hourly points for the last 24 hours and daily points before; one "1 hour" request
 * may span at most 31 days (API_HISTORY_MAX_RANGE_HOURLY), a "1 day" request up to 1096 days.
 */
import type { HistoryRequest } from '../api/queries.ts'

export type RangePreset = '24h' | '7d' | '30d' | '1y' | 'custom'

export interface TimeRange {
  from: Date
  to: Date
  label: string
}

const HOUR = 3_600_000
const DAY = 24 * HOUR
/** The part of a long range asked with "1 hour" (hourly where kept, daily before): inside 31 days. */
const HOURLY_SEGMENT_DAYS = 30
export const MAX_RANGE_DAYS = 1096

export const PRESETS: { value: Exclude<RangePreset, 'custom'>; label: string; ms: number }[] = [
  { value: '24h', label: 'Last 24 hours', ms: DAY },
  { value: '7d', label: 'Last 7 days', ms: 7 * DAY },
  { value: '30d', label: 'Last 30 days', ms: 30 * DAY },
  { value: '1y', label: 'Last year', ms: 365 * DAY },
]

export function presetRange(preset: Exclude<RangePreset, 'custom'>, now = new Date()): TimeRange {
  const entry = PRESETS.find((p) => p.value === preset)!
  return { from: new Date(now.getTime() - entry.ms), to: now, label: entry.label }
}

/** A local calendar date (`YYYY-MM-DD`, as an <input type=date> gives it) at the browser's midnight. */
export function localMidnight(date: string): Date | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date)
  if (!match) return null
  const value = new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]))
  return Number.isNaN(value.getTime()) ? null : value
}

/** Custom dates, both days included, in the browser's time zone; an explanation when they cannot be. */
export function customRange(startDate: string, endDate: string): TimeRange | string {
  const from = localMidnight(startDate)
  const lastDay = localMidnight(endDate)
  if (!from) return 'Choose a start date.'
  if (!lastDay) return 'Choose an end date.'
  const to = new Date(lastDay.getFullYear(), lastDay.getMonth(), lastDay.getDate() + 1)
  if (to <= from) return 'The end date must not be before the start date.'
  if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * DAY)
    return `A range may span at most ${MAX_RANGE_DAYS} days.`
  return { from, to, label: `${startDate} to ${endDate}` }
}

const utcMidnight = (ms: number) => Math.floor(ms / DAY) * DAY

/**
 * The requests for one tracker over a range: one "1 hour" request when it fits (hourly points where
 * kept, daily before); otherwise "1 day" up to a UTC midnight 30 days before the end and "1 hour"
 * from there, so the last day is hourly whatever the range's length.
 */
export function historyRequests(trackerId: string, range: TimeRange): HistoryRequest[] {
  const from = range.from.getTime()
  const to = range.to.getTime()
  const iso = (ms: number) => new Date(ms).toISOString()
  if (to - from <= HOURLY_SEGMENT_DAYS * DAY) {
    return [{ trackerId, startTime: iso(from), endTime: iso(to), bucketSize: '1 hour' }]
  }
  const boundary = utcMidnight(to - HOURLY_SEGMENT_DAYS * DAY)
  return [
    { trackerId, startTime: iso(from), endTime: iso(boundary), bucketSize: '1 day' },
    { trackerId, startTime: iso(boundary), endTime: iso(to), bucketSize: '1 hour' },
  ]
}
