import { randomBytes } from 'node:crypto'
import { testEnv } from '@tracker/db/testing'
import { RedisLockService } from '@tracker/locks'
import { TcpProxy } from '@tracker/locks/testing'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createTestApi, type TestApi } from './helpers.ts'

// The API against the machine's real Redis, as deployed next to a refresher: every key under the
// deployment's REDIS_KEY_PREFIX. (The refresh mutation takes no lock: the refresher it asks does.)
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

describe('two apps of one deployment sharing Redis with another deployment', () => {
  let api: TestApi
  let keyPrefix: string
  beforeAll(async () => {
    keyPrefix = prefix()
    api = await createTestApi({ env: { REDIS_URL: testEnv.redisUrl, REDIS_KEY_PREFIX: keyPrefix } })
  })
  afterAll(() => api?.close())

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
