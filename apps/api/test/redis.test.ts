import { randomBytes } from 'node:crypto'
import { insertTracker, testEnv } from '@tracker/db/testing'
import { type HeldLock, LOCK_NAMES, type LockService, RedisLockService } from '@tracker/locks'
import { TcpProxy } from '@tracker/locks/testing'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createTestApi, type TestApi } from './helpers.ts'

// The API against the machine's real Redis, as deployed next to a refresher: every key under the
// deployment's REDIS_KEY_PREFIX.
const inspector = new Redis(testEnv.redisUrl)
const prefix = () => `test-${randomBytes(4).toString('hex')}:`
const closing: { close(): Promise<void> }[] = []
afterEach(async () => {
  for (const c of closing.splice(0).reverse()) await c.close()
})
afterAll(() => inspector.quit())

const redisLocks = (keyPrefix: string, redis = testEnv.redisUrl) => {
  const locks = new RedisLockService({ redis, keyPrefix })
  closing.push(locks)
  return locks
}

/** The API's own lock service, counting its attempts: how the test sees the mutation waiting. */
function counted(locks: LockService): LockService & { attempts: number } {
  const wrapper = {
    kind: locks.kind,
    attempts: 0,
    tryAcquire(name: string, ttlMs: number): Promise<HeldLock | null> {
      wrapper.attempts++
      return locks.tryAcquire(name, ttlMs)
    },
    close: () => locks.close(),
  }
  return wrapper
}

const refreshMutation = (trackerId: string) =>
  `mutation { refreshLocationHistoryAggregates(trackerId: "${trackerId}", startTime: "${new Date(
    Date.now() - 3_600_000,
  ).toISOString()}", endTime: "${new Date().toISOString()}") }`

describe('two apps of one deployment sharing Redis with another deployment', () => {
  let api: TestApi
  let keyPrefix: string
  beforeAll(async () => {
    keyPrefix = prefix()
    api = await createTestApi({ env: { REDIS_URL: testEnv.redisUrl, REDIS_KEY_PREFIX: keyPrefix } })
  })
  afterAll(() => api?.close())

  it("the refresh mutation waits for the refresher's prefixed lock, not for another deployment's", async () => {
    const apiLocks = counted(redisLocks(keyPrefix))
    const app = await createTestApi({
      database: api.database,
      env: { REDIS_URL: testEnv.redisUrl, REDIS_KEY_PREFIX: keyPrefix },
      locks: apiLocks,
    })
    closing.push({ close: () => app.app.close() })
    const tracker = await insertTracker(api.database.db)
    // The refresher of this deployment holds its lock; another deployment's refresher holds its own.
    const refresher = await redisLocks(keyPrefix).tryAcquire(LOCK_NAMES.aggregateRefresh, 60_000)
    const otherPrefix = prefix()
    const other = await redisLocks(otherPrefix).tryAcquire(LOCK_NAMES.aggregateRefresh, 60_000)
    expect(refresher).not.toBeNull()
    expect(other).not.toBeNull()
    expect(await inspector.exists(`${keyPrefix}location_history:aggregate_refresh_lock`)).toBe(1)

    let settled = false
    const pending = app.gql(refreshMutation(tracker.id)).finally(() => {
      settled = true
    })
    // It tried, found the lock taken, and keeps trying: waiting.
    await expect.poll(() => apiLocks.attempts).toBeGreaterThanOrEqual(2)
    expect(settled).toBe(false)
    await refresher!.release()
    expect((await pending).body).toEqual({ data: { refreshLocationHistoryAggregates: true } })
    expect(await inspector.exists(`${keyPrefix}location_history:aggregate_refresh_lock`)).toBe(0)
    // The other deployment's lock was held all along, and did not hold the mutation up.
    expect(await inspector.exists(`${otherPrefix}location_history:aggregate_refresh_lock`)).toBe(1)
    await other!.release()
  })

  it('keeps its rate-limit counters under the prefix', async () => {
    const redis = new Redis(testEnv.redisUrl)
    closing.push({ close: async () => void redis.disconnect() })
    const app = await createTestApi({
      database: api.database,
      env: { REDIS_URL: testEnv.redisUrl, REDIS_KEY_PREFIX: keyPrefix },
      rateLimitRedis: redis,
    })
    closing.push({ close: () => app.app.close() })
    expect((await app.gql('{ __typename }')).status).toBe(200)
    const keys = await inspector.keys(`${keyPrefix}tracker-api-ratelimit:*`)
    expect(keys).toHaveLength(1)
    expect(keys[0]).toMatch(new RegExp(`^${keyPrefix}tracker-api-ratelimit:token:`))
    await inspector.del(...keys)
  })

  it('/ready answers 503 while Redis is cut, and ready again once it is back', async () => {
    const redis = new URL(testEnv.redisUrl)
    const proxy = new TcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) })
    await proxy.start()
    closing.push(proxy)
    const app = await createTestApi({
      database: api.database,
      env: { REDIS_URL: `redis://127.0.0.1:${proxy.port}` },
      locks: redisLocks(keyPrefix, `redis://127.0.0.1:${proxy.port}`),
    })
    closing.push({ close: () => app.app.close() })
    const ready = async () => {
      const response = await app.app.inject({ url: '/ready' })
      return { status: response.statusCode, body: response.json() }
    }
    await expect.poll(ready).toEqual({ status: 200, body: { status: 'ready' } })
    await proxy.cut()
    expect(await ready()).toEqual({
      status: 503,
      body: { status: 'unavailable', reason: 'redis unreachable' },
    })
    await proxy.restore()
    await expect.poll(ready, { timeout: 15_000 }).toEqual({ status: 200, body: { status: 'ready' } })
  })
})
