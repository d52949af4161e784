import { insertTracker, reportRow } from '@tracker/db/testing'
import { nextTierChange } from '@tracker/history'
import { parse } from 'graphql'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ChangeFeedCache } from '../src/cache/change-feed-cache.ts'
import { readsOnlyHistory } from '../src/graphql/response-cache.ts'
import { cacheServing, createTestApi, DAY, dayStart, type TestApi } from './helpers.ts'

const T0 = Date.UTC(2026, 0, 10, 12, 0, 0)

function cacheAt(clock: { now: number }, options: { ttlMs?: number; maxWeight?: number } = {}) {
  const cache = new ChangeFeedCache<string>({
    ttlMs: options.ttlMs ?? 30_000,
    maxWeight: options.maxWeight ?? 1_000,
    now: () => clock.now,
  })
  cache.connected()
  return cache
}

describe('ChangeFeedCache', () => {
  it('serves a stored answer until its time limit', () => {
    const clock = { now: T0 }
    const cache = cacheAt(clock)
    cache.store('a', 'answer', 10, cache.generation())
    expect(cache.lookup('a')).toEqual({ result: 'hit', value: 'answer' })
    clock.now = T0 + 29_999
    expect(cache.lookup('a').result).toBe('hit')
    clock.now = T0 + 30_000
    expect(cache.lookup('a')).toEqual({ result: 'miss' })
    expect(cache.weight).toBe(0)
  })

  it('lets no answer outlive the tier boundary it was made under (it moves at midnight UTC)', () => {
    const midnight = nextTierChange(new Date(T0)).getTime()
    const clock = { now: midnight - 5_000 }
    const cache = cacheAt(clock)
    cache.store('a', 'answer', 10, cache.generation())
    clock.now = midnight - 1
    expect(cache.lookup('a').result).toBe('hit')
    clock.now = midnight
    expect(cache.lookup('a').result).toBe('miss')
  })

  it('drops every answer on a change, and keeps none that a query read before it', () => {
    const clock = { now: T0 }
    const cache = cacheAt(clock)
    cache.store('a', 'old', 10, cache.generation())
    const before = cache.generation()
    cache.invalidate()
    expect(cache.lookup('a').result).toBe('miss')
    // A query that started before the change finishes after it: its answer may be stale.
    cache.store('b', 'read before the change', 10, before)
    expect(cache.lookup('b').result).toBe('miss')
    cache.store('b', 'read after', 10, cache.generation())
    expect(cache.lookup('b').value).toBe('read after')
  })

  it('serves nothing while its change feed is not connected, and starts empty when it is back', () => {
    const clock = { now: T0 }
    const cache = new ChangeFeedCache<string>({ ttlMs: 30_000, maxWeight: 100, now: () => clock.now })
    cache.store('a', 'x', 1, cache.generation())
    expect(cache.lookup('a').result).toBe('bypass')
    cache.connected()
    cache.store('a', 'x', 1, cache.generation())
    cache.disconnected()
    expect(cache.lookup('a').result).toBe('bypass')
    cache.connected()
    expect(cache.lookup('a').result).toBe('miss')
  })

  it('is off with a zero time limit', () => {
    const cache = cacheAt({ now: T0 }, { ttlMs: 0 })
    cache.store('a', 'x', 1, cache.generation())
    expect(cache.serving).toBe(false)
    expect(cache.lookup('a').result).toBe('bypass')
  })

  it('evicts the least recently used answers beyond its weight bound', () => {
    const cache = cacheAt({ now: T0 }, { maxWeight: 100 })
    cache.store('a', 'a', 40, cache.generation())
    cache.store('b', 'b', 40, cache.generation())
    expect(cache.lookup('a').result).toBe('hit') // a is now the most recent
    cache.store('c', 'c', 40, cache.generation())
    expect(cache.lookup('b').result).toBe('miss')
    expect(cache.lookup('a').result).toBe('hit')
    expect(cache.lookup('c').result).toBe('hit')
    expect(cache.weight).toBe(80)
    cache.store('huge', 'never kept', 101, cache.generation())
    expect(cache.lookup('huge').result).toBe('miss')
    expect(cache.size).toBe(2)
  })
})

