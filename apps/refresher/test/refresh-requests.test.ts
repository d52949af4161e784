import { randomUUID } from 'node:crypto'
import { DAY_MS, HISTORY_REFRESHED_CHANNEL, HOUR_MS, type NotificationListener, sql } from '@tracker/db'
import { createTestDatabase, insertTracker, reportRow, type TestDatabase } from '@tracker/db/testing'
import { notifyRefreshRequest, parseRefreshAnswer, type RefreshAnswer } from '@tracker/history'
import { InProcessLockService, LOCK_NAMES } from '@tracker/locks'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type RunningRefresher, startRefresher } from '../src/index.ts'
import { Recorder, testConfig, testLogger } from './helpers/refresher-harness.ts'

// Refresh requests (the API's refreshLocationHistoryAggregates) served by two replicas of the real
// refresher on one TimescaleDB (the embedded engine, or a server with TEST_DATABASE_URL), sharing
// one lock service as replicas share Redis.

let database: TestDatabase
let locks: InProcessLockService
let answersListener: NotificationListener
const answers: RefreshAnswer[] = []
const replicas: { refresher: RunningRefresher; recorder: Recorder }[] = []

beforeAll(async () => {
  database = await createTestDatabase()
  locks = new InProcessLockService()
  answersListener = await database.listen(HISTORY_REFRESHED_CHANNEL, {
    onNotification: (payload) => {
      const answer = parseRefreshAnswer(payload)
      if (answer) answers.push(answer)
    },
  })
  for (const name of ['a', 'b']) {
    const recorder = new Recorder(name)
    const refresher = await startRefresher({
      database,
      locks,
      logger: testLogger,
      config: testConfig({ PERIODIC_REFRESH_INTERVAL: '1 hour' }),
      hooks: recorder,
    })
    replicas.push({ refresher, recorder })
  }
  // Started and caught up: one replica's periodic refresh ran, nothing else is due.
  await vi.waitFor(
    () => {
      const healths = replicas.map((r) => r.refresher.health())
      if (!healths.some((h) => h.periodic.lastOutcome === 'refreshed') || healths.some((h) => h.refreshing)) {
        throw new Error('still starting')
      }
    },
    { timeout: 30_000, interval: 50 },
  )
})

afterAll(async () => {
  for (const { refresher } of replicas) await refresher.stop()
  await answersListener?.close()
  await locks?.close()
  await database?.close()
})

const hourStart = (ms: number) => Math.floor(ms / HOUR_MS) * HOUR_MS
const answersTo = (id: string) => answers.filter((a) => a.request === id).map((a) => a.outcome)
const final = (id: string) => answersTo(id).find((o) => o !== 'accepted')
/** What each replica ran for the request (its refreshes carry the request's id as runId). */
const servedBy = (id: string) =>
  replicas
    .map(({ recorder }) => ({
      replica: recorder.replica,
      refreshes: recorder.refreshes
        .filter((e) => e.runId === id)
        .map((e) => [e.object, e.outcome, e.trigger]),
    }))
    .filter((r) => r.refreshes.length > 0)

/** The hourly aggregate's row for a tracker's hour, as the aggregate holds it. */
async function hourlyRow(trackerId: string, hour: number) {
  return database.db
    .selectFrom('location_history_hourly')
    .select(['report_count', 'latitude'])
    .where('tracker_id', '=', trackerId)
    .where('bucket', '=', new Date(hour))
    .executeTakeFirst()
}

async function request(window: { from: Date; to: Date }, lockWaitMs = 30_000): Promise<string> {
  const id = randomUUID()
  await notifyRefreshRequest(database.db, { id, window, lockWaitMs })
  return id
}

