import { type Database, findTracker } from '@tracker/db'
import type { Kysely } from 'kysely'
import { BadUserInputError, NotFoundApiError } from '../errors.ts'
import type { LocationReportModel, Page } from '../graphql/models.ts'
import { toLocationReport } from '../mappers/report.mapper.ts'
import { selectReportPage } from '../repositories/location-report.repository.ts'
import { cursorTime, decodeCursor, encodeCursor, pageSize, requireId, requireOrderedRange } from './input.ts'

/** base64 of a SHA-256: what a report cursor's key is, checked before it reaches SQL. */
const HASHED_ADV_KEY = /^[A-Za-z0-9+/]{43}=$/

export interface ReportArgs {
  trackerId: string
  startTime?: Date | null
  endTime?: Date | null
  first?: number | null
  after?: string | null
}

export function createReportService(
  db: Kysely<Database>,
  options: { rawRetentionMs: number; pagination: { defaultPageSize: number; maxPageSize: number } },
) {
  return {
    /** Raw reports newer than the raw retention horizon: older ones may already be dropped. */
    async list(args: ReportArgs, now: Date): Promise<Page<LocationReportModel>> {
      const trackerId = requireId('tracker', args.trackerId)
      if (args.startTime && args.endTime) requireOrderedRange(args.startTime, args.endTime)
      const limit = pageSize(args.first, {
        defaultSize: options.pagination.defaultPageSize,
        maxSize: options.pagination.maxPageSize,
      })
      let after: { timestamp: string; hashedAdvKey: string } | undefined
      if (args.after) {
        const [timestamp, hashedAdvKey] = decodeCursor<[string, string]>(args.after, ['string', 'string'])
        if (!HASHED_ADV_KEY.test(hashedAdvKey)) {
          throw new BadUserInputError('after is not a cursor this API returned')
        }
        after = { timestamp: cursorTime(timestamp), hashedAdvKey }
      }
      const horizon = now.getTime() - options.rawRetentionMs
      const rows = await selectReportPage(db, {
        trackerId,
        from: new Date(Math.max(horizon, args.startTime?.getTime() ?? horizon)),
        to: args.endTime ?? undefined,
        ...(after ? { after } : {}),
        limit: limit + 1,
      })
      if (rows.length === 0 && !(await findTracker(db, trackerId))) {
        throw new NotFoundApiError('tracker', args.trackerId)
      }
      const kept = rows.slice(0, limit)
      const last = kept.at(-1)
      return {
        nodes: kept.map(toLocationReport),
        pageInfo: {
          hasNextPage: rows.length > limit,
          endCursor: last ? encodeCursor([last.cursor_time, last.hashed_adv_key]) : null,
        },
      }
    },
  }
}

export type ReportService = ReturnType<typeof createReportService>