describe('readsOnlyHistory', () => {
  const verdict = (query: string, operationName?: string) => readsOnlyHistory(parse(query), operationName)
  const args = '(trackerId: "x", startTime: "a", endTime: "b", bucketSize: "1 day")'

  it('accepts history fields, aliases, fragments and both history roots', () => {
    expect(verdict(`{ locationHistoryAggregated${args} { id timestamp location { latitude } } }`)).toBe(true)
    expect(
      verdict(`query Q { a: locationHistoryAggregated${args} { ...P } b: locationHistoryPage${args} { truncated points { id } } }
               fragment P on LocationHistoryPoint { nearestCity resolution }`),
    ).toBe(true)
  })

  it('refuses anything that reads more than history', () => {
    expect(verdict(`{ locationHistoryAggregated${args} { id tracker { name } } }`)).toBe(false)
    expect(
      verdict(
        `{ locationHistoryAggregated${args} { ...P } } fragment P on LocationHistoryPoint { tracker { id } }`,
      ),
    ).toBe(false)
    expect(verdict(`{ locationHistoryAggregated${args} { id } trackers { nodes { id } } }`)).toBe(false)
    expect(verdict(`{ ... on Query { tracker(id: "x") { id } } }`)).toBe(false)
    expect(
      verdict(`mutation { refreshLocationHistoryAggregates(trackerId: "x", startTime: "a", endTime: "b") }`),
    ).toBe(false)
    // Several operations: only the one named counts; none named, none chosen.
    const two = `query A { locationHistoryAggregated${args} { id } } query B { trackers { nodes { id } } }`
    expect(verdict(two, 'A')).toBe(true)
    expect(verdict(two, 'B')).toBe(false)
    expect(verdict(two)).toBe(false)
  })
})

describe('the history cache in the API', () => {
  let api: TestApi
  beforeAll(async () => {
    api = await createTestApi({ env: { API_RATE_LIMIT_MAX: '1000' } })
    await cacheServing(api)
  })
  afterAll(() => api?.close())

  const query = `query ($id: ID!, $from: DateTime!, $to: DateTime!) {
    locationHistoryAggregated(trackerId: $id, startTime: $from, endTime: $to, bucketSize: "1 day") {
      timestamp reportCount nearestCity
    }
  }`
  const ask = (trackerId: string, options: { token?: string } = {}) =>
    api.gql(query, {
      variables: {
        id: trackerId,
        from: new Date(dayStart(Date.now()) - 3 * DAY).toISOString(),
        to: new Date(dayStart(Date.now()) + DAY - 1).toISOString(),
      },
      ...options,
    })
  const today = (response: Awaited<ReturnType<typeof ask>>) =>
    (response.body.data!.locationHistoryAggregated as { reportCount: number; nearestCity: string }[]).at(-1)

  it('answers a repeated query from memory until a report arrives, then from the database', async () => {
    const tracker = await insertTracker(api.database.db)
    const insert = (city: string) =>
      api.database.db
        .insertInto('location_reports')
        .values(
          reportRow(tracker.hashedAdvKeys[0]!, new Date(Date.now() - 60_000 - Math.random() * 60_000), {
            nearest_city: city,
          }),
        )
        .execute()
    await insert('First, DE')
    const first = await ask(tracker.id)
    expect(today(first)).toEqual(expect.objectContaining({ reportCount: 1 }))
    await ask(tracker.id)
    const kept = await ask(tracker.id)
    expect(kept.headers['x-history-cache']).toBe('hit')
    expect(kept.raw).toBe(first.raw)

    // The insert trigger's notification reaches the API's change feed: the kept answers are gone.
    await insert('Second, DE')
    await expect
      .poll(async () => {
        const fresh = await ask(tracker.id)
        return { cached: fresh.headers['x-history-cache'] ?? null, count: today(fresh)?.reportCount }
      })
      .toEqual({ cached: null, count: 2 })
  })

  it('never keeps an answer that reads the tracker: a rename shows at once', async () => {
    const tracker = await insertTracker(api.database.db, { name: 'Before' })
    const withTracker = `query ($id: ID!) {
      locationHistoryAggregated(trackerId: $id, startTime: "2026-01-01T00:00:00Z", endTime: "2026-01-02T00:00:00Z", bucketSize: "1 day") {
        timestamp tracker { name }
      }
      tracker(id: $id) { name }
    }`
    expect((await api.gql(withTracker, { variables: { id: tracker.id } })).body.data!.tracker).toEqual({
      name: 'Before',
    })
    await api.gql(withTracker, { variables: { id: tracker.id } })
    const renamed = await api.gql('mutation ($id: ID!) { renameTracker(id: $id, name: "After") { name } }', {
      variables: { id: tracker.id },
    })
    expect(renamed.body.errors).toBeUndefined()
    const after = await api.gql(withTracker, { variables: { id: tracker.id } })
    expect(after.headers['x-history-cache']).toBeUndefined()
    expect(after.body.data!.tracker).toEqual({ name: 'After' })
  })

  it('keeps no error: an unknown tracker is NOT_FOUND every time', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000'
    for (let i = 0; i < 3; i++) {
      const response = await ask(unknown)
      expect(response.headers['x-history-cache']).toBeUndefined()
      expect(response.body.errors?.[0]?.extensions.code).toBe('NOT_FOUND')
    }
  })

  it('still authenticates every request: a kept answer needs a valid token', async () => {
    const tracker = await insertTracker(api.database.db)
    await ask(tracker.id)
    expect((await ask(tracker.id)).headers['x-history-cache']).toBe('hit')
    const anonymous = await ask(tracker.id, { token: 'trk_not-a-real-token' })
    expect(anonymous.status).toBe(401)
    expect(anonymous.headers['x-history-cache']).toBeUndefined()
  })

  it('counts its answers in /metrics', async () => {
    const metrics = await api.app.inject({ method: 'GET', url: '/metrics' })
    expect(metrics.body).toMatch(
      /tracker_api_history_cache_lookups_total\{cache="response",result="hit"\} [1-9]/,
    )
  })
})

