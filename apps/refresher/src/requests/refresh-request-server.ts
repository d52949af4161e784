import { setTimeout as sleep } from 'node:timers/promises'
import type { TrackerDatabase } from '@tracker/db'
import {
  type HistoryEngine,
  notifyRefreshAnswer,
  type RefreshAnswerOutcome,
  RefreshCancelledError,
  type RefreshRequest,
  settlesWithin,
} from '@tracker/history'
import { type HeldLock, type LockService, LockUnavailableError } from '@tracker/locks'
import type { Logger } from 'pino'
import type { RefresherMetrics } from '../http/refresher-metrics.ts'

export interface RefreshRequestServerOptions {
  history: HistoryEngine
  database: TrackerDatabase
  locks: LockService
  /** The refresh lock, unprefixed: the periodic refresh's, so the two never refresh at once. */
  lockName: string
  lockTtlMs: number
  logger: Logger
  metrics: RefresherMetrics
}

/** Taken by the replica that serves a request: every replica hears it, one refreshes. */
const claimName = (id: string) => `location_history:refresh_request:${id}`

class Stopping extends Error {}

/**
 * Serves refresh requests (the API's refreshLocationHistoryAggregates, see parseRefreshRequest):
 * the replica that claims one answers `accepted`, waits for the refresh lock up to the request's
 * lockWaitMs, runs the engine's refreshWindow (both aggregates, then location_history for every
 * tracker in the window's days) until nothing was skipped for another session's refresh, and answers
 * on location_history_refreshed. Requests run side by side, serialized by the lock.
 */
export class RefreshRequestServer {
  readonly #o: RefreshRequestServerOptions
  readonly #inFlight = new Set<Promise<void>>()
  /** Ends lock waits and pauses (a stop). */
  readonly #wake = new AbortController()
  /** Cancels the refreshes in flight (a stop past its grace). */
  readonly #cancel = new AbortController()

  constructor(options: RefreshRequestServerOptions) {
    this.#o = options
  }

  /** Requests being served now. */
  get inFlight(): number {
    return this.#inFlight.size
  }

  serve(request: RefreshRequest): void {
    if (this.#wake.signal.aborted) return // stopping: another replica, or the caller's timeout, answers
    const serving: Promise<void> = this.#serve(request).finally(() => this.#inFlight.delete(serving))
    this.#inFlight.add(serving)
  }

  async #serve(request: RefreshRequest): Promise<void> {
    const o = this.#o
    const log = o.logger.child({ requestId: request.id })
    let claim: HeldLock | null
    try {
      claim = await o.locks.tryAcquire(claimName(request.id), o.lockTtlMs)
    } catch (error) {
      await this.#answer(
        log,
        request,
        error instanceof LockUnavailableError ? 'unavailable' : 'failed',
        error,
      )
      return
    }
    if (!claim) {
      log.debug({ event: 'refresh_request_elsewhere' }, 'another replica serves this refresh request')
      return
    }
    try {
      await this.#answer(log, request, 'accepted')
      const outcome = await this.#refresh(log, request)
      await this.#answer(log, request, outcome)
    } catch (error) {
      const cancelled =
        error instanceof Stopping || error instanceof RefreshCancelledError || this.#cancel.signal.aborted
      if (error instanceof LockUnavailableError) await this.#answer(log, request, 'unavailable', error)
      else await this.#answer(log, request, cancelled ? 'cancelled' : 'failed', error)
    } finally {
      await claim.release().catch(() => {})
    }
  }

  async #refresh(log: Logger, request: RefreshRequest): Promise<RefreshAnswerOutcome> {
    const o = this.#o
    const deadline = Date.now() + request.lockWaitMs
    const lock = await this.#acquireWithin(deadline)
    if (!lock) return 'busy'
    try {
      const signal = AbortSignal.any([lock.signal, this.#cancel.signal])
      const context = { trigger: 'manual' as const, runId: request.id, signal }
      log.info(
        { event: 'refresh_request_start', from: request.window.from, to: request.window.to },
        'refreshing on request',
      )
      for (;;) {
        // Another session refreshing an overlapping range makes an aggregate skip: again until done.
        const retry = await o.history.refreshWindow(request.window, context)
        if (!retry) return 'refreshed'
        if (Date.now() > deadline) return 'busy'
        await this.#pause(500)
      }
    } finally {
      // The lock expires by itself; a release Redis did not take is no reason to fail a refresh.
      await lock.release().catch((error) => log.warn({ err: error }, 'could not release the refresh lock'))
    }
  }

  /** The refresh lock, polled with backoff until `deadline`; null if it stayed taken. */
  async #acquireWithin(deadline: number): Promise<HeldLock | null> {
    let delay = 50
    for (;;) {
      if (this.#wake.signal.aborted) throw new Stopping('the refresher is stopping')
      const lock = await this.#o.locks.tryAcquire(this.#o.lockName, this.#o.lockTtlMs)
      if (lock) return lock
      if (Date.now() + delay > deadline) return null
      await this.#pause(delay)
      delay = Math.min(delay * 2, 1000)
    }
  }

  async #pause(ms: number): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: this.#wake.signal })
    } catch {
      throw new Stopping('the refresher is stopping')
    }
  }

  async #answer(log: Logger, request: RefreshRequest, outcome: RefreshAnswerOutcome, error?: unknown) {
    if (outcome !== 'accepted') this.#o.metrics.refreshRequests.inc({ outcome })
    const fields = { event: 'refresh_request', outcome }
    if (outcome === 'failed') log.error({ ...fields, err: error }, 'refresh request failed')
    else if (outcome === 'refreshed') log.info(fields, 'refreshed on request')
    else if (outcome === 'accepted') log.debug(fields, 'refresh request taken')
    else log.warn({ ...fields, ...(error ? { err: error } : {}) }, 'refresh request not served')
    try {
      await notifyRefreshAnswer(this.#o.database.db, {
        request: request.id,
        outcome,
        ...(outcome === 'failed' && error instanceof Error ? { error: error.message } : {}),
      })
    } catch (notifyError) {
      // The caller times out: it cannot be told.
      log.error({ err: notifyError, outcome }, 'could not answer a refresh request')
    }
  }

  /** Takes no more requests; those in flight get `graceMs` to finish, then are cancelled. */
  async stop(graceMs: number): Promise<void> {
    this.#wake.abort()
    const all = Promise.all(this.#inFlight)
    if (!(await settlesWithin(all, graceMs))) {
      this.#o.logger.warn(
        { graceMs },
        'cancelling refresh requests in flight: they outlasted the shutdown grace',
      )
      this.#cancel.abort()
      await all
    }
  }
}
