import { type Database, listCoverageGaps, trackerCoverage } from '@tracker/db'
import type { Kysely } from 'kysely'
import { BadUserInputError } from '../errors.ts'
import type { Coverage, CoverageGap } from '../graphql/schema.generated.ts'
import { EARLIEST_INSTANT_MS, LATEST_INSTANT_MS, pageSize } from './input.ts'

const GAP_PAGE = { defaultSize: 100, maxSize: 1000 }

/** A tracker's coverage gaps (periods the report endpoint may have dropped) and its coverage ratio. */
export function createCoverageService(db: Kysely<Database>) {
  return {
    async gaps(
      trackerId: string,
      args: { from?: Date | null; to?: Date | null; first?: number | null },
    ): Promise<CoverageGap[]> {
      const from = args.from ?? new Date(EARLIEST_INSTANT_MS)
      const to = args.to ?? new Date(LATEST_INSTANT_MS)
      if (from.getTime() >= to.getTime()) throw new BadUserInputError(rangeMessage(from, to))
      const rows = await listCoverageGaps(db, { trackerId, from, to, limit: pageSize(args.first, GAP_PAGE) })
      return rows.map((row) => ({
        hashedAdvKey: row.hashed_adv_key,
        from: row.gap_from,
        to: row.gap_to,
        durationSeconds: (row.gap_to.getTime() - row.gap_from.getTime()) / 1000,
        reportsReturned: row.reports_returned,
        endpointLimit: row.endpoint_limit,
        importRunId: row.import_run_id,
        detectedAt: row.detected_at,
      }))
    },

    async coverage(trackerId: string, args: { from: Date; to: Date }): Promise<Coverage> {
      if (args.from.getTime() >= args.to.getTime())
        throw new BadUserInputError(rangeMessage(args.from, args.to))
      const c = await trackerCoverage(db, { trackerId, from: args.from, to: args.to })
      return {
        from: args.from,
        to: args.to,
        ratio: c.ratio,
        missingSeconds: c.missingMs / 1000,
        gaps: c.gaps,
      }
    },
  }
}

const rangeMessage = (from: Date, to: Date) =>
  `from (${from.toISOString()}) must be before to (${to.toISOString()})`

export type CoverageService = ReturnType<typeof createCoverageService>
