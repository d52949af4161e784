import type { Database, Kysely } from '@tracker/db'
import { distanceMeters } from '@tracker/findmy'
import { type ImportDependencies, type ImportResult, runImport } from '../run/run-import.ts'
import type { PollTrackers } from './adaptive-poller.ts'
import type { PollFeedback } from './poll-cadence.ts'

type Position = { latitude: number; longitude: number } | null

async function lastPositions(
  db: Kysely<Database>,
  trackerIds: readonly string[],
): Promise<Map<string, Position>> {
  const rows = await db
    .selectFrom('trackers')
    .select(['id', 'last_latitude', 'last_longitude'])
    .where('id', 'in', [...trackerIds])
    .execute()
  return new Map(
    rows.map((r) => [
      r.id,
      r.last_latitude === null || r.last_longitude === null
        ? null
        : { latitude: r.last_latitude, longitude: r.last_longitude },
    ]),
  )
}

/**
 * The adaptive poller's poll: one import run ('poll') over the due trackers' keys only, then, per
 * tracker, what the cadence rule needs: reports new to the database, whether an answer was full,
 * and how far its last known position moved. `run` is where the result goes (the importer's
 * bookkeeping: metrics, last result).
 */
export function pollTrackersWith(
  deps: Omit<ImportDependencies, 'onlyTrackers'>,
  run: (result: ImportResult) => ImportResult = (r) => r,
): PollTrackers {
  return async (trackerIds, signal) => {
    const db = deps.database.db
    const before = await lastPositions(db, trackerIds)
    const result = run(await runImport({ ...deps, onlyTrackers: trackerIds }, { trigger: 'poll', signal }))
    if (result.outcome === 'skipped_locked' || result.outcome === 'not_started') return null
    const after = await lastPositions(db, trackerIds)
    const perTracker = new Map<string, PollFeedback>()
    for (const trackerId of trackerIds) {
      const activity = result.activity?.get(trackerId)
      const from = before.get(trackerId) ?? null
      const to = after.get(trackerId) ?? null
      perTracker.set(trackerId, {
        newReports: activity?.newReports ?? 0,
        maxNewPerKey: activity?.maxNewPerKey ?? 0,
        fullAnswer: activity?.fullAnswer ?? false,
        limit: activity?.limit ?? 0,
        movedMeters: from && to ? distanceMeters(from, to) : null,
      })
    }
    return { ok: result.outcome === 'succeeded' || result.outcome === 'partial', perTracker }
  }
}
