import { randomBytes } from 'node:crypto'
import { type HistoryEngine, RefreshCancelledError, settlesWithin } from '@tracker/history'
import { type HeldLock, type LockService, LockUnavailableError } from '@tracker/locks'
import type { Logger } from 'pino'
import type { RefresherMetrics } from '../http/refresher-metrics.ts'
import type { LastRefreshStore } from './last-refresh-store.ts'
import type { PeriodicHooks, PeriodicOutcome } from './periodic-events.ts'

export interface PeriodicRefresherOptions {
  /** The refresh itself: the engine's periodic refresh (aggregates, then location_history's upkeep). */
  history: HistoryEngine
  locks: LockService
  store: LastRefreshStore
  /** The lock's name, unprefixed: the lock service applies REDIS_KEY_PREFIX. */
  lockName: string
  intervalMs: number
  checkIntervalMs: number
  lockTtlMs: number
  logger: Logger
  metrics: RefresherMetrics
  hooks?: PeriodicHooks
}

export interface PeriodicStatus {
  lastCheckAt: string | null
  lastOutcome: PeriodicOutcome | null
  lastRefreshedAt: string | null
  lockBackend: LockService['kind']
  lastRefreshStore: LastRefreshStore['kind']
}

/**
 * The seed's hourly refresh, correct under any number of replicas: every replica looks a few times
 * per period; the one that finds the shared last-refresh time a period old and takes the lock runs
 * the engine's periodic refresh (location_history_hourly over 48 h, location_history_daily over 7
 * days, as far as retention allows, then location_history's upkeep); then records the time. The lock
 * is extended while the work runs and released at the end. Redis being unreachable only skips a
 * check: the LISTEN path does not depend on it, and the next check after Redis returns proceeds.
 */
export class PeriodicRefresher {
  readonly #o: PeriodicRefresherOptions
  readonly #cancel = new AbortController()
  #timer: NodeJS.Timeout | undefined
  #current: Promise<PeriodicOutcome> | null = null
  #stopping = false
  #backendDown = false
  #lastCheckAt: number | null = null
  #lastOutcome: PeriodicOutcome | null = null
  #lastRefreshedAt: number | null = null

  constructor(options: PeriodicRefresherOptions) {
    this.#o = options
  }

  /** Starts checking; first reads when the last refresh ran (a restart keeps showing it in /health). */
  start(): void {
    this.#o.store.get().then(
      (last) => {
        this.#lastRefreshedAt ??= last
      },
      () => {}, // Redis down at start: the first check says so.
    )
    this.#schedule(0)
  }

  status(): PeriodicStatus {
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())
    return {
      lastCheckAt: iso(this.#lastCheckAt),
      lastOutcome: this.#lastOutcome,
      lastRefreshedAt: iso(this.#lastRefreshedAt),
      lockBackend: this.#o.locks.kind,
      lastRefreshStore: this.#o.store.kind,
    }
  }

  #schedule(delayMs: number): void {
    if (this.#stopping) return
    this.#timer = setTimeout(() => {
      this.#current = this.check().finally(() => {
        this.#current = null
        this.#schedule(this.#o.checkIntervalMs)
      })
    }, delayMs)
  }

  /** One check: refreshes if a period has passed and no other replica holds the lock. */
  async check(): Promise<PeriodicOutcome> {
    const o = this.#o
    const cycleId = randomBytes(4).toString('hex')
    const log = o.logger.child({ cycleId })
    let checkedAt = Date.now()
    if (this.#stopping) return this.#finish(log, 'cancelled', checkedAt)

    let last: number | null
    try {
      checkedAt = await o.store.now()
      last = await o.store.get()
    } catch (error) {
      return this.#unavailable(log, checkedAt, error)
    }
    if (last !== null && checkedAt - last < o.intervalMs) return this.#finish(log, 'not_due', checkedAt)

    let lock: HeldLock | null
    try {
      lock = await o.locks.tryAcquire(o.lockName, o.lockTtlMs)
    } catch (error) {
      if (error instanceof LockUnavailableError) return this.#unavailable(log, checkedAt, error)
      return this.#finish(log, 'failed', checkedAt, error as Error)
    }
    this.#backendUp(log)
    if (!lock) return this.#finish(log, 'locked_elsewhere', checkedAt)

    const signal = AbortSignal.any([lock.signal, this.#cancel.signal])
    try {
      // Another replica may have finished a refresh between our first look and taking the lock.
      const lastNow = await o.store.get()
      if (lastNow !== null && checkedAt - lastNow < o.intervalMs)
        return this.#finish(log, 'not_due', checkedAt)

      log.info({ event: 'periodic_refresh_start', lock: o.lockName }, 'periodic refresh started')
      await o.history.refreshPeriodic({ trigger: 'periodic', runId: cycleId, signal })
      this.#lastRefreshedAt = checkedAt
      try {
        // Expires after two periods, as the seed's key does.
        await o.store.set(checkedAt, 2 * o.intervalMs)
      } catch (error) {
        log.warn(
          { err: error },
          'refreshed, but could not record the time: another replica may refresh again',
        )
      }
      return this.#finish(log, 'refreshed', checkedAt)
    } catch (error) {
      const cancelled = signal.aborted || error instanceof RefreshCancelledError
      if (cancelled && lock.signal.aborted) {
        log.error({ err: lock.signal.reason }, 'periodic refresh stopped: its lock was lost')
      }
      return this.#finish(log, cancelled ? 'cancelled' : 'failed', checkedAt, error as Error)
    } finally {
      await lock.release()
    }
  }

  #unavailable(log: Logger, checkedAt: number, error: unknown): PeriodicOutcome {
    // Logged once per outage, not at every check.
    if (!this.#backendDown) {
      this.#backendDown = true
      log.warn({ err: error }, 'lock backend unreachable: periodic refresh skipped until it returns')
    }
    return this.#finish(log, 'lock_unavailable', checkedAt, error as Error)
  }

  #backendUp(log: Logger): void {
    if (!this.#backendDown) return
    this.#backendDown = false
    log.info('lock backend reachable again: periodic refresh resumes')
  }

  #finish(log: Logger, outcome: PeriodicOutcome, checkedAt: number, error?: Error): PeriodicOutcome {
    this.#lastCheckAt = checkedAt
    this.#lastOutcome = outcome
    this.#o.metrics.periodicCycles.inc({ outcome })
    const fields = { event: 'periodic_check', outcome }
    if (outcome === 'refreshed') log.info(fields, 'periodic refresh finished')
    else if (outcome === 'failed') log.error({ ...fields, err: error }, 'periodic refresh failed')
    else if (outcome === 'cancelled') log.warn(fields, 'periodic refresh cancelled')
    else log.debug(fields, 'periodic refresh not run')
    try {
      this.#o.hooks?.onPeriodicCycle?.({
        outcome,
        checkedAt: new Date(checkedAt),
        ...(error ? { error } : {}),
      })
    } catch (hookError) {
      log.warn({ err: hookError }, 'onPeriodicCycle hook threw')
    }
    return outcome
  }

  /** No further checks; the refresh in flight gets `graceMs` to finish, then is cancelled. */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true
    clearTimeout(this.#timer)
    const current = this.#current
    if (current && !(await settlesWithin(current, graceMs))) {
      this.#cancel.abort()
      await current
    }
  }
}
