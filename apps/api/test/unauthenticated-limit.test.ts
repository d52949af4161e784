import { randomBytes } from 'node:crypto'
import { testEnv } from '@tracker/db/testing'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { addressKey } from '../src/http/address-limit.ts'
import { hashToken } from '../src/services/api-tokens.ts'
import { createTestApi, type TestApi } from './helpers.ts'

// Requests without a valid token are limited per client address before any token is looked up.
let api: TestApi
beforeAll(async () => {
  api = await createTestApi({ env: { API_RATE_LIMIT_UNAUTHENTICATED: '5', API_RATE_LIMIT_MAX: '1000' } })
})
afterAll(() => api?.close())

const request = (app: TestApi['app'], authorization: string | undefined, remoteAddress = '203.0.113.7') =>
  app.inject({
    method: 'POST',
    url: '/graphql',
    remoteAddress,
    headers: authorization ? { authorization } : {},
    payload: { query: '{ __typename }' },
  })

const guess = () => `Bearer trk_${randomBytes(32).toString('base64url')}`

describe('requests without a valid token, per client address', () => {
  it('a flood of invalid tokens answers 429 once the address used its allowance, without looking tokens up', async () => {
    const lookups = vi.spyOn(api.app.services.tokens, 'authenticate')
    const statuses: number[] = []
    for (let i = 0; i < 700; i++) statuses.push((await request(api.app, guess())).statusCode)
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401])
    expect(new Set(statuses.slice(5))).toEqual(new Set([429]))
    expect(lookups).toHaveBeenCalledTimes(5)
    lookups.mockRestore()

    const refused = await request(api.app, guess())
    expect(refused.headers['retry-after']).toMatch(/^[1-9]\d*$/)
    expect(refused.json()).toEqual({
      data: null,
      errors: [
        {
          message: expect.stringMatching(
            /^Too many requests without a valid API token from this address: retry in \d+ s$/,
          ),
          extensions: { code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) },
        },
      ],
    })
  })

  it('missing and malformed headers count too; another address is not affected', async () => {
    const address = '198.51.100.20'
    const answers = []
    for (const authorization of [undefined, 'Basic dXNlcjpwYXNz', undefined, 'Bearer', guess(), undefined]) {
      answers.push((await request(api.app, authorization, address)).statusCode)
    }
    expect(answers).toEqual([401, 401, 401, 401, 401, 429])
    expect((await request(api.app, guess(), '198.51.100.21')).statusCode).toBe(401)
  })

  it('valid requests do not count, and a token seen valid keeps working from a refused address', async () => {
    const address = '192.0.2.55'
    for (let i = 0; i < 20; i++) {
      expect((await request(api.app, `Bearer ${api.readToken}`, address)).statusCode).toBe(200)
    }
    for (let i = 0; i < 5; i++) expect((await request(api.app, guess(), address)).statusCode).toBe(401)
    expect((await request(api.app, guess(), address)).statusCode).toBe(429)
    expect((await request(api.app, `Bearer ${api.readToken}`, address)).statusCode).toBe(200)
  })

  it('a token revoked after it was seen valid is still refused (401), and counted', async () => {
    const other = await createTestApi({
      database: api.database,
      env: { API_RATE_LIMIT_UNAUTHENTICATED: '1', API_TOKEN_CACHE_TTL: '1 ms' },
    })
    try {
      expect((await request(other.app, `Bearer ${other.readToken}`)).statusCode).toBe(200)
      await other.database.db
        .updateTable('api_tokens')
        .set({ revoked_at: new Date() })
        .where('token_hash', '=', hashToken(other.readToken))
        .execute()
      expect((await request(other.app, `Bearer ${other.readToken}`)).statusCode).toBe(401)
      expect((await request(other.app, guess())).statusCode).toBe(429)
    } finally {
      await other.app.close()
    }
  })

  it('IPv6 clients are counted per /64, IPv4 ones per address', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7')
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7')
    expect(addressKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64')
    expect(addressKey('2001:db8:1:2::9')).toBe('2001:db8:1:2::/64')
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64')
    expect(addressKey('::1')).toBe('0:0:0:0::/64')
  })
})

describe('with Redis, the counts are shared by the replicas', () => {
  const inspector = new Redis(testEnv.redisUrl)
  const clients: Redis[] = []
  afterAll(async () => {
    for (const client of clients) client.disconnect()
    await inspector.quit()
  })

  it('under the deployment prefix, with the window as TTL', async () => {
    const prefix = `test-${randomBytes(4).toString('hex')}:`
    const env = {
      REDIS_URL: testEnv.redisUrl,
      REDIS_KEY_PREFIX: prefix,
      API_RATE_LIMIT_UNAUTHENTICATED: '3',
    }
    const replicas = []
    for (let i = 0; i < 2; i++) {
      const redis = new Redis(testEnv.redisUrl)
      clients.push(redis)
      replicas.push(await createTestApi({ database: api.database, env, rateLimitRedis: redis }))
    }
    try {
      const [a, b] = replicas as [TestApi, TestApi]
      expect((await request(a.app, guess())).statusCode).toBe(401)
      expect((await request(b.app, guess())).statusCode).toBe(401)
      expect((await request(a.app, undefined)).statusCode).toBe(401)
      expect((await request(b.app, guess())).statusCode).toBe(429)
      const key = `${prefix}tracker-api-ratelimit:unauthenticated:203.0.113.7`
      expect(await inspector.get(key)).toBe('3')
      expect(await inspector.pttl(key)).toBeGreaterThan(0)
      await inspector.del(key)
    } finally {
      for (const replica of replicas) await replica.app.close()
    }
  })
})
