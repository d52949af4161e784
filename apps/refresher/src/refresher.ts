import type { TimeWindow, TrackerDatabase } from '@tracker/db'
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
import { PeriodicRefresher, type PeriodicStatus } from './periodic/periodic-refresher.ts'
import { CoalescedRefresher } from './refresh/coalesced-refresher.ts'
import type { PeriodicOutcome, RefresherHooks, RefreshObject } from './refresh/refresh-events.ts'
import { parseRefreshPayload, REFRESH_CHANNEL } from './refresh/refresh-request.ts'
import { type ObjectStatus, RefreshRunner } from './refresh/refresh-runner.ts'
import { type AggregateSupport, detectAggregateSupport } from './refresh/timescale-detection.ts'

export interface RefresherDependencies {
  database: TrackerDatabase
  locks: LockService
  logger: Logger
  config: RefresherConfig
  hooks?: RefresherHooks
  /**
   * Where the periodic path keeps the time of its last refresh. Default: Redis (the lock service's
   * client) when `locks` is a RedisLockService, else memory (one process: embedded mode).
   */
  lastRefreshStore?: LastRefreshStore
}

export interface RefresherHealth extends HealthReport {
  status: 'ok' | 'down'
  listener: ListenerStatus
  aggregates: string
  refreshes: Record<RefreshObject, ObjectStatus>
  /** A location_history refresh runs or waits to run. */
  refreshing: boolean
  periodic: PeriodicStatus
}

export interface RunningRefresher {
  readonly aggregates: AggregateSupport
  readonly metrics: RefresherMetrics
  /** The port /health and /metrics are served on (useful with REFRESHER_HTTP_PORT=0). */
  readonly httpPort: number
  health(): RefresherHealth
  /** Asks for a refresh as a notification would (window: late reports there); resolves once it ran. */
  requestRefresh(window?: TimeWindow | null): Promise<void>
  /** Runs one periodic check now, as the timer does. */
  checkPeriodic(): Promise<PeriodicOutcome>
  /** Stops listening, finishes or cancels the refresh in flight, releases the lock, closes the HTTP server. */
  stop(): Promise<void>
}

/**
 * Starts the refresher: LISTEN on refresh_location_history with coalesced refreshes, the periodic
 * aggregate refresh under the lock, and the health/metrics server. The database and the lock
 * service are the caller's: stop() leaves them open.
 */
export async function startRefresher(deps: RefresherDependencies): Promise<RunningRefresher> {
  const { database, locks, config } = deps
  const logger = deps.logger.child({ component: 'refresher' })
  const metrics = new RefresherMetrics()

  const aggregates = await detectAggregateSupport(database)
  if (aggregates.enabled) {
    logger.info(
      { event: 'aggregates', timescaledb: aggregates.timescaledbVersion },
      'continuous aggregate refreshes on',
    )
  } else {
    logger.warn(
      { event: 'aggregates', reason: aggregates.reason },
      `continuous aggregate refreshes off (${aggregates.reason}); only location_history is refreshed`,
    )
  }

  const runner = new RefreshRunner({
    database,
    logger,
    metrics,
    statementTimeoutMs: config.statementTimeoutMs,
    ...(deps.hooks ? { hooks: deps.hooks } : {}),
  })
  const coalesced = new CoalescedRefresher({
    database,
    runner,
    retention: config.retention,
    aggregatesEnabled: aggregates.enabled,
    minIntervalMs: config.minIntervalMs,
    logger,
    metrics,
  })
  const prefix = config.redisKeyPrefix
  const store =
    deps.lastRefreshStore ??
    (locks instanceof RedisLockService
      ? new RedisLastRefreshStore(locks.redis, `${prefix}${LOCK_NAMES.lastAggregateRefresh}`)
      : new MemoryLastRefreshStore())
  const periodic = new PeriodicRefresher({
    runner,
    coalesced,
    locks,
    store,
    lockName: `${prefix}${LOCK_NAMES.aggregateRefresh}`,
    retention: config.retention,
    aggregatesEnabled: aggregates.enabled,
    intervalMs: config.periodicIntervalMs,
    checkIntervalMs: config.periodicCheckIntervalMs,
    lockTtlMs: config.lockTtlMs,
    logger,
    metrics,
    ...(deps.hooks ? { hooks: deps.hooks } : {}),
  })

  // Whatever was missed while not listening: late reports anywhere in the periodic windows (only
  // invalidated buckets are recomputed, so this is cheap when nothing was missed), then location_history.
  const catchUpWindow = (): TimeWindow | null => {
    if (!aggregates.enabled) return null
    const reach = Math.max(config.retention.hourlyRefreshWindowMs, config.retention.dailyRefreshWindowMs)
    const now = Date.now()
    return { from: new Date(now - reach), to: new Date(now) }
  }
  const ignore = () => {}
  const listener = new RefreshListener({
    database,
    channel: REFRESH_CHANNEL,
    logger,
    metrics,
    onNotification: (payload) => {
      logger.debug({ event: 'notification', payload: payload.slice(0, 200) }, 'notification')
      coalesced.request({ window: parseRefreshPayload(payload), reason: 'notification' }).catch(ignore)
    },
    onCatchUp: (reason) => {
      logger.info({ event: 'catch_up', reason }, 'catching up on notifications that may have been missed')
      coalesced.request({ window: catchUpWindow(), reason }).catch(ignore)
    },
  })

  const health = (): RefresherHealth => {
    const listening = listener.status()
    return {
      status: listening.connected ? 'ok' : 'down',
      listener: listening,
      aggregates: aggregates.enabled ? 'enabled' : `disabled: ${aggregates.reason}`,
      refreshes: runner.status(),
      refreshing: coalesced.busy,
      periodic: periodic.status(),
    }
  }

  let http: HealthServer | undefined
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      logger.info({ event: 'stopping' }, 'stopping')
      await listener.stop()
      await Promise.all([periodic.stop(config.shutdownGraceMs), coalesced.stop(config.shutdownGraceMs)])
      await http?.close()
      logger.info({ event: 'stopped' }, 'stopped')
    })()
    return stopping
  }

  try {
    await listener.start()
    periodic.start()
    http = await startHealthServer({
      host: config.httpHost,
      port: config.httpPort,
      health,
      metrics,
      logger,
    })
  } catch (error) {
    await stop()
    throw error
  }
  const port = http.port

  return {
    aggregates,
    metrics,
    httpPort: port,
    health,
    requestRefresh: (window = null) => coalesced.request({ window, reason: 'manual' }),
    checkPeriodic: () => periodic.check(),
    stop,
  }
}
