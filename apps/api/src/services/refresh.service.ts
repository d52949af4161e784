import { randomUUID } from 'node:crypto'
import { DAY_MS, type Database, findTracker, type Logger } from '@tracker/db'
import {
  type RefreshAnswer,
  type RefreshRequester,
  RefreshRequestUnavailableError,
  RefreshTimeoutError,
} from '@tracker/history'
import type { Kysely } from 'kysely'
import { describeDuration } from '../env.ts'
import {
  BadUserInputError,
  NotFoundApiError,
  RefreshBusyError,
  RefreshTimeoutApiError,
  ServiceUnavailableError,
} from '../errors.ts'
import { requireId, requireOrderedRange } from './input.ts'

export interface RefreshServiceOptions {
  /** Asks the refresher, which refreshes under the periodic refresh's lock; the API refreshes nothing. */
  requester: RefreshRequester
  db: Kysely<Database>
  maxWindowMs: number
  /** How long the refresher may wait for the refresh lock on the mutation's behalf (then REFRESH_BUSY). */
  lockWaitMs: number
  logger: Logger
  /** Aborted when the API stops: waiting for the refresher ends there. */
  shutdown: AbortSignal
  /** After each refresh, before the mutation returns (the history caches drop their answers). */
  onRefreshed?: () => void
}

export function createRefreshService(options: RefreshServiceOptions) {
  return {
    /**
     * Asks the refresher to refresh both aggregates over the window, then location_history, and
     * returns true once its answer says it did (the data is visible then).
     */
    async refresh(args: { trackerId: string; startTime: Date; endTime: Date }): Promise<true> {
      const trackerId = requireId('tracker', args.trackerId)
      requireOrderedRange(args.startTime, args.endTime)
      if (args.endTime.getTime() - args.startTime.getTime() > options.maxWindowMs) {
        throw new BadUserInputError(
          `a refresh window may span at most ${describeDuration(options.maxWindowMs)}: refresh a shorter window`,
          { argument: 'endTime', maxWindowMs: options.maxWindowMs },
        )
      }
      if (!(await findTracker(options.db, trackerId))) throw new NotFoundApiError('tracker', args.trackerId)
      // No report is from later than the importer's clock skew lets in: what lies past tomorrow is
      // empty, and widened to whole buckets a window near 9999-12-31 would reach past what
      // PostgreSQL can take (year 10000). So the window ends tomorrow at the latest.
      const latest = Date.now() + DAY_MS
      if (args.startTime.getTime() > latest) return true
      const window = { from: args.startTime, to: new Date(Math.min(args.endTime.getTime(), latest)) }

      const requestId = randomUUID()
      const fields = { trackerId, refreshRequestId: requestId }
      let answer: RefreshAnswer
      try {
        answer = await options.requester.request(window, {
          id: requestId,
          lockWaitMs: options.lockWaitMs,
          signal: options.shutdown,
        })
      } catch (error) {
        if (options.shutdown.aborted) throw new ServiceUnavailableError('The API is shutting down; try again')
        if (error instanceof RefreshTimeoutError) {
          options.logger.warn(
            { ...fields, err: error, accepted: error.accepted },
            'refresh request not answered in time',
          )
          throw new RefreshTimeoutApiError(error.accepted, error.waitedMs)
        }
        if (error instanceof RefreshRequestUnavailableError) {
          options.logger.error({ ...fields, err: error }, 'cannot ask the refresher')
          throw new ServiceUnavailableError(
            "The API cannot listen for the refresher's answer (database connection down); try again",
          )
        }
        throw error
      }
      switch (answer.outcome) {
        case 'refreshed':
          options.onRefreshed?.()
          options.logger.info({ ...fields, window }, 'location history refreshed on request')
          return true
        case 'busy':
          throw new RefreshBusyError(options.lockWaitMs)
        case 'unavailable':
          throw new ServiceUnavailableError(
            'The lock service that coordinates refreshes is unreachable; try again',
          )
        case 'cancelled':
          throw new ServiceUnavailableError(
            'The refresher stopped before it finished this refresh; try again',
          )
        default:
          // Masked for the client, logged with the request id; the refresher logged it too.
          throw new Error(
            `the refresher could not refresh (request ${requestId}): ${answer.error ?? answer.outcome}`,
          )
      }
    },
  }
}

export type RefreshService = ReturnType<typeof createRefreshService>
