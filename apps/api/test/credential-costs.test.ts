import { randomBytes } from 'node:crypto'
import { createTestDatabase, type TestDatabase } from '@tracker/db/testing'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ApiConfig } from '../src/env.ts'
import { createApiToken, hashToken } from '../src/services/api-tokens.ts'
import { LastUseRecorder } from '../src/services/last-use-recorder.ts'
import { createTestApi, type TestApi } from './helpers.ts'
import { StatementRecorder } from './statement-recorder.ts'

// What refusing and checking credentials costs the database, counted statement by statement on the
// real (embedded) database through the Kysely instance the API is given.
const recorder = new StatementRecorder()
let database: TestDatabase
const recorded = () => ({ ...database, db: database.db.withPlugin(recorder) })
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(() => database?.close())

const guess = () => `trk_${randomBytes(32).toString('base64url')}`
const secret = () => randomBytes(32).toString('base64url')
const isUpdate = (statement: string) => /^\s*update\b/i.test(statement)
/** Only explicit flushes (and closing) write last uses: the timer never fires within a test. */
const noTimer = (config: ApiConfig): ApiConfig => ({
  ...config,
  auth: { ...config.auth, lastUseFlushEveryMs: 3_600_000 },
})

const graphql = (api: TestApi, token: string | undefined, remoteAddress: string) =>
  api.app.inject({
    method: 'POST',
    url: '/graphql',
    remoteAddress,
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    payload: { query: '{ __typename }' },
  })

describe('requests without valid credentials, per client address', () => {
  it('a flood with bad or no credentials is answered 429 once the address used its allowance, without a statement', async () => {
    const api = await createTestApi({
      database: recorded(),
      env: { API_RATE_LIMIT_UNAUTHENTICATED: '5', API_RATE_LIMIT_MAX: '100000' },
      configure: noTimer,
    })
    try {
      const address = '203.0.113.40'
      // A client of this address with a valid token, seen before the flood.
      expect((await graphql(api, api.readToken, address)).statusCode).toBe(200)
      recorder.take()
      // The allowance: each refused token costs one read (no write), and counts.
      for (let i = 0; i < 5; i++) expect((await graphql(api, guess(), address)).statusCode).toBe(401)
      const allowance = recorder.take()
      expect(allowance).toHaveLength(5)
      expect(allowance.every((s) => /from "api_tokens"/i.test(s) && !isUpdate(s))).toBe(true)

      // The flood: every route that authenticates, every kind of credential, all refused before a
      // single statement runs.
      const attempts = [
        () => graphql(api, guess(), address),
        () => graphql(api, undefined, address),
        () =>
          api.app.inject({
            method: 'POST',
            url: '/graphql',
            remoteAddress: address,
            headers: { authorization: 'Basic dXNlcjpwYXNz' },
            payload: { query: '{ __typename }' },
          }),
        () =>
          api.app.inject({
            method: 'POST',
            url: '/graphql',
            remoteAddress: address,
            cookies: { tracker_session: secret() },
            payload: { query: '{ __typename }' },
          }),
        () =>
          api.app.inject({
            method: 'GET',
            url: `/export/history.gpx?trackerId=${crypto.randomUUID()}&from=2026-01-01&to=2026-01-02`,
            remoteAddress: address,
            headers: { authorization: `Bearer ${guess()}` },
          }),
        () =>
          api.app.inject({
            method: 'POST',
            url: '/session',
            remoteAddress: address,
            payload: { token: guess() },
          }),
        () =>
          api.app.inject({
            method: 'GET',
            url: '/session',
            remoteAddress: address,
            cookies: { tracker_session: secret() },
          }),
        () =>
          api.app.inject({
            method: 'DELETE',
            url: '/session',
            remoteAddress: address,
            cookies: { tracker_session: secret() },
          }),
        () => api.app.inject({ method: 'GET', url: `/sign-in/${secret()}`, remoteAddress: address }),
      ]
      const statuses = new Set<number>()
      for (let round = 0; round < 40; round++) {
        for (const attempt of attempts) {
          const response = await attempt()
          statuses.add(response.statusCode)
          expect(response.headers['retry-after']).toMatch(/^[1-9]\d*$/)
        }
      }
      expect([...statuses]).toEqual([429])
      expect(recorder.take()).toEqual([])

      // Another address still has its allowance; a valid token is served from the flooded one.
      expect((await graphql(api, guess(), '203.0.113.41')).statusCode).toBe(401)
      expect((await graphql(api, api.readToken, address)).statusCode).toBe(200)
    } finally {
      await api.app.close()
    }
  })
})

