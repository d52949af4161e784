import { type Database, getTracker, pollingStateOf, setPollOverride } from '@tracker/db'
import type { Kysely } from 'kysely'
import { BadUserInputError } from '../errors.ts'
import type { TrackerModel } from '../graphql/models.ts'
import type { TrackerPolling } from '../graphql/schema.generated.ts'
import { toTrackerModel } from '../mappers/tracker.mapper.ts'
import { requireId } from './input.ts'

/** A week: a longer fixed interval would lose most reports of any tracker that reports at all. */
const MAX_OVERRIDE_MINUTES = 7 * 24 * 60
/** Until the importer has polled it, an adaptive tracker's interval is unknown: this is the seed's 6 hours. */
const DEFAULT_INTERVAL_SECONDS = 6 * 3600

/** The adaptive polling mode's per-tracker state, and a user's fixed interval for one tracker. */
export function createPollingService(db: Kysely<Database>) {
  return {
    async of(trackerId: string): Promise<TrackerPolling | null> {
      const row = await pollingStateOf(db, trackerId)
      return row
        ? {
            intervalSeconds: row.interval_seconds,
            nextPollAt: row.next_poll_at,
            lastPollAt: row.last_poll_at,
            fixedIntervalMinutes: row.override_seconds === null ? null : row.override_seconds / 60,
          }
        : null
    },

    async set(id: string, minutes: number | null | undefined): Promise<TrackerModel> {
      const trackerId = requireId('tracker', id)
      if (minutes !== null && minutes !== undefined && (minutes < 1 || minutes > MAX_OVERRIDE_MINUTES)) {
        throw new BadUserInputError(
          `pollEveryMinutes must be between 1 and ${MAX_OVERRIDE_MINUTES} (got ${minutes}); null polls adaptively`,
          { argument: 'pollEveryMinutes', max: MAX_OVERRIDE_MINUTES },
        )
      }
      await setPollOverride(db, trackerId, minutes ? minutes * 60 : null, DEFAULT_INTERVAL_SECONDS)
      return toTrackerModel(await getTracker(db, trackerId))
    },
  }
}

export type PollingService = ReturnType<typeof createPollingService>
