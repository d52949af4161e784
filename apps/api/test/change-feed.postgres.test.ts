import type { TrackerDatabase } from '@tracker/db'
import {
  connectDatabase,
  HISTORY_REFRESHED_CHANNEL,
  REFRESH_REQUEST_CHANNEL,
  silentLogger,
} from '@tracker/db'
import { createFreshServerDatabase, testEnv } from '@tracker/db/testing'
import pg from 'pg'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type ChangeFeed, startHistoryChangeFeed } from '../src/cache/change-feed.ts'
import { ChangeFeedCache } from '../src/cache/change-feed-cache.ts'

// The change feed over the wire, on the machine's PostgreSQL: real notifications from another
// connection, a killed listening backend, a database that refuses connections at start.

const APP = 'api-feed-test'
let fresh: { url: string; drop(): Promise<void> }
let database: TrackerDatabase
let admin: pg.Pool
let feed: ChangeFeed | undefined
let cache: ChangeFeedCache<string>

beforeEach(async () => {
  fresh = await createFreshServerDatabase(testEnv.postgresUrl, 'api_feed_test')
  database = await connectDatabase({ mode: 'postgres', url: fresh.url, applicationName: APP, poolSize: 2 })
  admin = new pg.Pool({ connectionString: fresh.url, max: 2 })
  admin.on('error', () => {})
  cache = new ChangeFeedCache<string>({ ttlMs: 60_000, maxWeight: 100 })
})

afterEach(async () => {
  await feed?.close()
  feed = undefined
  await database.close()
  await admin.end()
  await fresh.drop()
})

const keep = () => cache.store('answer', 'kept', 1, cache.generation())
const kept = () => cache.lookup('answer').result

async function setConnections(allow: boolean): Promise<void> {
  const client = new pg.Client({ connectionString: testEnv.postgresUrl })
  await client.connect()
  try {
    const name = new URL(fresh.url).pathname.slice(1)
    await client.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS ${allow}`)
  } finally {
    await client.end()
  }
}

describe('the history change feed over a real connection', () => {
  it('serves once listening, and forgets kept answers on a notification from either channel', async () => {
    feed = startHistoryChangeFeed(database, [cache], silentLogger)
    await expect.poll(() => cache.serving, { timeout: 10_000 }).toBe(true)
    for (const channel of [REFRESH_REQUEST_CHANNEL, HISTORY_REFRESHED_CHANNEL]) {
      keep()
      expect(kept()).toBe('hit')
      await admin.query('SELECT pg_notify($1, $2)', [channel, '{"from":"2026-01-01T00:00:00Z"}'])
      await expect.poll(kept, { timeout: 5_000 }).toBe('miss')
    }
  })

  it('serves nothing while the listening backend is gone, and serves again once reconnected', async () => {
    // The feed's own account of the connection, next to the cache it drives.
    const events: string[] = []
    const recorder = {
      connected: () => events.push('connected'),
      disconnected: () => events.push('disconnected'),
      invalidate: () => events.push('invalidate'),
    }
    feed = startHistoryChangeFeed(database, [cache, recorder], silentLogger)
    await expect.poll(() => cache.serving, { timeout: 10_000 }).toBe(true)
    keep()
    events.length = 0
    const { rows } = await admin.query<{ terminated: boolean }>(
      'SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE application_name = $1',
      [`${APP}-listener`],
    )
    expect(rows.filter((r) => r.terminated).length).toBe(2)
    await expect.poll(() => events.at(-1), { timeout: 15_000 }).toBe('connected')
    expect(events[0]).toBe('disconnected')
    expect(cache.serving).toBe(true)
    // What was kept before the cut is gone: notifications sent meanwhile were lost.
    expect(kept()).toBe('miss')
    // And the new connection listens: a notification still reaches the cache.
    keep()
    await admin.query('SELECT pg_notify($1, $2)', [REFRESH_REQUEST_CHANNEL, '{}'])
    await expect.poll(kept, { timeout: 5_000 }).toBe('miss')
  })

  it('keeps trying when the database refuses connections at start', async () => {
    await setConnections(false)
    try {
      feed = startHistoryChangeFeed(database, [cache], silentLogger, { retryMs: 100 })
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(cache.serving).toBe(false)
    } finally {
      await setConnections(true)
    }
    await expect.poll(() => cache.serving, { timeout: 10_000 }).toBe(true)
  })
})
