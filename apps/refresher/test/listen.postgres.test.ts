import { InProcessLockService } from '@tracker/locks'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type RunningRefresher, startRefresher } from '../src/index.ts'
import {
  createPlainHistoryDatabase,
  HISTORY_KEY_DDL,
  type PlainHistoryDatabase,
  refreshInFlight,
} from './helpers/plain-history-database.ts'
import {
  getHealth,
  getText,
  metricValue,
  Recorder,
  testConfig,
  testLogger,
} from './helpers/refresher-harness.ts'

// The LISTEN path against the machine's real PostgreSQL 15 (no TimescaleDB): real notifications over
// the wire, the history engine's real upkeep of a location_history table (plain views stand in for
// the aggregates).

let db: PlainHistoryDatabase
let recorder: Recorder
let locks: InProcessLockService
const started: RunningRefresher[] = []

beforeEach(async () => {
  db = await createPlainHistoryDatabase()
  recorder = new Recorder()
  locks = new InProcessLockService()
})

afterEach(async () => {
  await Promise.all(started.splice(0).map((r) => r.stop()))
  await locks.close()
  await db?.close()
})

async function start(env: Record<string, string> = {}): Promise<RunningRefresher> {
  const refresher = await startRefresher({
    database: db.database,
    locks,
    logger: testLogger,
    config: testConfig(env),
    hooks: recorder,
  })
  started.push(refresher)
  return refresher
}

/** Started, caught up, periodic check done: nothing more will run until the test asks. */
async function startQuiet(env: Record<string, string> = {}): Promise<RunningRefresher> {
  const refresher = await start(env)
  await expect.poll(() => refresher.health().periodic.lastOutcome, { timeout: 10_000 }).toBe('refreshed')
  await expect.poll(() => refresher.health().refreshing).toBe(false)
  return refresher
}

const historyRefreshes = (trigger?: 'notification' | 'catch_up') =>
  recorder.refreshesOf('location_history', { outcome: 'refreshed', ...(trigger ? { trigger } : {}) })

