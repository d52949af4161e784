import { REFRESH_REQUEST_CHANNEL, type TrackerDatabase } from '@tracker/db'
import {
  ChangeQueue,
  HistoryEngine,
  type HistoryObserver,
  type HistoryRisk,
  nextTierChange,
  type ObjectStatus,
  parseHistoryChange,
  parseRefreshRequest,
  type RefreshObject,
  type TimeWindow,
} from '@tracker/history'
import { LOCK_NAMES, type LockService, RedisLockService } from '@tracker/locks'
import type { Logger } from 'pino'
import type { RefresherConfig } from './env.ts'
import { type HealthReport, type HealthServer, startHealthServer } from './http/health-server.ts'
import { RefresherMetrics } from './http/refresher-metrics.ts'
import { type ListenerStatus, RefreshListener } from './listen/notification-listener.ts'
import {
  type LastRefreshStore,
  MemoryLastRefreshStore,
  RedisLastRefreshStore,
} from './periodic/last-refresh-store.ts'
import type { PeriodicHooks, PeriodicOutcome } from './periodic/periodic-events.ts'
import { PeriodicRefresher, type PeriodicStatus } from './periodic/periodic-refresher.ts'
import { RefreshRequestServer } from './requests/refresh-request-server.ts'

export interface RefresherHooks extends HistoryObserver, PeriodicHooks {}

export interface RefresherDependencies {
  database: TrackerDatabase
  /** With a prefix (REDIS_KEY_PREFIX), every key it takes is prefixed: pass it built that way. */
  locks: LockService
  logger: Logger
  config: RefresherConfig
  hooks?: RefresherHooks
  /**
   * Where the periodic path keeps the time of its last refresh. Default: Redis (the lock service's
   * client, under its prefix) when `locks` is a RedisLockService, else memory (embedded mode).
   */
  lastRefreshStore?: LastRefreshStore
  /** The clock of the history's tier boundary (tests move it). */
  clock?: () => Date
}

export interface RefresherHealth extends HealthReport {
  listener: ListenerStatus
  aggregates: string
  refreshes: Record<RefreshObject, ObjectStatus>
  /** A change batch runs or waits to run. */
  refreshing: boolean
  periodic: PeriodicStatus
  /** Whether daily history is being lost (the daily aggregate's watermark behind the safe horizon). */
  history: HistoryRisk | null
  /** Storage settings that differ between the configuration and the database. */
  retentionMismatches: string[]
}

export interface RunningRefresher {
  readonly history: HistoryEngine
  readonly metrics: RefresherMetrics
  /** The port /health and /metrics are served on (useful with REFRESHER_HTTP_PORT=0). */
  readonly httpPort: number
  health(): RefresherHealth
  /**
   * Asks for a change to be made visible as a notification would (a window, some trackers or all);
   * without a window, every tracker's hourly tier. Resolves once it ran.
   */
  requestRefresh(window?: TimeWindow | null, trackers?: string[] | null): Promise<void>
  /** Runs one periodic check now, as the timer does. */
  checkPeriodic(): Promise<PeriodicOutcome>
  /** Stops listening, finishes or cancels the refresh in flight, releases the lock, closes the HTTP server. */
  stop(): Promise<void>
}

/**
 * Wires the history engine (packages/history) to the outside world: LISTEN on
 * refresh_location_history into the engine's change queue (the API's refresh requests, which come
 * on it too, to the request server, under the periodic refresh's lock), the periodic refresh under
 * the shared lock, a timer for the tier boundary's daily move, and /health and /metrics. The
 * database and the lock service are the caller's: stop() leaves them open.
 */