describe('a valid token costs a read, and its use is written once a minute at most', () => {
  it('requests never write last_used_at; the recorder does, once, and again only a minute later', async () => {
    // A token cache of 1 ms: every request looks its token up.
    const api = await createTestApi({
      database: recorded(),
      env: { API_TOKEN_CACHE_TTL: '1 ms' },
      configure: noTimer,
    })
    try {
      const token = await api.database.db
        .selectFrom('api_tokens')
        .select(['id', 'last_used_at'])
        .where('token_hash', '=', hashToken(api.readToken))
        .executeTakeFirstOrThrow()
      expect(token.last_used_at).toBeNull()
      recorder.take()
      for (let i = 0; i < 20; i++) {
        expect((await graphql(api, api.readToken, '192.0.2.70')).statusCode).toBe(200)
        await new Promise((resolve) => setTimeout(resolve, 2))
      }
      const requests = recorder.take()
      expect(requests).toHaveLength(20)
      expect(requests.every((s) => /^\s*select\b/i.test(s) && /from "api_tokens"/i.test(s))).toBe(true)

      // What the timer does (every 10 s): one UPDATE for every token used.
      await api.app.services.lastUse.flush()
      const written = recorder.take()
      expect(written).toHaveLength(1)
      expect(written[0]).toMatch(/^\s*update api_tokens set last_used_at/i)
      const after = await lastUsedAt(token.id)
      expect(after).not.toBeNull()

      // Used again within the minute: nothing more is written, by the timer or at close.
      for (let i = 0; i < 10; i++) await graphql(api, api.readToken, '192.0.2.70')
      recorder.take()
      await api.app.services.lastUse.flush()
      await api.app.close()
      expect(recorder.take().filter(isUpdate)).toEqual([])
      expect(await lastUsedAt(token.id)).toEqual(after)
    } finally {
      await api.app.close()
    }
  })

  it('what was used since the last write is written when the app closes', async () => {
    const api = await createTestApi({ database: recorded(), configure: noTimer })
    const id = (
      await api.database.db
        .selectFrom('api_tokens')
        .select('id')
        .where('token_hash', '=', hashToken(api.writeToken))
        .executeTakeFirstOrThrow()
    ).id
    const before = Date.now()
    for (let i = 0; i < 5; i++)
      expect((await graphql(api, api.writeToken, '192.0.2.71')).statusCode).toBe(200)
    recorder.take()
    await api.app.close()
    expect(recorder.take().filter(isUpdate)).toEqual([
      expect.stringMatching(/^\s*update api_tokens set last_used_at/i),
    ])
    const last = await lastUsedAt(id)
    expect(last!.getTime()).toBeGreaterThanOrEqual(before - 1000)
  })

  it("a session's requests write nothing either: its use and its token's are written later", async () => {
    const api = await createTestApi({ database: recorded(), configure: noTimer })
    try {
      const signIn = await api.app.inject({
        method: 'POST',
        url: '/session',
        remoteAddress: '192.0.2.72',
        payload: { token: api.readToken },
      })
      expect(signIn.statusCode).toBe(200)
      const cookie = signIn.cookies.find((c) => c.name === 'tracker_session')!.value
      await api.app.services.lastUse.flush()
      recorder.take()
      for (let i = 0; i < 5; i++) {
        const response = await api.app.inject({
          method: 'POST',
          url: '/graphql',
          remoteAddress: '192.0.2.72',
          cookies: { tracker_session: cookie },
          payload: { query: '{ __typename }' },
        })
        expect(response.statusCode).toBe(200)
      }
      // One read per request (a session is checked in the database every time), no write.
      const requests = recorder.take()
      expect(requests).toHaveLength(5)
      expect(requests.filter(isUpdate)).toEqual([])
      await api.app.services.lastUse.flush()
      // The token was written at sign-in (within the minute): only the session now.
      expect(recorder.take()).toEqual([expect.stringMatching(/^\s*update api_sessions set last_used_at/i)])
      const session = await database.db
        .selectFrom('api_sessions')
        .select('last_used_at')
        .where('secret_hash', '=', hashToken(cookie))
        .executeTakeFirstOrThrow()
      expect(session.last_used_at).not.toBeNull()
    } finally {
      await api.app.close()
    }
  })

  it('a minute after a write, a new use is written again, the newest one', async () => {
    let now = Date.UTC(2026, 0, 1, 12)
    const uses = new LastUseRecorder({
      db: recorded().db,
      logger: pino({ level: 'silent' }),
      now: () => now,
      flushEveryMs: 3_600_000,
    })
    try {
      const { id } = await createApiToken(database.db, { name: 'clock', scope: 'read' })
      recorder.take()
      uses.tokenUsed(id)
      await uses.flush()
      expect(recorder.take()).toHaveLength(1)
      expect(await lastUsedAt(id)).toEqual(new Date(now))

      now += 59_000
      uses.tokenUsed(id)
      await uses.flush()
      expect(recorder.take()).toEqual([])

      now += 1_000
      uses.tokenUsed(id)
      now += 500
      uses.tokenUsed(id)
      await uses.flush()
      expect(recorder.take()).toHaveLength(1)
      expect(await lastUsedAt(id)).toEqual(new Date(now))
    } finally {
      await uses.close()
    }
  })
})

