import {
  type AggregateName,
  Mutex,
  refreshContinuousAggregate,
  refreshLocationHistory,
  sql,
  type TimeWindow,
  type TrackerDatabase,
} from '@tracker/db'
import type { Logger } from 'pino'
import type { RefresherMetrics } from '../http/refresher-metrics.ts'
import type {
  RefreshEvent,
  RefresherHooks,
  RefreshObject,
  RefreshOutcomeLabel,
  RefreshTrigger,
} from './refresh-events.ts'

/** The connection `withSession` lends (a Kysely instance), named without depending on kysely. */
type Session = Parameters<Parameters<TrackerDatabase['withSession']>[0]>[0]

export class RefreshCancelledError extends Error {
  readonly code = 'REFRESH_CANCELLED'
}

/** Why a refresh runs, which run it belongs to (for following it in the logs), and how to cancel it. */
export interface RunContext {
  trigger: RefreshTrigger
  /** The notification batch, periodic cycle or command this refresh is part of. */
  runId: string
  signal: AbortSignal
}

export interface RefreshRunnerOptions {
  database: TrackerDatabase
  logger: Logger
  metrics: RefresherMetrics
  /** statement_timeout of each refresh statement. */
  statementTimeoutMs: number
  hooks?: RefresherHooks
}

export interface ObjectStatus {
  lastSuccessAt: string | null
  ageSeconds: number | null
}

/**
 * Runs one refresh statement at a time per call, each on its own connection outside any transaction
 * (refresh_continuous_aggregate refuses transaction blocks), with the refresh statement timeout, and
 * records it: metrics, one log line, the last success per object (for /health) and the hooks.
 *
 * Cancellation: when `signal` aborts (shutdown past its grace, or the periodic lock was lost), the
 * statement in flight is cancelled with pg_cancel_backend. The embedded engine has a single session
 * that cannot be interrupted, so there the refresh finishes and nothing further starts.
 */
export class RefreshRunner {
  readonly #database: TrackerDatabase
  readonly #logger: Logger
  readonly #metrics: RefresherMetrics
  readonly #statementTimeoutMs: number
  readonly #hooks: RefresherHooks
  readonly #lastSuccess = new Map<RefreshObject, Date>()
  // Our own aggregate refreshes take turns: overlapping ones would only collide (55P03) or queue
  // inside TimescaleDB. Other replicas' collisions are handled as skipped_concurrent.
  readonly #aggregateMutex = new Mutex()

  constructor(options: RefreshRunnerOptions) {
    this.#database = options.database
    this.#logger = options.logger
    this.#metrics = options.metrics
    this.#statementTimeoutMs = options.statementTimeoutMs
    this.#hooks = options.hooks ?? {}
  }

