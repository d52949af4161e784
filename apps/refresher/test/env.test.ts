import { DEFAULT_RETENTION } from '@tracker/db'
import { describe, expect, it } from 'vitest'
import { describeConfig, parseRefresherEnv, RefresherConfigError } from '../src/index.ts'

describe('parseRefresherEnv', () => {
  it('has the documented defaults: embedded database, no Redis, the seed timings', () => {
    const config = parseRefresherEnv({})
    expect(config).toMatchObject({
      connect: { mode: 'embedded', dataDir: '.tracker-data' },
      redisUrl: undefined,
      redisKeyPrefix: '',
      statementTimeoutMs: 20 * 60_000,
      minIntervalMs: 250,
      periodicIntervalMs: 3_600_000,
      periodicCheckIntervalMs: 60_000,
      lockTtlMs: 120_000,
      shutdownGraceMs: 10_000,
      httpPort: 9466,
      httpHost: '0.0.0.0',
      logLevel: 'info',
      retention: DEFAULT_RETENTION,
    })
  })

  it('connects to PostgreSQL with the refresher pool settings when DATABASE_URL is set', () => {
    const config = parseRefresherEnv({
      DATABASE_URL: 'postgres://u:secret@db:5432/tracker',
      REFRESHER_DB_POOL_SIZE: '3',
      REFRESHER_DB_STATEMENT_TIMEOUT_MS: '5000',
    })
    expect(config.connect).toMatchObject({
      mode: 'postgres',
      url: 'postgres://u:secret@db:5432/tracker',
      poolSize: 3,
      statementTimeoutMs: 5000,
      applicationName: 'tracker-refresher',
    })
  })

  it('reads durations as operators write them; 0 turns the minimum interval off', () => {
    const config = parseRefresherEnv({
      REFRESH_MIN_INTERVAL: '0',
      PERIODIC_REFRESH_INTERVAL: '30 min',
      REFRESH_LOCK_TTL: '45s',
      REFRESH_STATEMENT_TIMEOUT: '1 hour',
    })
    expect(config.minIntervalMs).toBe(0)
    expect(config.periodicIntervalMs).toBe(1_800_000)
    // A few checks per period, so a period is never overshot by much.
    expect(config.periodicCheckIntervalMs).toBe(60_000)
    expect(config.lockTtlMs).toBe(45_000)
    expect(config.statementTimeoutMs).toBe(3_600_000)
    expect(parseRefresherEnv({ PERIODIC_REFRESH_INTERVAL: '2 min' }).periodicCheckIntervalMs).toBe(30_000)
  })

  it('names every bad variable and what it should be', () => {
    let error: unknown
    try {
      parseRefresherEnv({
        DATABASE_URL: 'mysql://x',
        REDIS_URL: 'http://redis',
        REFRESH_LOCK_TTL: 'forever',
        REFRESHER_HTTP_PORT: '70000',
        LOG_LEVEL: 'loud',
      })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(RefresherConfigError)
    const message = (error as Error).message
    expect(message).toMatch(/- DATABASE_URL must be a postgres:\/\//)
    expect(message).toMatch(/- REDIS_URL must be a redis:\/\//)
    expect(message).toMatch(/- REFRESH_LOCK_TTL: "forever" is not a duration/)
    expect(message).toMatch(/- REFRESHER_HTTP_PORT must be at most 65535/)
    expect(message).toMatch(/- LOG_LEVEL must be one of/)
  })

  it('refuses a retention configuration whose refresh windows would erase history', () => {
    expect(() => parseRefresherEnv({ RAW_RETENTION: '3 days' })).toThrow(/RAW_RETENTION/)
  })

  it('logs the configuration without secrets', () => {
    const described = JSON.stringify(
      describeConfig(
        parseRefresherEnv({
          DATABASE_URL: 'postgres://u:db-secret@db/tracker',
          REDIS_URL: 'redis://:redis-secret@redis:6379',
        }),
      ),
    )
    expect(described).not.toMatch(/db-secret|redis-secret/)
    expect(described).toMatch(/postgres:\/\/u:\*\*\*@db\/tracker/)
  })
})