describe('the history cache and the rate limit', () => {
  let api: TestApi
  beforeAll(async () => {
    api = await createTestApi({ env: { API_RATE_LIMIT_MAX: '3' } })
    await cacheServing(api)
  })
  afterAll(() => api?.close())

  it('counts kept answers against the token’s limit', async () => {
    const tracker = await insertTracker(api.database.db)
    const body = `{ locationHistoryAggregated(trackerId: "${tracker.id}", startTime: "2026-01-01T00:00:00Z",
                    endTime: "2026-01-02T00:00:00Z", bucketSize: "1 day") { timestamp } }`
    const statuses: number[] = []
    const hits: unknown[] = []
    for (let i = 0; i < 4; i++) {
      const response = await api.gql(body, { token: api.readToken })
      statuses.push(response.status)
      hits.push(response.headers['x-history-cache'] ?? null)
    }
    expect(hits.slice(0, 3)).toEqual([null, 'hit', 'hit'])
    expect(statuses).toEqual([200, 200, 200, 429])
  })
})

describe('with API_HISTORY_CACHE_TTL=0', () => {
  let api: TestApi
  beforeAll(async () => {
    api = await createTestApi({ env: { API_HISTORY_CACHE_TTL: '0' } })
  })
  afterAll(() => api?.close())

  it('every request reads the database', async () => {
    const tracker = await insertTracker(api.database.db)
    const body = `{ locationHistoryAggregated(trackerId: "${tracker.id}", startTime: "2026-01-01T00:00:00Z",
                    endTime: "2026-01-02T00:00:00Z", bucketSize: "1 day") { timestamp } }`
    for (let i = 0; i < 3; i++) expect((await api.gql(body)).headers['x-history-cache']).toBeUndefined()
    expect(api.app.services.historyCache.serving).toBe(false)
    const metrics = await api.app.inject({ method: 'GET', url: '/metrics' })
    expect(metrics.body).toMatch(/tracker_api_history_cache_lookups_total\{cache="page",result="bypass"\} 3/)
    expect(metrics.body).not.toMatch(/result="hit"/)
  })
})
