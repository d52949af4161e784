import { type Database, ENDPOINT_REQUEST_HOURS_KEPT } from '@tracker/db'
import type { Kysely } from 'kysely'
import { BadUserInputError } from '../errors.ts'
import type { EndpointHealth } from '../graphql/schema.generated.ts'
import { toEndpointHealth } from '../mappers/endpoint-health.mapper.ts'
import {
  selectEndpointRequestHours,
  selectEndpointStreak,
} from '../repositories/endpoint-request.repository.ts'

const HOUR_MS = 3_600_000

/** The report endpoint's health as the importer recorded it (it writes, the API reads). */
export function createEndpointHealthService(db: Kysely<Database>) {
  return {
    /** The last `hours` hours, the current one included. */
    async health(args: { hours?: number | null }, now: Date): Promise<EndpointHealth> {
      const hours = args.hours ?? 24
      if (!Number.isInteger(hours) || hours < 1 || hours > ENDPOINT_REQUEST_HOURS_KEPT) {
        throw new BadUserInputError(
          `hours must be between 1 and ${ENDPOINT_REQUEST_HOURS_KEPT} (31 days, what is kept), got ${hours}`,
          { argument: 'hours', min: 1, max: ENDPOINT_REQUEST_HOURS_KEPT },
        )
      }
      const since = new Date((Math.floor(now.getTime() / HOUR_MS) - (hours - 1)) * HOUR_MS)
      const [rows, streak] = await Promise.all([
        selectEndpointRequestHours(db, since),
        selectEndpointStreak(db),
      ])
      return toEndpointHealth(rows, streak)
    },
  }
}

export type EndpointHealthService = ReturnType<typeof createEndpointHealthService>
