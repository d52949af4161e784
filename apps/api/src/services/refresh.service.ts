import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { DAY_MS, type Database, findTracker, type Logger } from '@tracker/db'
import type { HistoryEngine } from '@tracker/history'
import { type HeldLock, LOCK_NAMES, type LockService, LockUnavailableError } from '@tracker/locks'
import type { Kysely } from 'kysely'
import { describeDuration } from '../env.ts'
import { BadUserInputError, NotFoundApiError, RefreshBusyError, ServiceUnavailableError } from '../errors.ts'
import { requireId, requireOrderedRange } from './input.ts'

export interface RefreshServiceOptions {
  /** The history engine: the same code path, and the same lock, as the refresher's refreshes. */
  history: HistoryEngine
  db: Kysely<Database>
  locks: LockService
  maxWindowMs: number
  lockWaitMs: number
  lockTtlMs: number
  logger: Logger
  /** Aborted when the API stops: waiting for the lock ends there. */
  shutdown: AbortSignal
  /** After each refresh, before the mutation returns (the history caches drop their answers). */
  onRefreshed?: () => void
}

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal })
  } catch {
    throw new ServiceUnavailableError('The API is shutting down; try again')
  }
}

/**
 * Waits for the refresh lock up to `waitMs`, polling with backoff: the mutation must return once
 * the data is visible, so unlike the refresher it does not skip when someone else refreshes.
 */
async function acquireWithin(options: RefreshServiceOptions, deadline: number): Promise<HeldLock | null> {
  let delay = 50
  for (;;) {
    if (options.shutdown.aborted) throw new ServiceUnavailableError('The API is shutting down; try again')
    let lock: HeldLock | null
    try {
      lock = await options.locks.tryAcquire(LOCK_NAMES.aggregateRefresh, options.lockTtlMs)
    } catch (error) {
      if (error instanceof LockUnavailableError) {
        options.logger.error({ err: error }, 'refresh lock service unavailable')
        throw new ServiceUnavailableError(
          'The lock service that coordinates refreshes is unreachable; try again',
        )
      }
      throw error
    }
    if (lock) return lock
    if (Date.now() + delay > deadline) return null
    await pause(delay, options.shutdown)
    delay = Math.min(delay * 2, 1000)
  }
}

export function createRefreshService(options: RefreshServiceOptions) {
  return {
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

      const started = Date.now()
      const deadline = started + options.lockWaitMs
      const lock = await acquireWithin(options, deadline)
      if (!lock) throw new RefreshBusyError(options.lockWaitMs)
      try {
        // The engine clips each aggregate's window to what raw retention leaves safe to refresh
        // (possibly nothing: then only location_history is kept). A policy job refreshing an
        // overlapping range at the same moment makes a refresh skip: retry until visible.
        const context = {
          trigger: 'manual' as const,
          runId: randomBytes(4).toString('hex'),
          signal: options.shutdown,
        }
        for (;;) {
          const retry = await options.history.refreshWindow(window, context)
          options.onRefreshed?.()
          options.logger.info(
            {
              trackerId,
              runId: context.runId,
              window,
              retry: retry !== null,
            },
            'location history refreshed on request',
          )
          if (!retry) return true
          if (Date.now() > deadline) throw new RefreshBusyError(options.lockWaitMs)
          await pause(500, options.shutdown)
        }
      } finally {
        await lock.release()
      }
    },
  }
}

export type RefreshService = ReturnType<typeof createRefreshService>
