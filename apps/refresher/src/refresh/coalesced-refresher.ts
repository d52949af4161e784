import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  type AggregateName,
  aggregateWatermark,
  clipRefreshWindow,
  DAILY_AGGREGATE,
  HOURLY_AGGREGATE,
  type RetentionConfig,
  type TimeWindow,
  type TrackerDatabase,
} from '@tracker/db'
import type { Logger } from 'pino'
import type { RefresherMetrics } from '../http/refresher-metrics.ts'
import { settlesWithin } from '../util/time.ts'
import type { RefreshTrigger } from './refresh-events.ts'
import {
  mergeWindows,
  type RefreshReason,
  type RefreshRequest,
  windowBelowWatermark,
} from './refresh-request.ts'
import { RefreshCancelledError, type RefreshRunner } from './refresh-runner.ts'

export class RefresherStoppedError extends Error {
  readonly code = 'REFRESHER_STOPPED'
}

export interface CoalescedRefresherOptions {
  database: TrackerDatabase
  runner: RefreshRunner
  retention: RetentionConfig
  /** False without TimescaleDB: only location_history is refreshed. */
  aggregatesEnabled: boolean
  minIntervalMs: number
  logger: Logger
  metrics: RefresherMetrics
  /** First retry delay after a failed or concurrently-skipped refresh; doubles up to retryMaxMs. */
  retryBaseMs?: number
  retryMaxMs?: number
}

interface Waiter {
  resolve(): void
  reject(error: Error): void
}

/** Requests merged while waiting for their turn. */
interface Batch {
  window: TimeWindow | null
  reasons: Set<RefreshReason>
  requests: number
  waiters: Waiter[]
  runId: string | undefined
}

// Hourly before daily: the same order as the periodic refresh (packages/db refresh-history.ts).
const AGGREGATES: AggregateName[] = [HOURLY_AGGREGATE, DAILY_AGGREGATE]

function triggerOf(reasons: Set<RefreshReason>): RefreshTrigger {
  if (reasons.has('periodic')) return 'periodic'
  if (reasons.has('startup') || reasons.has('reconnect')) return 'catch_up'
  if (reasons.has('manual')) return 'manual'
  if (reasons.has('notification')) return 'notification'
  return 'retry'
}

/**
 * The LISTEN path's work queue. Guarantees: never two location_history refreshes at once (from this
 * process); requests that arrive while one runs are merged into a single next refresh (windows
 * merged: min from, max to), so a burst of any size costs at most one refresh after the running
 * one; at least `minIntervalMs` between the end of one refresh and the start of the next.
 *
 * A request's window that lies below an aggregate's materialized watermark (a late report) first
 * refreshes that aggregate over that part (clipped by the retention invariant), so the report shows
 * up now rather than at the next periodic refresh. Above the watermark real-time aggregation shows
 * it already, and location_history alone is refreshed.
 */
export class CoalescedRefresher {
  readonly #database: TrackerDatabase
  readonly #runner: RefreshRunner
  readonly #retention: RetentionConfig
  readonly #aggregatesEnabled: boolean
  readonly #minIntervalMs: number
  readonly #logger: Logger
  readonly #metrics: RefresherMetrics
  readonly #retryBaseMs: number
  readonly #retryMaxMs: number

  #pending: Batch | null = null
  #loop: Promise<void> | null = null
  #running = false
  #lastEndedAt = 0
  #notBefore = 0
  #failures = 0
  #concurrentSkips = 0
  #stopping = false
  /** Wakes the loop from its wait (a stop). */
  #wake = new AbortController()
  /** Cancels the refresh in flight (a stop past its grace). */
  readonly #cancel = new AbortController()

  constructor(options: CoalescedRefresherOptions) {
    this.#database = options.database
    this.#runner = options.runner
    this.#retention = options.retention
    this.#aggregatesEnabled = options.aggregatesEnabled
    this.#minIntervalMs = options.minIntervalMs
    this.#logger = options.logger
    this.#metrics = options.metrics
    this.#retryBaseMs = options.retryBaseMs ?? 1_000
    this.#retryMaxMs = options.retryMaxMs ?? 60_000
  }

  /** True while a refresh runs or waits to run. */
  get busy(): boolean {
    return this.#running || this.#pending !== null
  }

  /**
   * Asks for a refresh. Resolves once a refresh that started after this call has finished (the one
   * this request was merged into), rejects if that refresh failed or the refresher stopped.
   */
  request(request: RefreshRequest): Promise<void> {
    if (this.#stopping) return Promise.reject(new RefresherStoppedError('the refresher is stopping'))
    const { promise, resolve, reject } = Promise.withResolvers<void>()
    this.#enqueue(request.window, [request.reason], 1, [{ resolve, reject }], request.runId)
    return promise
  }

  #enqueue(
    window: TimeWindow | null,
    reasons: Iterable<RefreshReason>,
    requests: number,
    waiters: Waiter[],
    runId?: string,
  ) {
    if (this.#pending) {
      this.#pending.runId ??= runId
      this.#pending.window = mergeWindows(this.#pending.window, window)
      for (const reason of reasons) this.#pending.reasons.add(reason)
      this.#pending.requests += requests
      this.#pending.waiters.push(...waiters)
      this.#metrics.notificationsCoalesced.inc(requests)
    } else {
      this.#pending = { window, reasons: new Set(reasons), requests, waiters, runId }
    }
    this.#kick()
  }