describe('the LISTEN path on plain PostgreSQL', () => {
  it("SELECT pg_notify('refresh_location_history', 'test') triggers a refresh", async () => {
    const refresher = await startQuiet()
    expect(refresher.history.aggregates.enabled).toBe(false)
    await db.insert(1)
    expect(await db.historyIds()).toEqual([]) // nothing refreshes by itself
    await db.notify('test')
    await expect.poll(() => db.historyIds()).toEqual([1])
    expect(historyRefreshes('notification')).toHaveLength(1)
  })

  it('after its backend is killed, reconnects, catches up on what it missed, and listens again', async () => {
    const refresher = await startQuiet()
    const [before] = await db.listenerPids()
    expect(before).toBeDefined()
    const catchUpsBefore = historyRefreshes('catch_up').length

    // Written while the listener is gone, with no notification at all: only a catch-up finds it.
    await db.insert(7)
    expect(await db.terminateListener()).toBe(1)
    await expect.poll(() => historyRefreshes('catch_up').length).toBe(catchUpsBefore + 1)
    expect(await db.historyIds()).toEqual([7])

    const after = await db.listenerPids()
    expect(after).toHaveLength(1)
    expect(after[0]).not.toBe(before)
    expect(refresher.health().listener).toMatchObject({ connected: true, reconnects: 1 })

    await db.insert(8)
    await db.notify('test')
    await expect.poll(() => db.historyIds()).toEqual([7, 8])
  })

  it('reports 503 on /health while the listener cannot reconnect, and recovers when it can', async () => {
    const refresher = await startQuiet()
    expect((await getHealth(refresher.httpPort)).status).toBe(200)
    const catchUpsBefore = historyRefreshes('catch_up').length
    await db.allowConnections(false)
    try {
      await db.terminateListener()
      await expect.poll(async () => (await getHealth(refresher.httpPort)).status).toBe(503)
      const { body } = await getHealth(refresher.httpPort)
      expect(body).toMatchObject({ status: 'down', listener: { connected: false } })
      await db.insert(3)
    } finally {
      await db.allowConnections(true)
    }
    await expect.poll(async () => (await getHealth(refresher.httpPort)).status, { timeout: 20_000 }).toBe(200)
    await expect.poll(() => historyRefreshes('catch_up').length).toBe(catchUpsBefore + 1)
    expect(await db.historyIds()).toEqual([3])
  })

  it('a first LISTEN that fails is retried until it works, without leaving extra connections behind', async () => {
    // The pool keeps a connection from this query, so the refresher can start; the listener's own
    // connection is refused until connections are allowed again.
    await db.database.db.selectNoFrom((eb) => eb.val(1).as('one')).execute()
    await db.allowConnections(false)
    let refresher: RunningRefresher
    try {
      refresher = await start()
      expect(refresher.health()).toMatchObject({ status: 'down', listener: { connected: false } })
      await new Promise((resolve) => setTimeout(resolve, 1_200))
    } finally {
      await db.allowConnections(true)
    }
    await expect.poll(() => refresher.health().status, { timeout: 15_000 }).toBe('ok')
    await expect.poll(() => historyRefreshes('catch_up').length).toBe(1)
    // Failed attempts must not keep reconnecting in the background (each would hold a connection).
    await new Promise((resolve) => setTimeout(resolve, 2_500))
    expect(await db.listenerPids()).toHaveLength(1)
  })

  it('a burst of 1000 notifications during a refresh causes one more refresh, after the burst', async () => {
    const refresher = await startQuiet()
    const before = historyRefreshes().length

    // The first notification starts a refresh (no minimum interval here: only coalescing is at
    // work), which is held at its start until the whole burst has been sent.
    const openGate = await db.closeGate()
    await db.notify('first')
    await expect.poll(() => refreshInFlight(db)).toBe(true)
    // 998 more while it runs, as separate notifications from 10 concurrent writers...
    let sent = 0
    await Promise.all(
      Array.from({ length: 10 }, async (_, writer) => {
        const client = await db.admin.connect()
        try {
          while (sent < 998) {
            sent += 1
            const at = new Date().toISOString()
            await client.query(`SELECT pg_notify('refresh_location_history', $1)`, [
              JSON.stringify({ from: at, to: at, writer, n: sent }),
            ])
          }
        } finally {
          client.release()
        }
      }),
    )
    // ...and the 1000th in the transaction that writes a row: that row must be refreshed in.
    const client = await db.admin.connect()
    try {
      await client.query('BEGIN')
      await client.query(...db.insertStatement(42))
      await client.query(`SELECT pg_notify('refresh_location_history', 'test')`)
      await client.query('COMMIT')
    } finally {
      client.release()
    }
    expect(await refreshInFlight(db)).toBe(true)
    expect(historyRefreshes().length).toBe(before)
    await openGate()

    await expect.poll(() => db.historyIds(), { timeout: 15_000 }).toEqual([42])
    await expect.poll(() => refresher.health().refreshing).toBe(false)
    const refreshes = historyRefreshes().length - before
    expect(refreshes).toBe(2)

    const metrics = await getText(refresher.httpPort, '/metrics')
    expect(metricValue(metrics, 'tracker_refresher_notifications_received_total')).toBe(1000)
    // All but the first two (the running refresh's and the one that opened the next) were merged.
    expect(metricValue(metrics, 'tracker_refresher_notifications_coalesced_total')).toBe(998)
    expect(
      metricValue(
        metrics,
        'tracker_refresher_refreshes_total{object="location_history",outcome="refreshed"}',
      ),
    ).toBe(historyRefreshes().length)
  })

  it('with a minimum interval, a burst right after a refresh waits and is refreshed once', async () => {
    const refresher = await startQuiet({ REFRESH_MIN_INTERVAL: '1 second' })
    const before = historyRefreshes().length
    await db.insert(1)
    for (let i = 0; i < 50; i++) await db.notify(`n${i}`)
    await expect.poll(() => db.historyIds(), { timeout: 5_000 }).toEqual([1])
    await expect.poll(() => refresher.health().refreshing).toBe(false)
    expect(historyRefreshes().length - before).toBe(1)
  })

  it('never runs two location_history refreshes at once, and keeps the minimum interval between them', async () => {
    await startQuiet({ REFRESH_MIN_INTERVAL: '300 ms' })
    await db.setRefreshDelay(0.15)
    const before = historyRefreshes().length
    for (let i = 0; i < 5; i++) {
      await db.notify('test')
      await new Promise((resolve) => setTimeout(resolve, 120))
    }
    await expect.poll(() => refreshInFlight(db)).toBe(false)
    await new Promise((resolve) => setTimeout(resolve, 800))
    const runs = historyRefreshes().slice(before)
    expect(runs.length).toBeGreaterThanOrEqual(2)
    for (let i = 1; i < runs.length; i++) {
      const previousEnd = runs[i - 1]!.finishedAt.getTime()
      const start = runs[i]!.finishedAt.getTime() - runs[i]!.durationMs
      // Starts only after the previous one ended plus the minimum interval (timer slack allowed).
      expect(start - previousEnd).toBeGreaterThanOrEqual(290)
    }
  })

  it('a failed refresh is retried on its own once the cause is gone, without a new notification', async () => {
    const refresher = await startQuiet()
    // Without its primary key the upkeep's ON CONFLICT has nothing to name.
    await db.admin.query('ALTER TABLE location_history DROP CONSTRAINT location_history_key')
    await db.insert(4)
    await db.notify('test')
    await expect.poll(() => recorder.refreshesOf('location_history', { outcome: 'failed' }).length).toBe(1)
    expect(refresher.health().status).toBe('ok') // a failing refresh is not a dead listener
    await db.admin.query(HISTORY_KEY_DDL)
    await expect.poll(() => db.historyIds(), { timeout: 10_000 }).toEqual([4])
    // The table shows the row once the upkeep commits; it is reported after its statements end.
    await expect.poll(() => historyRefreshes().at(-1)?.trigger).toBe('retry')
    const metrics = await getText(refresher.httpPort, '/metrics')
    expect(
      metricValue(metrics, 'tracker_refresher_refreshes_total{object="location_history",outcome="failed"}'),
    ).toBeGreaterThanOrEqual(1)
  })

  it('serves /health with the last successful refresh of each object and its age', async () => {
    const refresher = await startQuiet()
    const { status, body } = await getHealth(refresher.httpPort)
    expect(status).toBe(200)
    expect(body).toMatchObject({
      status: 'ok',
      listener: { connected: true, reconnects: 0 },
      aggregates: expect.stringMatching(/^disabled: the timescaledb extension is not installed/),
      refreshes: {
        location_history: { lastSuccessAt: expect.any(String), ageSeconds: expect.any(Number) },
        location_history_hourly: { lastSuccessAt: null, ageSeconds: null },
        location_history_daily: { lastSuccessAt: null, ageSeconds: null },
      },
      periodic: { lastOutcome: 'refreshed', lockBackend: 'in-process', lastRefreshStore: 'memory' },
    })
    expect(Date.parse(body.refreshes.location_history.lastSuccessAt!)).toBeLessThanOrEqual(Date.now())
    expect((await fetch(`http://127.0.0.1:${refresher.httpPort}/nope`)).status).toBe(404)
  })
})

describe('graceful shutdown', () => {
  it('lets a refresh in flight finish within the grace, then UNLISTENs and closes its connection', async () => {
    const refresher = await startQuiet({ SHUTDOWN_GRACE: '10 seconds' })
    await db.setRefreshDelay(0.5)
    await db.insert(5)
    await db.notify('test')
    await expect.poll(() => refreshInFlight(db)).toBe(true)
    await refresher.stop()
    expect(await db.historyIds()).toEqual([5])
    expect(historyRefreshes('notification')).toHaveLength(1)
    expect(await db.listenerPids()).toEqual([])
    expect(refresher.health().status).toBe('down')
  })

  it('cancels a refresh that outlasts the grace, and the cancelled statement stops in the database', async () => {
    const refresher = await startQuiet({ SHUTDOWN_GRACE: '200 ms' })
    await db.setRefreshDelay(60)
    await db.notify('test')
    await expect.poll(() => refreshInFlight(db)).toBe(true)
    await refresher.stop()
    expect(recorder.refreshesOf('location_history', { outcome: 'cancelled' })).toHaveLength(1)
    expect(await refreshInFlight(db)).toBe(false)
    expect(await db.listenerPids()).toEqual([])
  })
})
