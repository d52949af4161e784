import { randomUUID } from 'node:crypto'
import {
  HISTORY_REFRESHED_CHANNEL,
  type NotificationListener,
  REFRESH_REQUEST_CHANNEL,
  silentLogger,
} from '@tracker/db'
import { createTestDatabase, type TestDatabase } from '@tracker/db/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  notifyHistoryChange,
  notifyRefreshAnswer,
  notifyRefreshRequest,
  parseHistoryChange,
  parseRefreshAnswer,
  parseRefreshRequest,
  type RefreshAnswerOutcome,
  type RefreshRequest,
  RefreshRequester,
  RefreshTimeoutError,
} from '../src/index.ts'

// The refresh mutation's protocol on the database's real notifications (embedded engine, or a
// server with TEST_DATABASE_URL). The refresher's side is tested with the real refresher in
// apps/refresher and apps/stack; here a stand-in answers as a test needs.

let database: TestDatabase
const closing: (() => Promise<unknown>)[] = []
beforeAll(async () => {
  database = await createTestDatabase()
})
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close()
})
afterAll(() => database?.close())

const window = { from: new Date('2026-11-01T10:00:00Z'), to: new Date('2026-11-02T10:00:00Z') }

function requester(options: { acceptTimeoutMs?: number; timeoutMs?: number } = {}) {
  const r = new RefreshRequester({
    database,
    logger: silentLogger,
    acceptTimeoutMs: options.acceptTimeoutMs ?? 5_000,
    timeoutMs: options.timeoutMs ?? 10_000,
  })
  closing.push(() => r.close())
  return r
}

/** Every payload of a channel, and its requests parsed. */
async function listen(channel: string, onPayload: (payload: string) => void = () => {}) {
  const payloads: string[] = []
  const listener: NotificationListener = await database.listen(channel, {
    onNotification: (payload) => {
      payloads.push(payload)
      onPayload(payload)
    },
  })
  closing.push(() => listener.close())
  return payloads
}

/** Answers each request as `script` says (answers in order), as a refresher would. */
async function standIn(script: (request: RefreshRequest) => RefreshAnswerOutcome[]) {
  const requests: RefreshRequest[] = []
  await listen(REFRESH_REQUEST_CHANNEL, (payload) => {
    const request = parseRefreshRequest(payload)
    if (!request) return
    requests.push(request)
    void (async () => {
      for (const outcome of script(request)) {
        await notifyRefreshAnswer(database.db, { request: request.id, outcome })
      }
    })()
  })
  return requests
}

describe('a refresh request', () => {
  it('travels on refresh_location_history through history_change_payload, with its id and lock wait', async () => {
    const payloads = await listen(REFRESH_REQUEST_CHANNEL)
    const id = randomUUID()
    await notifyRefreshRequest(database.db, { id, window, lockWaitMs: 1234 })
    await expect.poll(() => payloads.length).toBe(1)
    expect(parseRefreshRequest(payloads[0]!)).toEqual({ id, window, lockWaitMs: 1234 })
    // Other readers of the channel see a window of every tracker, as from the database's encoder.
    expect(parseHistoryChange(payloads[0]!)).toEqual({ window, trackers: null })
    expect(JSON.parse(payloads[0]!)).toMatchObject({ reason: 'refresh_request', request: id })
  })

  it('is never read out of a change, nor a change out of anything but a request', async () => {
    const payloads = await listen(REFRESH_REQUEST_CHANNEL)
    await notifyHistoryChange(database.db, { window, trackers: null }, 'import')
    await notifyHistoryChange(database.db, { window, trackers: [randomUUID()] }, 'nearest_city')
    await expect.poll(() => payloads.length).toBe(2)
    for (const payload of [...payloads, 'test', '{"reason":"refresh_request","request":"x"}', '{']) {
      expect(parseRefreshRequest(payload)).toBeNull()
    }
    expect(parseRefreshAnswer('{"object":"location_history"}')).toBeNull()
    expect(parseRefreshAnswer('{"object":"refresh_request","request":"a","outcome":"maybe"}')).toBeNull()
  })
})

describe('RefreshRequester', () => {
  it("resolves with this request's own answer, not another request's", async () => {
    const answers = await listen(HISTORY_REFRESHED_CHANNEL)
    const requests = await standIn((request) => {
      // Another request's answer first, then this one's.
      void notifyRefreshAnswer(database.db, { request: randomUUID(), outcome: 'busy' })
      return request.lockWaitMs === 1 ? ['accepted', 'busy'] : ['accepted', 'refreshed']
    })
    const r = requester()
    const [a, b] = await Promise.all([
      r.request(window, { lockWaitMs: 1 }),
      r.request(window, { lockWaitMs: 2 }),
    ])
    expect(a.outcome).toBe('busy')
    expect(b.outcome).toBe('refreshed')
    expect(requests).toHaveLength(2)
    expect(r.pending).toBe(0)
    await expect.poll(() => answers.length).toBe(6)
  })

  it('times out with REFRESH_TIMEOUT (not accepted) when no refresher takes it, leaving nothing waiting', async () => {
    const r = requester({ acceptTimeoutMs: 200 })
    const started = Date.now()
    const error = await r.request(window, { lockWaitMs: 1000 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RefreshTimeoutError)
    expect(error).toMatchObject({ code: 'REFRESH_TIMEOUT', accepted: false })
    expect(Date.now() - started).toBeLessThan(3_000)
    expect(r.pending).toBe(0)
  })

  it('times out with REFRESH_TIMEOUT (accepted) when the refresher took it but did not finish in time', async () => {
    await standIn(() => ['accepted'])
    const r = requester({ acceptTimeoutMs: 2_000, timeoutMs: 600 })
    const error = await r.request(window, { lockWaitMs: 100 }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'REFRESH_TIMEOUT', accepted: true })
    expect(r.pending).toBe(0)
  })

  it('ends with its signal', async () => {
    const r = requester()
    const stop = new AbortController()
    const pending = r.request(window, { lockWaitMs: 100, signal: stop.signal }).catch((e: unknown) => e)
    await expect.poll(() => r.pending).toBe(1)
    stop.abort(new Error('shutting down'))
    expect(await pending).toMatchObject({ message: 'shutting down' })
    expect(r.pending).toBe(0)
  })
})