export async function startRefresher(deps: RefresherDependencies): Promise<RunningRefresher> {
  const { database, locks, config } = deps
  const logger = deps.logger.child({ component: 'refresher' })
  const metrics = new RefresherMetrics()

  const history = await HistoryEngine.open({
    database,
    retention: config.retention,
    logger,
    statementTimeoutMs: config.statementTimeoutMs,
    observers: [metrics, ...(deps.hooks ? [deps.hooks] : [])],
    ...(deps.clock ? { clock: deps.clock } : {}),
  })
  const { aggregates } = history
  if (aggregates.enabled) {
    logger.info(
      { event: 'aggregates', timescaledb: aggregates.timescaledbVersion },
      'continuous aggregate refreshes on',
    )
  } else {
    logger.warn(
      { event: 'aggregates', reason: aggregates.reason },
      `continuous aggregate refreshes off (${aggregates.reason}); only location_history is kept`,
    )
  }

  const queue = new ChangeQueue({
    engine: history,
    logger,
    minIntervalMs: config.minIntervalMs,
    onCoalesced: (n) => metrics.notificationsCoalesced.inc(n),
  })
  const store =
    deps.lastRefreshStore ??
    (locks instanceof RedisLockService
      ? new RedisLastRefreshStore(locks.redis, locks.key(LOCK_NAMES.lastAggregateRefresh))
      : new MemoryLastRefreshStore())
  const periodic = new PeriodicRefresher({
    history,
    locks,
    store,
    lockName: LOCK_NAMES.aggregateRefresh,
    intervalMs: config.periodicIntervalMs,
    checkIntervalMs: config.periodicCheckIntervalMs,
    lockTtlMs: config.lockTtlMs,
    logger,
    metrics,
    hooks: {
      onPeriodicCycle: (event) => {
        deps.hooks?.onPeriodicCycle?.(event)
        void checkRisk()
      },
    },
  })

  // The API's refresh mutation asks through the same channel; one replica serves each request.
  const requests = new RefreshRequestServer({
    history,
    database,
    locks,
    lockName: LOCK_NAMES.aggregateRefresh,
    lockTtlMs: config.lockTtlMs,
    logger,
    metrics,
  })

  const ignore = () => {}
  const listener = new RefreshListener({
    database,
    channel: REFRESH_REQUEST_CHANNEL,
    logger,
    metrics,
    onNotification: (payload) => {
      logger.debug({ event: 'notification', payload: payload.slice(0, 200) }, 'notification')
      const request = parseRefreshRequest(payload)
      if (request) {
        requests.serve(request)
        return
      }
      queue.request({ change: parseHistoryChange(payload), reason: 'notification' }).catch(ignore)
    },
    onCatchUp: (reason) => {
      logger.info({ event: 'catch_up', reason }, 'catching up on changes that may have been missed')
      queue.request({ change: null, reason }).catch(ignore)
    },
  })

  // The tier boundary moves at midnight UTC: the day that leaves the hourly tier becomes one daily
  // point then, not at the next periodic refresh.
  let boundaryTimer: NodeJS.Timeout | undefined
  const clock = deps.clock ?? (() => new Date())
  const scheduleBoundary = () => {
    const delay = Math.max(1_000, nextTierChange(clock()).getTime() - clock().getTime() + 1_000)
    boundaryTimer = setTimeout(() => {
      history
        .upkeep([], { trigger: 'periodic', runId: 'tier-boundary', signal: new AbortController().signal })
        .catch((error) =>
          logger.error({ err: error }, 'moving the tier boundary failed; the next refresh retries'),
        )
        .finally(scheduleBoundary)
    }, delay)
    boundaryTimer.unref()
  }

  // Refreshed on every periodic check: /health is synchronous.
  let risk: HistoryRisk | null = null
  const checkRisk = async () => {
    try {
      risk = await history.historyRisk()
      metrics.historyLosing.set(risk.losing ? 1 : 0)
      if (risk.losing) {
        logger.error(
          { event: 'history_loss', dailyWatermark: risk.dailyWatermark, safeHorizon: risk.safeHorizon },
          'daily history is being lost: the daily aggregate has not materialized days whose raw reports retention is dropping',
        )
      }
    } catch (error) {
      logger.warn({ err: error }, 'could not read the daily watermark')
    }
  }

  const health = (): RefresherHealth => {
    const listening = listener.status()
    const degraded = risk?.losing || history.retentionMismatches.length > 0
    return {
      status: !listening.connected ? 'down' : degraded ? 'degraded' : 'ok',
      listener: listening,
      aggregates: aggregates.enabled ? 'enabled' : `disabled: ${aggregates.reason}`,
      refreshes: history.status(),
      refreshing: queue.busy,
      periodic: periodic.status(),
      history: risk,
      retentionMismatches: history.retentionMismatches,
    }
  }

  let http: HealthServer | undefined
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      logger.info({ event: 'stopping' }, 'stopping')
      clearTimeout(boundaryTimer)
      await listener.stop()
      await Promise.all([
        periodic.stop(config.shutdownGraceMs),
        queue.stop(config.shutdownGraceMs),
        requests.stop(config.shutdownGraceMs),
      ])
      await http?.close()
      logger.info({ event: 'stopped' }, 'stopped')
    })()
    return stopping
  }

  try {
    await checkRisk()
    await listener.start()
    periodic.start()
    scheduleBoundary()
    http = await startHealthServer({ host: config.httpHost, port: config.httpPort, health, metrics, logger })
  } catch (error) {
    await stop()
    throw error
  }

  return {
    history,
    metrics,
    httpPort: http.port,
    health,
    requestRefresh: (window = null, trackers = null) =>
      queue.request({ change: window ? { window, trackers } : null, reason: 'manual' }),
    checkPeriodic: () => periodic.check(),
    stop,
  }
}
