import { randomBytes } from 'node:crypto'
import { buildApp, createApiToken, parseApiEnv } from '@tracker/api'
import { KeyOpener } from '@tracker/db'
import { createTestDatabase, insertTracker, type TestDatabase, testEnv } from '@tracker/db/testing'
import { createLockService, type HeldLock, RedisLockService } from '@tracker/locks'
import {
  type PeriodicCycleEvent,
  parseRefresherEnv,
  type RunningRefresher,
  startRefresher,
} from '@tracker/refresher'
import pino from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

// The API and the refresher of one deployment, each configured from the same environment as it is
// deployed (REDIS_URL, REDIS_KEY_PREFIX) and building its locks as its main does: the API's refresh
// mutation and the refresher's periodic refresh take the same Redis key and exclude each other.
type FastifyInstance = Awaited<ReturnType<typeof buildApp>>
const silent = pino({ level: 'silent' })
// One database, so one key: the API refuses another than the one the database first saw.
// The API holds the public key tracker keys are sealed to (these tests seal none).
const KEY_SEALING_PUBLIC_KEY = KeyOpener.generate().publicKey
let database: TestDatabase
const closers: (() => Promise<unknown>)[] = []
beforeAll(async () => {
  database = await createTestDatabase()
})
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})
afterAll(() => database?.close())

function deploymentEnv(prefix: string): Record<string, string> {
  return {
    REDIS_URL: testEnv.redisUrl,
    REDIS_KEY_PREFIX: prefix,
    KEY_SEALING_PUBLIC_KEY,
    LOG_LEVEL: 'silent',
    API_REFRESH_LOCK_WAIT: '30 s',
    PERIODIC_REFRESH_INTERVAL: '1 hour',
    PERIODIC_REFRESH_CHECK_INTERVAL: '50 ms',
    REFRESH_MIN_INTERVAL: '0',
    REFRESHER_HTTP_PORT: '0',
    REFRESHER_HTTP_HOST: '127.0.0.1',
  }
}

/**
 * The app's own lock service, whose lock, once taken, is held until `open()`: the app's real code
 * path holds the real Redis lock for as long as the test needs (the instance stays what the app
 * built, so the refresher still sees a RedisLockService).
 */
function holdOnceTaken(locks: RedisLockService) {
  let open!: () => void
  const gate = new Promise<void>((resolve) => {
    open = resolve
  })
  const taken: string[] = []
  const tryAcquire = locks.tryAcquire.bind(locks)
  locks.tryAcquire = async (name: string, ttlMs: number): Promise<HeldLock | null> => {
    const held = await tryAcquire(name, ttlMs)
    if (held) {
      taken.push(name)
      await gate
    }
    return held
  }
  return { open, taken }
}

async function startApi(
  env: Record<string, string>,
): Promise<{ app: FastifyInstance; locks: RedisLockService }> {
  const config = parseApiEnv(env)
  const locks = createLockService({ redisUrl: config.redisUrl, keyPrefix: config.redisKeyPrefix })
  if (!(locks instanceof RedisLockService)) throw new Error('REDIS_URL is set: the API takes Redis locks')
  closers.push(() => locks.close())
  const app = await buildApp({ database, locks, logger: silent, config })
  closers.push(() => app.close())
  return { app, locks }
}

async function startRefresherOf(
  env: Record<string, string>,
  cycles: PeriodicCycleEvent[],
): Promise<{ refresher: RunningRefresher; locks: RedisLockService; hold: ReturnType<typeof holdOnceTaken> }> {
  const config = parseRefresherEnv(env)
  const locks = createLockService({ redisUrl: config.redisUrl, keyPrefix: config.redisKeyPrefix })
  if (!(locks instanceof RedisLockService))
    throw new Error('REDIS_URL is set: the refresher takes Redis locks')
  closers.push(() => locks.close())
  const hold = holdOnceTaken(locks)
  const refresher = await startRefresher({
    database,
    locks,
    logger: silent,
    config,
    hooks: { onPeriodicCycle: (event) => cycles.push(event) },
  })
  closers.push(() => refresher.stop())
  return { refresher, locks, hold }
}