  #kick(): void {
    if (this.#loop || this.#stopping) return
    this.#loop = this.#drain().finally(() => {
      this.#loop = null
      // A request may have arrived between the loop's last look and now.
      if (this.#pending) this.#kick()
    })
  }

  async #drain(): Promise<void> {
    while (this.#pending && !this.#stopping) {
      const wait = Math.max(this.#lastEndedAt + this.#minIntervalMs, this.#notBefore) - Date.now()
      if (wait > 0) {
        try {
          await sleep(wait, undefined, { signal: this.#wake.signal })
        } catch {
          break // stopping
        }
      }
      const batch = this.#pending
      this.#pending = null
      this.#running = true
      try {
        const retry = await this.#refresh(batch)
        this.#failures = 0
        for (const waiter of batch.waiters) waiter.resolve()
        if (!retry) {
          this.#concurrentSkips = 0
        } else if (!this.#stopping) {
          // Another session was refreshing an overlapping aggregate range; it may have started
          // before this late report's invalidation was logged, so look again, backing off while
          // that session (perhaps a long periodic refresh elsewhere) is still at it.
          this.#concurrentSkips += 1
          this.#notBefore = Date.now() + this.#retryDelay(this.#concurrentSkips)
          this.#enqueue(retry, ['retry'], 0, [])
        }
      } catch (error) {
        for (const waiter of batch.waiters) waiter.reject(error as Error)
        if (!this.#stopping && !(error instanceof RefreshCancelledError)) {
          this.#failures += 1
          const delay = this.#retryDelay(this.#failures)
          this.#notBefore = Date.now() + delay
          this.#logger.warn(
            { event: 'refresh_retry', retryInMs: delay, failures: this.#failures },
            'refresh failed; its requests are kept and retried',
          )
          this.#enqueue(batch.window, ['retry'], 0, [])
        }
      } finally {
        this.#running = false
        this.#lastEndedAt = Date.now()
      }
    }
  }

  #retryDelay(attempt: number): number {
    return Math.min(this.#retryMaxMs, this.#retryBaseMs * 2 ** (attempt - 1))
  }

  /** Refreshes what the batch asks for; returns a window to retry when an aggregate was busy elsewhere. */
  async #refresh(batch: Batch): Promise<TimeWindow | null> {
    const signal = this.#cancel.signal
    const trigger = triggerOf(batch.reasons)
    const runId = batch.runId ?? randomBytes(4).toString('hex')
    const context = { trigger, runId, signal }
    this.#logger.debug(
      {
        event: 'refresh_batch',
        runId,
        trigger,
        requests: batch.requests,
        reasons: [...batch.reasons],
        ...(batch.window ? { from: batch.window.from.toISOString(), to: batch.window.to.toISOString() } : {}),
      },
      'refreshing',
    )
    let retry: TimeWindow | null = null
    if (batch.window && this.#aggregatesEnabled) {
      const now = new Date()
      for (const aggregate of AGGREGATES) {
        if (signal.aborted) throw new RefreshCancelledError('cancelled')
        const below = windowBelowWatermark(
          batch.window,
          await aggregateWatermark(this.#database.db, aggregate),
        )
        if (!below) continue
        const window = clipRefreshWindow(this.#retention, aggregate, below, now)
        if (!window) {
          this.#runner.recordSkippedOutsideSafeWindow(aggregate, below, {
            ...context,
            trigger: 'late_window',
          })
          continue
        }
        const outcome = await this.#runner.refreshAggregate(aggregate, window, {
          ...context,
          trigger: 'late_window',
        })
        if (outcome === 'skipped_concurrent') retry = mergeWindows(retry, below)
      }
    }
    await this.#runner.refreshLocationHistory(context)
    return retry
  }

  /**
   * Stops taking requests; lets a refresh in flight finish for up to `graceMs`, then cancels it.
   * Requests still waiting are rejected.
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true
    this.#wake.abort()
    const loop = this.#loop
    if (loop) {
      if (!(await settlesWithin(loop, graceMs))) {
        this.#logger.warn({ graceMs }, 'cancelling the refresh in flight: it outlasted the shutdown grace')
        this.#cancel.abort()
        await loop
      }
    }
    const pending = this.#pending
    this.#pending = null
    for (const waiter of pending?.waiters ?? []) {
      waiter.reject(new RefresherStoppedError('the refresher stopped before this refresh ran'))
    }
  }
}