describe('refresh requests', () => {
  it('one replica takes a request, refreshes both aggregates then location_history, and answers accepted, then refreshed', async () => {
    const tracker = await insertTracker(database.db)
    const key = tracker.hashedAdvKeys[0]!
    const hour = hourStart(Date.now() - 3 * HOUR_MS)
    await database.db
      .insertInto('location_reports')
      .values(reportRow(key, new Date(hour + 5 * 60_000), { latitude: 10 }))
      .execute()
    // That hour materialized: a report arriving for it now is late, below the aggregate's watermark,
    // and the aggregate's own row shows it only once refreshed.
    await sql`CALL refresh_continuous_aggregate('location_history_hourly', ${new Date(hour).toISOString()}::timestamptz, ${new Date(hour + HOUR_MS).toISOString()}::timestamptz)`.execute(
      database.db,
    )
    await database.db
      .insertInto('location_reports')
      .values(reportRow(key, new Date(hour + 40 * 60_000), { latitude: 20 }))
      .execute()
    expect(await hourlyRow(tracker.id, hour)).toEqual({ report_count: 1, latitude: 10 })

    // Over two days: the daily aggregate's complete days are in it too.
    const id = await request({ from: new Date(hour - 2 * DAY_MS), to: new Date() })
    await expect.poll(() => final(id), { timeout: 30_000 }).toBe('refreshed')
    expect(answersTo(id)).toEqual(['accepted', 'refreshed'])
    expect(await hourlyRow(tracker.id, hour)).toEqual({ report_count: 2, latitude: 20 })
    const served = servedBy(id)
    expect(served).toHaveLength(1)
    expect(served[0]!.refreshes).toEqual([
      ['location_history_hourly', 'refreshed', 'manual'],
      ['location_history_daily', 'refreshed', 'manual'],
      ['location_history', 'refreshed', 'manual'],
    ])
  })

  it('waits for the refresh lock the periodic refresh holds, then refreshes', async () => {
    const held = await locks.tryAcquire(LOCK_NAMES.aggregateRefresh)
    expect(held).not.toBeNull()
    const id = await request({ from: new Date(Date.now() - 2 * HOUR_MS), to: new Date() })
    await expect.poll(() => answersTo(id)).toEqual(['accepted'])
    expect(servedBy(id)).toEqual([])
    const releasedAt = Date.now()
    await held!.release()
    await expect.poll(() => final(id), { timeout: 30_000 }).toBe('refreshed')
    const refreshes = replicas.flatMap(({ recorder }) => recorder.refreshes.filter((e) => e.runId === id))
    expect(refreshes.every((e) => e.finishedAt.getTime() >= releasedAt)).toBe(true)
  })

  it('answers busy when the lock stays taken longer than the request may wait, refreshing nothing', async () => {
    const held = await locks.tryAcquire(LOCK_NAMES.aggregateRefresh)
    try {
      const id = await request({ from: new Date(Date.now() - 2 * HOUR_MS), to: new Date() }, 300)
      await expect.poll(() => final(id), { timeout: 10_000 }).toBe('busy')
      expect(servedBy(id)).toEqual([])
    } finally {
      await held!.release()
    }
  })

  it('answers each of several requests sent at once, one by one under the lock', async () => {
    const now = Date.now()
    const ids = await Promise.all(
      [1, 2, 3].map((h) =>
        request({ from: new Date(now - (h + 1) * HOUR_MS), to: new Date(now - h * HOUR_MS) }),
      ),
    )
    for (const id of ids) await expect.poll(() => final(id), { timeout: 30_000 }).toBe('refreshed')
    for (const id of ids) expect(answersTo(id)).toEqual(['accepted', 'refreshed'])
  })

  // Last: it stops both replicas.
  it('a stop while waiting for the lock answers cancelled', async () => {
    const held = await locks.tryAcquire(LOCK_NAMES.aggregateRefresh)
    try {
      const id = await request({ from: new Date(Date.now() - 2 * HOUR_MS), to: new Date() })
      await expect.poll(() => answersTo(id)).toEqual(['accepted'])
      await Promise.all(replicas.map(({ refresher }) => refresher.stop()))
      await expect.poll(() => final(id)).toBe('cancelled')
      expect(servedBy(id)).toEqual([])
    } finally {
      await held!.release()
    }
  })
})