async function refreshMutation(app: FastifyInstance, trackerId: string) {
  const { token } = await createApiToken(database.db, {
    name: `refresh ${randomBytes(3).toString('hex')}`,
    scope: 'write',
  })
  const response = await app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { authorization: `Bearer ${token}` },
    payload: {
      query: `mutation { refreshLocationHistoryAggregates(trackerId: "${trackerId}", startTime: "${new Date(
        Date.now() - 3_600_000,
      ).toISOString()}", endTime: "${new Date().toISOString()}") }`,
    },
  })
  return response.json()
}

describe('with REDIS_KEY_PREFIX set, the API and the refresher share one refresh lock', () => {
  it("the API's refresh waits while the refresher's periodic refresh holds the prefixed key", async () => {
    const prefix = `test:shared-lock:${randomBytes(4).toString('hex')}:`
    const key = `${prefix}location_history:aggregate_refresh_lock`
    const env = deploymentEnv(prefix)
    const cycles: PeriodicCycleEvent[] = []
    const { locks, hold } = await startRefresherOf(env, cycles)
    await expect.poll(() => hold.taken).toEqual(['location_history:aggregate_refresh_lock'])
    expect(await locks.redis.exists(key)).toBe(1)

    const api = await startApi(env)
    const tracker = await insertTracker(database.db)
    let settled = false
    const mutation = refreshMutation(api.app, tracker.id).finally(() => {
      settled = true
    })
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect(settled).toBe(false)
    expect(await locks.redis.exists(key)).toBe(1)

    hold.open()
    expect(await mutation).toEqual({ data: { refreshLocationHistoryAggregates: true } })
    await expect.poll(() => cycles.some((c) => c.outcome === 'refreshed')).toBe(true)
  })

  it('while another replica of the deployment holds the key, the periodic refresh skips and the mutation waits', async () => {
    const prefix = `test:shared-lock:${randomBytes(4).toString('hex')}:`
    const key = `${prefix}location_history:aggregate_refresh_lock`
    const env = deploymentEnv(prefix)
    // Built as the apps build theirs, from the same environment.
    const replica = createLockService({
      redisUrl: parseRefresherEnv(env).redisUrl,
      keyPrefix: parseApiEnv(env).redisKeyPrefix,
    })
    closers.push(() => replica.close())
    const held = await replica.tryAcquire('location_history:aggregate_refresh_lock', 60_000)
    expect(held).not.toBeNull()
    expect(await (replica as RedisLockService).redis.exists(key)).toBe(1)

    const cycles: PeriodicCycleEvent[] = []
    const { hold } = await startRefresherOf(env, cycles)
    hold.open()
    const api = await startApi(env)
    const tracker = await insertTracker(database.db)
    let settled = false
    const mutation = refreshMutation(api.app, tracker.id).finally(() => {
      settled = true
    })
    await expect
      .poll(() => cycles.filter((c) => c.outcome === 'locked_elsewhere').length)
      .toBeGreaterThanOrEqual(3)
    expect(cycles.every((c) => c.outcome === 'locked_elsewhere')).toBe(true)
    expect(settled).toBe(false)

    await held!.release()
    expect(await mutation).toEqual({ data: { refreshLocationHistoryAggregates: true } })
    await expect.poll(() => cycles.some((c) => c.outcome === 'refreshed'), { timeout: 15_000 }).toBe(true)
  })

  it('another deployment (another prefix) holding its own lock holds up neither', async () => {
    const prefix = `test:shared-lock:${randomBytes(4).toString('hex')}:`
    const other = createLockService({ redisUrl: testEnv.redisUrl, keyPrefix: `${prefix}other:` })
    closers.push(() => other.close())
    const held = await other.tryAcquire('location_history:aggregate_refresh_lock', 60_000)
    expect(held).not.toBeNull()
    closers.push(() => held!.release())

    const env = deploymentEnv(prefix)
    const cycles: PeriodicCycleEvent[] = []
    const { hold } = await startRefresherOf(env, cycles)
    hold.open()
    const api = await startApi(env)
    const tracker = await insertTracker(database.db)
    expect(await refreshMutation(api.app, tracker.id)).toEqual({
      data: { refreshLocationHistoryAggregates: true },
    })
    await expect.poll(() => cycles.some((c) => c.outcome === 'refreshed')).toBe(true)
  })
})
