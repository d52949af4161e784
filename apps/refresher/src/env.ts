import {
  type ConnectOptions,
  connectOptionsFromEnv,
  databaseEnvSchema,
  durationVar,
  envIssues,
  formatDuration,
  logLevelVar,
  parseDuration,
  portVar,
  RETENTION_ENV,
  type RetentionConfig,
  redactUrl,
  redisKeyPrefixVar,
  redisUrlVar,
  retentionConfigFromEnv,
} from '@tracker/db'
import { z } from 'zod'

export const refresherEnvSchema = databaseEnvSchema('REFRESHER').extend({
  REDIS_URL: redisUrlVar(),
  // Lets several deployments (or test runs) share one Redis without sharing locks.
  REDIS_KEY_PREFIX: redisKeyPrefixVar(),
  REFRESH_STATEMENT_TIMEOUT: durationVar('REFRESH_STATEMENT_TIMEOUT', '20 minutes'),
  REFRESH_MIN_INTERVAL: durationVar('REFRESH_MIN_INTERVAL', '250 milliseconds', { allowZero: true }),
  PERIODIC_REFRESH_INTERVAL: durationVar('PERIODIC_REFRESH_INTERVAL', '1 hour'),
  PERIODIC_REFRESH_CHECK_INTERVAL: z.string().optional(),
  REFRESH_LOCK_TTL: durationVar('REFRESH_LOCK_TTL', '2 minutes'),
  SHUTDOWN_GRACE: durationVar('SHUTDOWN_GRACE', '10 seconds', { allowZero: true }),
  REFRESHER_HTTP_PORT: portVar('REFRESHER_HTTP_PORT', 9466),
  REFRESHER_HTTP_HOST: z.string().min(1, 'REFRESHER_HTTP_HOST must not be empty').default('0.0.0.0'),
  LOG_LEVEL: logLevelVar(),
})

export interface RefresherConfig {
  connect: ConnectOptions
  redisUrl: string | undefined
  redisKeyPrefix: string
  /** statement_timeout of every refresh statement (the seed: 20 minutes). */
  statementTimeoutMs: number
  /** Least time between the end of one location_history refresh and the start of the next. */
  minIntervalMs: number
  /** At most one periodic refresh per this interval across every replica (the seed: 1 hour). */
  periodicIntervalMs: number
  /** How often each replica looks whether the periodic refresh is due. */
  periodicCheckIntervalMs: number
  lockTtlMs: number
  /** How long stop() lets a refresh in flight finish before cancelling it. */
  shutdownGraceMs: number
  httpPort: number
  httpHost: string
  logLevel: string
  retention: RetentionConfig
}

export class RefresherConfigError extends Error {
  readonly code = 'INVALID_CONFIG'
}

/** The refresher's one reader of the environment: parsed once, bad values named. */
export function parseRefresherEnv(env: Record<string, string | undefined>): RefresherConfig {
  const parsed = refresherEnvSchema.safeParse(env)
  if (!parsed.success) {
    const problems = envIssues(parsed.error).map((problem) => `  - ${problem}`)
    throw new RefresherConfigError(`Invalid refresher configuration:\n${problems.join('\n')}`)
  }
  const e = parsed.data
  let retention: RetentionConfig
  try {
    retention = retentionConfigFromEnv(env)
  } catch (error) {
    throw new RefresherConfigError((error as Error).message)
  }
  // Checking a few times per period keeps the period accurate without polling Redis needlessly.
  let periodicCheckIntervalMs = Math.min(60_000, Math.max(50, Math.floor(e.PERIODIC_REFRESH_INTERVAL / 4)))
  if (e.PERIODIC_REFRESH_CHECK_INTERVAL) {
    try {
      periodicCheckIntervalMs = parseDuration(e.PERIODIC_REFRESH_CHECK_INTERVAL)
    } catch (error) {
      throw new RefresherConfigError(
        `Invalid refresher configuration:\n  - PERIODIC_REFRESH_CHECK_INTERVAL: ${(error as Error).message}`,
      )
    }
  }
  return {
    connect: connectOptionsFromEnv(e, 'REFRESHER'),
    redisUrl: e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    statementTimeoutMs: e.REFRESH_STATEMENT_TIMEOUT,
    minIntervalMs: e.REFRESH_MIN_INTERVAL,
    periodicIntervalMs: e.PERIODIC_REFRESH_INTERVAL,
    periodicCheckIntervalMs,
    lockTtlMs: e.REFRESH_LOCK_TTL,
    shutdownGraceMs: e.SHUTDOWN_GRACE,
    httpPort: e.REFRESHER_HTTP_PORT,
    httpHost: e.REFRESHER_HTTP_HOST,
    logLevel: e.LOG_LEVEL,
    retention,
  }
}

const ms = (value: number) => (value === 0 ? '0' : formatDuration(value))

/** The configuration as it may be logged: no secrets. */
export function describeConfig(config: RefresherConfig): Record<string, unknown> {
  return {
    database:
      config.connect.mode === 'postgres'
        ? { mode: 'postgres', url: redactUrl(config.connect.url), poolSize: config.connect.poolSize }
        : { mode: 'embedded', dataDir: config.connect.dataDir },
    redis: config.redisUrl
      ? redactUrl(config.redisUrl)
      : 'none (in-process lock, last refresh kept in memory)',
    redisKeyPrefix: config.redisKeyPrefix || undefined,
    statementTimeout: ms(config.statementTimeoutMs),
    minInterval: ms(config.minIntervalMs),
    periodicInterval: ms(config.periodicIntervalMs),
    periodicCheckInterval: ms(config.periodicCheckIntervalMs),
    lockTtl: ms(config.lockTtlMs),
    shutdownGrace: ms(config.shutdownGraceMs),
    http: `${config.httpHost}:${config.httpPort}`,
    retention: Object.fromEntries(
      (Object.keys(RETENTION_ENV) as (keyof RetentionConfig)[]).map((key) => [
        RETENTION_ENV[key],
        ms(config.retention[key]),
      ]),
    ),
  }
}
