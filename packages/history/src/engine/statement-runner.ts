import { type Database, type Kysely, type Logger, sql, type TrackerDatabase } from '@tracker/db'
import type { TimeWindow } from '../windows.ts'
import {
  type HistoryObserver,
  RefreshCancelledError,
  type RefreshEvent,
  type RefreshObject,
  type RefreshOutcomeLabel,
  type RunContext,
} from './events.ts'

export interface ObjectStatus {
  lastSuccessAt: string | null
  ageSeconds: number | null
}

type Outcome = 'refreshed' | 'skipped_concurrent'

/**
 * Runs each engine statement on its own connection outside any transaction (refresh_continuous_
 * aggregate refuses transaction blocks), with the statement timeout, and records it: one log line,
 * the last success per object, the observer. When `signal` aborts (shutdown past its grace, a lost
 * lock) the statement in flight is cancelled with pg_cancel_backend; the embedded engine's single
 * session cannot be interrupted, so there it finishes and nothing further starts.
 */
export class StatementRunner {
  readonly #database: TrackerDatabase
  readonly #logger: Logger
  readonly #statementTimeoutMs: number | undefined
  readonly #observers: HistoryObserver[]
  readonly #lastSuccess = new Map<RefreshObject, Date>()

  constructor(options: {
    database: TrackerDatabase
    logger: Logger
    statementTimeoutMs?: number
    observers: HistoryObserver[]
  }) {
    this.#database = options.database
    this.#logger = options.logger
    this.#statementTimeoutMs = options.statementTimeoutMs
    this.#observers = options.observers
  }

  async run<T extends { outcome: Outcome }>(
    object: RefreshObject,
    window: TimeWindow | null,
    context: RunContext,
    fn: (session: Kysely<Database>) => Promise<T>,
    describe?: (result: T) => Pick<RefreshEvent, 'rows'>,
  ): Promise<T> {
    const { signal } = context
    if (signal.aborted) throw new RefreshCancelledError(`refresh of ${object} cancelled before it started`)
    const started = performance.now()
    const event = (outcome: RefreshOutcomeLabel, extra: Partial<RefreshEvent> = {}): RefreshEvent => ({
      object,
      outcome,
      trigger: context.trigger,
      runId: context.runId,
      window,
      durationMs: performance.now() - started,
      finishedAt: new Date(),
      ...extra,
    })
    try {
      const result = await this.#inCancellableSession(signal, fn)
      this.record(event(result.outcome, describe?.(result) ?? {}))
      return result
    } catch (error) {
      this.record(event(signal.aborted ? 'cancelled' : 'failed', { error: error as Error }))
      if (signal.aborted) throw new RefreshCancelledError(`refresh of ${object} cancelled`, { cause: error })
      throw error
    }
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

  #inCancellableSession<T>(signal: AbortSignal, fn: (session: Kysely<Database>) => Promise<T>): Promise<T> {
    const database = this.#database
    return database.withSession(
      async (session) => {
        if (database.mode !== 'postgres') return fn(session)
        const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(session)
        const pid = rows[0]!.pid
        // A statement that starts just after a cancel would run on: keep cancelling until fn ends.
        let repeat: NodeJS.Timeout | undefined
        const cancel = () => {
          void this.#cancelBackend(pid)
          repeat = setInterval(() => void this.#cancelBackend(pid), 200)
        }
        signal.addEventListener('abort', cancel, { once: true })
        try {
          if (signal.aborted) throw new RefreshCancelledError('cancelled')
          return await fn(session)
        } finally {
          signal.removeEventListener('abort', cancel)
          clearInterval(repeat)
        }
      },
      this.#statementTimeoutMs === undefined ? {} : { statementTimeoutMs: this.#statementTimeoutMs },
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

  record(event: RefreshEvent): void {
    const { object, outcome, trigger, runId, window, durationMs } = event
    if (outcome === 'refreshed') this.#lastSuccess.set(object, event.finishedAt)
    const fields = {
      event: 'refresh',
      runId,
      object,
      outcome,
      trigger,
      ...(window ? { from: window.from.toISOString(), to: window.to.toISOString() } : {}),
      ...(event.rows ? { rows: event.rows } : {}),
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
    for (const observer of this.#observers) {
      try {
        observer.onRefresh?.(event)
      } catch (error) {
        this.#logger.warn({ err: error }, 'a history observer threw')
      }
    }
  }
}
