import type { TrackerModel } from '../graphql/models.ts'
import type { TrackerStatusName } from '../repositories/tracker-page.repository.ts'

export interface StatusThresholds {
  activeWithinMs: number
  lostAfterMs: number
}

/**
 * The documented meaning of Tracker.currentStatus (see the SDL): INACTIVE when deactivated; else
 * ACTIVE when seen within activeWithin, LOST when never seen or not within lostAfter, STALE between.
 * selectTrackerPage's status filter is the same rule in SQL.
 */
export function trackerStatus(
  tracker: Pick<TrackerModel, 'isActive' | 'lastSeenAt'>,
  now: Date,
  thresholds: StatusThresholds,
): TrackerStatusName {
  if (!tracker.isActive) return 'INACTIVE'
  if (!tracker.lastSeenAt) return 'LOST'
  const seen = tracker.lastSeenAt.getTime()
  if (seen >= now.getTime() - thresholds.activeWithinMs) return 'ACTIVE'
  if (seen < now.getTime() - thresholds.lostAfterMs) return 'LOST'
  return 'STALE'
}

export function statusBoundaries(now: Date, thresholds: StatusThresholds) {
  return {
    activeSince: new Date(now.getTime() - thresholds.activeWithinMs),
    lostBefore: new Date(now.getTime() - thresholds.lostAfterMs),
  }
}
