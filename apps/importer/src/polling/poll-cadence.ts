/**
 * How often one tracker is polled in the adaptive mode, written once. Since 2026 the endpoint keeps
 * only each key's latest few reports, so a tracker polled too rarely loses reports (its answers come
 * back full, see coverage gaps) and a tracker polled too often spends requests on nothing new.
 */
export interface CadenceBounds {
  /** Never more often than this per tracker (each of its keys is asked at most this often). */
  minMs: number
  /** Never less often than this (the seed's schedule: 6 hours). */
  maxMs: number
}

/** What the tracker's last poll showed. */
export interface PollFeedback {
  /** Reports the poll stored that were not stored before. */
  newReports: number
  /** The most of them one key brought (a key's answer fills up on its own). */
  maxNewPerKey: number
  /** Some key's answer was as full as the endpoint gives: reports may have been dropped before it. */
  fullAnswer: boolean
  /** The most reports per key the endpoint gives, as known (below 2: unknown). */
  limit: number
  /** How far its newest position is from the one before (null: no position to compare). */
  movedMeters: number | null
}

/** A tracker that moved at least this far between polls is moving. */
export const MOVING_METERS = 250
/** Poll again when a key's answer is expected to be this full: a margin for a busier hour. */
export const FILL_SHARE = 0.75

/**
 * The next interval, within the bounds:
 * - an answer came back full (reports are being lost): half the interval;
 * - nothing new (silent): twice the interval;
 * - otherwise aim at the time the busiest key needs to fill 75% of what the endpoint keeps, at the
 *   rate this poll saw; while moving, a quarter sooner than that (a finer track); while still,
 *   lengthened by at most half per poll and never past that time. Without a known limit, moving
 *   shortens by a quarter and still lengthens by half.
 */
export function nextPollInterval(currentMs: number, feedback: PollFeedback, bounds: CadenceBounds): number {
  const moving = feedback.movedMeters !== null && feedback.movedMeters >= MOVING_METERS
  let next: number
  if (feedback.fullAnswer) next = currentMs / 2
  else if (feedback.newReports === 0) next = currentMs * 2
  else {
    const fill =
      feedback.limit >= 2 && feedback.maxNewPerKey > 0
        ? (FILL_SHARE * feedback.limit * currentMs) / feedback.maxNewPerKey
        : null
    if (moving) next = fill === null ? currentMs * 0.75 : fill * 0.75
    else next = fill === null ? currentMs * 1.5 : Math.min(fill, currentMs * 1.5)
  }
  return Math.round(Math.min(bounds.maxMs, Math.max(bounds.minMs, next)))
}
