import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '@tracker/db'
import { ChangeSet, type HistoryChange } from '../change.ts'
import { RefreshCancelledError, type RefreshTrigger } from './events.ts'
import type { HistoryEngine } from './history-engine.ts'
import { WHOLE_HISTORY } from './history-engine.ts'
import { settlesWithin } from './settles-within.ts'

export class HistoryQueueStoppedError extends Error {
  readonly code = 'HISTORY_QUEUE_STOPPED'
}

export type ChangeReason = 'notification' | 'startup' | 'reconnect' | 'manual' | 'retry'

export interface ChangeRequest {
  /** What changed; null: unknown (the seed's `pg_notify(..., 'test')`): every tracker's hourly tier. */
  change: HistoryChange | null
  reason: ChangeReason
  runId?: string
}

interface Waiter {
  resolve(): void
  reject(error: Error): void
}

interface Batch {
  changes: ChangeSet
  reasons: Set<ChangeReason>
  waiters: Waiter[]
  runId: string | undefined
}

export interface ChangeQueueOptions {
  engine: HistoryEngine
  logger: Logger
  /** At least this long between the end of one upkeep and the start of the next. */
  minIntervalMs: number
  /** First retry delay after a failed or concurrently-skipped refresh; doubles up to retryMaxMs. */
  retryBaseMs?: number
  retryMaxMs?: number
  /** Each request merged into a batch that was already waiting (metrics). */
  onCoalesced?: (requests: number) => void
}

function triggerOf(reasons: Set<ChangeReason>): RefreshTrigger {
  if (reasons.has('startup') || reasons.has('reconnect')) return 'catch_up'
  if (reasons.has('manual')) return 'manual'
  if (reasons.has('notification')) return 'notification'
  return 'retry'
}

/**
 * The engine's work queue for changes. Never two batches at once (from this process); changes that
 * arrive while one runs are merged into the next batch (per tracker, the smallest window covering
 * its changes), so a burst of any size costs one batch after the running one; at least
 * `minIntervalMs` between batches. A failed batch is kept and retried with backoff; a batch whose
 * aggregate refresh met another session's is looked at again.
 */
export class ChangeQueue {
  readonly #o: ChangeQueueOptions
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
  readonly #wake = new AbortController()
  /** Cancels the batch in flight (a stop past its grace). */
  readonly #cancel = new AbortController()

  constructor(options: ChangeQueueOptions) {
    this.#o = options
    this.#retryBaseMs = options.retryBaseMs ?? 1_000
    this.#retryMaxMs = options.retryMaxMs ?? 60_000
  }

  /** True while a batch runs or waits to run. */
  get busy(): boolean {
    return this.#running || this.#pending !== null
  }

  /**
   * Asks for a change to be made visible. Resolves once the batch it was merged into has run (a
   * batch that started after this call), rejects if that batch failed or the queue stopped.
   */
  request(request: ChangeRequest): Promise<void> {
    if (this.#stopping) return Promise.reject(new HistoryQueueStoppedError('the history queue is stopping'))
    const { promise, resolve, reject } = Promise.withResolvers<void>()
    const changes = new ChangeSet()
    changes.add(request.change ?? this.#changeFor(request.reason))
    this.#enqueue(changes, [request.reason], [{ resolve, reject }], request.runId)
    return promise
  }

  #changeFor(reason: ChangeReason): HistoryChange {
    const engine = this.#o.engine
    // After a start or a lost listener: whatever may have been missed. Otherwise (no window said):
    // the hourly tier of every tracker.
    const window =
      reason === 'startup' || reason === 'reconnect'
        ? engine.catchUpWindow()
        : { from: engine.tierStart(), to: WHOLE_HISTORY.to }
    return { window, trackers: null }
  }

  #enqueue(changes: ChangeSet, reasons: Iterable<ChangeReason>, waiters: Waiter[], runId?: string): void {
    if (this.#pending) {
      this.#pending.runId ??= runId
      this.#o.onCoalesced?.(changes.size)
      this.#pending.changes.addAll(changes)
      for (const reason of reasons) this.#pending.reasons.add(reason)
      this.#pending.waiters.push(...waiters)
    } else {
      this.#pending = { changes, reasons: new Set(reasons), waiters, runId }
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
      const wait = Math.max(this.#lastEndedAt + this.#o.minIntervalMs, this.#notBefore) - Date.now()
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
        const retry = await this.#run(batch)
        this.#failures = 0
        for (const waiter of batch.waiters) waiter.resolve()
        if (!retry) {
          this.#concurrentSkips = 0
        } else if (!this.#stopping) {
          // Another session was refreshing an overlapping aggregate range; it may have started before
          // this late report's invalidation was logged: look again, backing off while it runs.
          this.#concurrentSkips += 1
          this.#notBefore = Date.now() + this.#retryDelay(this.#concurrentSkips)
          const again = new ChangeSet()
          for (const target of batch.changes.targets()) again.add(target)
          this.#enqueue(again, ['retry'], [])
        }
      } catch (error) {
        for (const waiter of batch.waiters) waiter.reject(error as Error)
        if (!this.#stopping && !(error instanceof RefreshCancelledError)) {
          this.#failures += 1
          const delay = this.#retryDelay(this.#failures)
          this.#notBefore = Date.now() + delay
          this.#o.logger.warn(
            { event: 'refresh_retry', retryInMs: delay, failures: this.#failures },
            'history refresh failed; its changes are kept and retried',
          )
          this.#enqueue(batch.changes, ['retry'], [])
        }
      } finally {
        this.#running = false
        this.#lastEndedAt = Date.now()
      }
    }
  }

  #run(batch: Batch) {
    const trigger = triggerOf(batch.reasons)
    const runId = batch.runId ?? randomBytes(4).toString('hex')
    const span = batch.changes.span()
    this.#o.logger.debug(
      {
        event: 'refresh_batch',
        runId,
        trigger,
        changes: batch.changes.size,
        trackers: batch.changes.trackers().length,
        reasons: [...batch.reasons],
        ...(span ? { from: span.from.toISOString(), to: span.to.toISOString() } : {}),
      },
      'refreshing',
    )
    return this.#o.engine.applyChanges(batch.changes, { trigger, runId, signal: this.#cancel.signal })
  }

  #retryDelay(attempt: number): number {
    return Math.min(this.#retryMaxMs, this.#retryBaseMs * 2 ** (attempt - 1))
  }

  /** Stops taking requests; lets a batch in flight finish for up to `graceMs`, then cancels it. */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true
    this.#wake.abort()
    const loop = this.#loop
    if (loop && !(await settlesWithin(loop, graceMs))) {
      this.#o.logger.warn(
        { graceMs },
        'cancelling the history refresh in flight: it outlasted the shutdown grace',
      )
      this.#cancel.abort()
      await loop
    }
    const pending = this.#pending
    this.#pending = null
    for (const waiter of pending?.waiters ?? []) {
      waiter.reject(new HistoryQueueStoppedError('the history queue stopped before this refresh ran'))
    }
  }
}