  refreshAggregate(
    aggregate: AggregateName,
    window: TimeWindow,
    context: RunContext,
  ): Promise<'refreshed' | 'skipped_concurrent'> {
    return this.#aggregateMutex.run(() =>
      this.#run(aggregate, window, context, (session) =>
        refreshContinuousAggregate(session, aggregate, window),
      ),
    )
  }

  async refreshLocationHistory(context: RunContext): Promise<void> {
    await this.#run('location_history', null, context, async (session) => {
      await refreshLocationHistory(session)
      return 'refreshed' as const
    })
  }

  /** A window that retention leaves nothing of: recorded, so a skipped late report is visible in metrics. */
  recordSkippedOutsideSafeWindow(object: AggregateName, window: TimeWindow, context: RunContext): void {
    this.#record({
      object,
      outcome: 'skipped_outside_safe_window',
      trigger: context.trigger,
      runId: context.runId,
      window,
      durationMs: 0,
      finishedAt: new Date(),
    })
  }

  status(now = new Date()): Record<RefreshObject, ObjectStatus> {
    const of = (object: RefreshObject): ObjectStatus => {
      const at = this.#lastSuccess.get(object)
      return at
        ? {
            lastSuccessAt: at.toISOString(),
            ageSeconds: Math.max(0, Math.round((now.getTime() - at.getTime()) / 100) / 10),
          }
        : { lastSuccessAt: null, ageSeconds: null }
    }
    return {
      location_history: of('location_history'),
      location_history_hourly: of('location_history_hourly'),
      location_history_daily: of('location_history_daily'),
    }
  }

  async #run<T extends 'refreshed' | 'skipped_concurrent'>(
    object: RefreshObject,
    window: TimeWindow | null,
    { trigger, runId, signal }: RunContext,
    fn: (session: Session) => Promise<T>,
  ): Promise<T> {
    if (signal.aborted) throw new RefreshCancelledError(`refresh of ${object} cancelled before it started`)
    const started = performance.now()
    const event = (outcome: RefreshOutcomeLabel, error?: Error): RefreshEvent => ({
      object,
      outcome,
      trigger,
      runId,
      window,
      durationMs: performance.now() - started,
      finishedAt: new Date(),
      ...(error ? { error } : {}),
    })
    try {
      const outcome = await this.#inCancellableSession(signal, fn)
      this.#record(event(outcome))
      return outcome
    } catch (error) {
      this.#record(event(signal.aborted ? 'cancelled' : 'failed', error as Error))
      if (signal.aborted) {
        throw new RefreshCancelledError(`refresh of ${object} cancelled`, { cause: error })
      }
      throw error
    }
  }

  #inCancellableSession<T>(signal: AbortSignal, fn: (session: Session) => Promise<T>): Promise<T> {
    const database = this.#database
    return database.withSession(
      async (session) => {
        if (database.mode !== 'postgres') return fn(session)
        const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(session)
        const pid = rows[0]!.pid
        const cancel = () => void this.#cancelBackend(pid)
        signal.addEventListener('abort', cancel, { once: true })
        try {
          if (signal.aborted) throw new RefreshCancelledError('cancelled')
          return await fn(session)
        } finally {
          signal.removeEventListener('abort', cancel)
        }
      },
      { statementTimeoutMs: this.#statementTimeoutMs },
    )
  }

  async #cancelBackend(pid: number): Promise<void> {
    try {
      // Only while it is still busy: an idle pooled connection may already serve something else.
      await sql`SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid = ${pid} AND state = 'active'`.execute(
        this.#database.db,
      )
    } catch (error) {
      this.#logger.warn({ err: error, pid }, 'could not cancel the refresh in flight')
    }
  }

  #record(event: RefreshEvent): void {
    const { object, outcome, trigger, runId, window, durationMs } = event
    this.#metrics.refreshes.inc({ object, outcome })
    if (outcome === 'refreshed' || outcome === 'skipped_concurrent') {
      this.#metrics.refreshDuration.observe({ object }, durationMs / 1000)
    }
    if (outcome === 'refreshed') {
      this.#lastSuccess.set(object, event.finishedAt)
      this.#metrics.lastSuccess.set({ object }, event.finishedAt.getTime() / 1000)
    }
    const fields = {
      event: 'refresh',
      runId,
      object,
      outcome,
      trigger,
      ...(window ? { from: window.from.toISOString(), to: window.to.toISOString() } : {}),
      durationMs: Math.round(durationMs),
    }
    switch (outcome) {
      case 'refreshed':
        this.#logger.info(fields, `${object} refreshed`)
        break
      case 'skipped_concurrent':
        this.#logger.info(fields, `${object} skipped: another session is refreshing this range`)
        break
      case 'skipped_outside_safe_window':
        // Normal for the hourly tier (it only serves recent hours); for the daily tier it means a
        // report older than raw retention can vouch for, which the importer should have refused.
        ;(object === 'location_history_daily' ? this.#logger.warn : this.#logger.debug).call(
          this.#logger,
          fields,
          `${object} not refreshed: the window lies outside what may safely be refreshed`,
        )
        break
      case 'cancelled':
        this.#logger.warn(fields, `${object} refresh cancelled`)
        break
      case 'failed':
        this.#logger.error({ ...fields, err: event.error }, `${object} refresh failed`)
        break
    }
    try {
      this.#hooks.onRefresh?.(event)
    } catch (error) {
      this.#logger.warn({ err: error }, 'onRefresh hook threw')
    }
  }
}
