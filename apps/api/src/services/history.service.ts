import { type BucketSize, type Database, findTracker } from '@tracker/db'
import { type HistoryRow, hourlyTierStart, selectHistory } from '@tracker/history'
import type { Kysely } from 'kysely'
import type { CacheLookup, ChangeFeedCache } from '../cache/change-feed-cache.ts'
import { describeDuration } from '../env.ts'
import { BadUserInputError, NotFoundApiError } from '../errors.ts'
import type { HistoryPointModel } from '../graphql/models.ts'
import { toHistoryPoint } from '../mappers/history.mapper.ts'
import { cursorTime, decodeCursor, encodeCursor, pageSize, requireId, requireOrderedRange } from './input.ts'

export const BUCKET_SIZES: readonly BucketSize[] = ['1 hour', '1 day']

export interface HistoryArgs {
  trackerId: string
  startTime: Date
  endTime: Date
  bucketSize: string
  limit?: number | null
  after?: string | null
}

export interface HistoryPage {
  points: HistoryPointModel[]
  truncated: boolean
  limit: number
  endCursor: string | null
}

export interface HistoryLimits {
  maxPoints: number
  maxRangeHourlyMs: number
  maxRangeDailyMs: number
}

export function parseBucketSize(value: string): BucketSize {
  if (!(BUCKET_SIZES as readonly string[]).includes(value)) {
    throw new BadUserInputError(
      `bucketSize must be one of ${BUCKET_SIZES.map((b) => `"${b}"`).join(', ')} (got ${JSON.stringify(value.slice(0, 40))})`,
      { argument: 'bucketSize', allowed: BUCKET_SIZES },
    )
  }
  return value as BucketSize
}

const pointCursor = (row: Pick<HistoryRow, 'timestamp' | 'rank'>) =>
  encodeCursor([row.timestamp.toISOString(), row.rank])

export interface HistoryCaching {
  cache: ChangeFeedCache<HistoryPage>
  /** Each lookup's outcome, for the metrics. */
  onLookup?: (result: CacheLookup) => void
}

export function createHistoryService(db: Kysely<Database>, limits: HistoryLimits, caching?: HistoryCaching) {
  return {
    async page(args: HistoryArgs): Promise<HistoryPage> {
      const bucketSize = parseBucketSize(args.bucketSize)
      const trackerId = requireId('tracker', args.trackerId)
      requireOrderedRange(args.startTime, args.endTime)
      const maxRange = bucketSize === '1 hour' ? limits.maxRangeHourlyMs : limits.maxRangeDailyMs
      if (args.endTime.getTime() - args.startTime.getTime() > maxRange) {
        throw new BadUserInputError(
          `a "${bucketSize}" history may span at most ${describeDuration(maxRange)}: ` +
            `ask for a shorter range${bucketSize === '1 hour' ? ' or "1 day" buckets' : ''}`,
          { argument: 'endTime', maxRangeMs: maxRange },
        )
      }
      const limit = pageSize(
        args.limit,
        { defaultSize: limits.maxPoints, maxSize: limits.maxPoints },
        'limit',
      )
      let after: { timestamp: Date; rank: number } | undefined
      if (args.after) {
        const [time, rank] = decodeCursor<[string, number]>(args.after, ['string', 'number'])
        if (rank !== 0 && rank !== 1) throw new BadUserInputError('after is not a cursor this API returned')
        after = { timestamp: new Date(cursorTime(time)), rank }
      }

      // Every argument that shapes the answer, as validated (times to the millisecond, ids lower-cased).
      const key = [
        trackerId,
        bucketSize,
        args.startTime.getTime(),
        args.endTime.getTime(),
        limit,
        after ? `${after.timestamp.getTime()}/${after.rank}` : '',
      ].join('|')
      const cached = caching?.cache.lookup(key)
      if (cached) caching?.onLookup?.(cached.result)
      if (cached?.value) return cached.value
      const generation = caching?.cache.generation() ?? 0

      // One more than the limit: its presence is the signal that the result was cut.
      const rows = await selectHistory(db, {
        trackerId,
        from: args.startTime,
        to: args.endTime,
        bucketSize,
        tierStart: hourlyTierStart(new Date()),
        limit: limit + 1,
        ...(after ? { after } : {}),
      })
      // Only an empty result needs a second look: was there no history, or no tracker?
      if (rows.length === 0 && !(await findTracker(db, trackerId))) {
        throw new NotFoundApiError('tracker', args.trackerId)
      }
      const kept = rows.slice(0, limit)
      const last = kept.at(-1)
      const page: HistoryPage = {
        points: kept.map((row) => toHistoryPoint(trackerId, row)),
        truncated: rows.length > limit,
        limit,
        endCursor: last ? pointCursor(last) : null,
      }
      // Shared by every later request that hits it: nothing may change it.
      caching?.cache.store(key, deepFreeze(page), page.points.length, generation)
      return page
    },
  }
}

export type HistoryService = ReturnType<typeof createHistoryService>

function deepFreeze(page: HistoryPage): HistoryPage {
  for (const point of page.points) {
    Object.freeze(point.location)
    Object.freeze(point)
  }
  Object.freeze(page.points)
  return Object.freeze(page)
}