describe('the token cache', () => {
  it('unknown tokens never push a valid token out: its next request costs no statement', async () => {
    const api = await createTestApi({
      database: recorded(),
      env: { API_RATE_LIMIT_UNAUTHENTICATED: '100000', API_RATE_LIMIT_MAX: '100000' },
      configure: (config) => {
        const quiet = noTimer(config)
        return { ...quiet, auth: { ...quiet.auth, tokenCacheMaxEntries: 5, unknownTokenCacheMaxEntries: 5 } }
      },
    })
    try {
      expect((await graphql(api, api.readToken, '192.0.2.80')).statusCode).toBe(200)
      recorder.take()
      // Ten times as many unknown tokens as either map holds.
      for (let i = 0; i < 50; i++) expect((await graphql(api, guess(), '192.0.2.81')).statusCode).toBe(401)
      expect(recorder.take()).toHaveLength(50)

      expect((await graphql(api, api.readToken, '192.0.2.80')).statusCode).toBe(200)
      expect(recorder.take()).toEqual([])

      // An unknown token asked again is remembered too (within API_TOKEN_CACHE_TTL): no statement.
      const unknown = guess()
      expect((await graphql(api, unknown, '192.0.2.81')).statusCode).toBe(401)
      expect(recorder.take()).toHaveLength(1)
      expect((await graphql(api, unknown, '192.0.2.81')).statusCode).toBe(401)
      expect(recorder.take()).toEqual([])
    } finally {
      await api.app.close()
    }
  })
})

async function lastUsedAt(id: string): Promise<Date | null> {
  const row = await database.db
    .selectFrom('api_tokens')
    .select('last_used_at')
    .where('id', '=', id)
    .executeTakeFirstOrThrow()
  return row.last_used_at
}
