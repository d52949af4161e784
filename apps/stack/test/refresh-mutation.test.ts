import { buildApp, createApiToken, parseApiEnv } from '@tracker/api'
import {
  DAY_MS,
  HISTORY_REFRESHED_CHANNEL,
  HOUR_MS,
  KeyOpener,
  type NotificationListener,
  sql,
  type TrackerDatabase,
} from '@tracker/db'
import { createTestDatabase, insertTracker, reportRow, type TestDatabase } from '@tracker/db/testing'
import { InProcessLockService, LOCK_NAMES } from '@tracker/locks'
import {
  parseRefresherEnv,
  type RefresherHooks,
  type RunningRefresher,
  startRefresher,
} from '@tracker/refresher'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'

// refreshLocationHistoryAggregates as the demo runs it: the API and the refresher in one process on
// one database (the embedded engine, or a server with TEST_DATABASE_URL), sharing the in-process
// lock. The API asks, the refresher refreshes: every statement the API sends is recorded, and none
// may refresh anything (its database role needs no ownership of the aggregates).

type App = Awaited<ReturnType<typeof buildApp>>
const silent = pino({ level: 'silent' })
// The API holds the public key tracker keys are sealed to (these tests seal none).
const KEY_SEALING_PUBLIC_KEY = KeyOpener.generate().publicKey

type KyselyPlugin = Parameters<TrackerDatabase['db']['withPlugin']>[0]

/** Every statement sent through a database handle, sessions included (aggregate refreshes run in one). */
class StatementLog implements KyselyPlugin {
  readonly statements: string[] = []
  readonly #compiler: ReturnType<TrackerDatabase['db']['getExecutor']>
  constructor(database: TrackerDatabase) {
    this.#compiler = database.db.getExecutor()
  }
  transformQuery(args: Parameters<KyselyPlugin['transformQuery']>[0]) {
    this.statements.push(this.#compiler.compileQuery(args.node, args.queryId).sql)
    return args.node
  }
  async transformResult(args: Parameters<KyselyPlugin['transformResult']>[0]) {
    return args.result
  }
  refreshes(): string[] {
    return this.statements.filter((s) =>
      /refresh_continuous_aggregate|\bREFRESH\b|location_history_state/i.test(s),
    )
  }
}

function recorded(database: TrackerDatabase, log: StatementLog): TrackerDatabase {
  return {
    ...database,
    db: database.db.withPlugin(log),
    withSession: (fn, options) => database.withSession((session) => fn(session.withPlugin(log)), options),
  }
}

let database: TestDatabase
const locks = new InProcessLockService()
let apiStatements: StatementLog
const refreshes: { object: string; outcome: string; trigger: string; runId: string }[] = []
let refresher: RunningRefresher
let app: App
let token: string
let answers: NotificationListener
const answered: { request: string; outcome: string }[] = []

async function startApi(env: Record<string, string> = {}): Promise<App> {
  const started = await buildApp({
    database: recorded(database, apiStatements),
    locks,
    logger: silent,
    config: parseApiEnv({ KEY_SEALING_PUBLIC_KEY, LOG_LEVEL: 'silent', ...env }),
  })
  return started
}

async function startTheRefresher(): Promise<RunningRefresher> {
  const hooks: RefresherHooks = {
    onRefresh: (e) =>
      refreshes.push({ object: e.object, outcome: e.outcome, trigger: e.trigger, runId: e.runId }),
  }
  const started = await startRefresher({
    database,
    locks,
    logger: silent,
    config: parseRefresherEnv({
      LOG_LEVEL: 'silent',
      REFRESHER_HTTP_PORT: '0',
      REFRESHER_HTTP_HOST: '127.0.0.1',
      REFRESH_MIN_INTERVAL: '0',
    }),
    hooks,
  })
  // Caught up and its periodic refresh done: what runs from now on, a test asked for.
  await vi.waitFor(
    () => {
      const health = started.health()
      if (health.periodic.lastOutcome !== 'refreshed' || health.refreshing) throw new Error('still starting')
    },
    { timeout: 30_000, interval: 50 },
  )
  return started
}

beforeAll(async () => {
  database = await createTestDatabase()
  apiStatements = new StatementLog(database)
  refresher = await startTheRefresher()
  app = await startApi()
  token = (await createApiToken(database.db, { name: 'refresh', scope: 'write' })).token
  answers = await database.listen(HISTORY_REFRESHED_CHANNEL, {
    onNotification: (payload) => {
      const parsed = JSON.parse(payload) as { object?: string; request?: string; outcome?: string }
      if (parsed.object === 'refresh_request')
        answered.push({ request: parsed.request!, outcome: parsed.outcome! })
    },
  })
})

afterAll(async () => {
  await answers?.close()
  await app?.close()
  await refresher?.stop()
  await locks.close()
  await database?.close()
})

const iso = (ms: number) => new Date(ms).toISOString()
const hourStart = (ms: number) => Math.floor(ms / HOUR_MS) * HOUR_MS
const dayStart = (ms: number) => Math.floor(ms / DAY_MS) * DAY_MS

async function gql(on: App, query: string, variables?: Record<string, unknown>) {
  const response = await on.inject({
    method: 'POST',
    url: '/graphql',
    headers: { authorization: `Bearer ${token}` },
    payload: { query, ...(variables ? { variables } : {}) },
  })
  return response.json() as {
    data?: Record<string, unknown> | null
    errors?: { message: string; extensions: { code: string; [key: string]: unknown } }[]
  }
}

const refreshMutation = (on: App, trackerId: string, from: number, to: number) =>
  gql(
    on,
    `mutation ($id: ID!, $from: DateTime!, $to: DateTime!) {
       refreshLocationHistoryAggregates(trackerId: $id, startTime: $from, endTime: $to)
     }`,
    { id: trackerId, from: iso(from), to: iso(to) },
  )

async function history(trackerId: string, from: number, to: number, bucketSize: string) {
  const body = await gql(
    app,
    `query ($id: ID!, $from: DateTime!, $to: DateTime!, $size: String!) {
       locationHistoryAggregated(trackerId: $id, startTime: $from, endTime: $to, bucketSize: $size) {
         timestamp reportCount nearestCity source
       }
     }`,
    { id: trackerId, from: iso(from), to: iso(to), size: bucketSize },
  )
  expect(body.errors).toBeUndefined()
  return body.data!.locationHistoryAggregated as {
    timestamp: string
    reportCount: number
    nearestCity: string | null
    source: string
  }[]
}

async function insertReports(key: string, rows: { at: number; city: string; latitude?: number }[]) {
  await database.db
    .insertInto('location_reports')
    .values(
      rows.map((r) =>
        reportRow(key, new Date(r.at), { nearest_city: r.city, latitude: r.latitude ?? 52.52 }),
      ),
    )
    .execute()
}

/** The aggregates' own rows (materialized, not the real-time part) for a tracker's bucket. */
async function aggregateRow(
  view: 'location_history_hourly' | 'location_history_daily',
  trackerId: string,
  at: number,
) {
  return database.db
    .selectFrom(view)
    .select(['report_count', 'nearest_city'])
    .where('tracker_id', '=', trackerId)
    .where('bucket', '=', new Date(at))
    .executeTakeFirst()
}

describe('refreshLocationHistoryAggregates, answered by the refresher', () => {
  it('returns true after the refresher refreshed: the late reports are in both aggregates and location_history; the API refreshed nothing', async () => {
    const tracker = await insertTracker(database.db)
    const key = tracker.hashedAdvKeys[0]!
    const now = Date.now()
    const day = dayStart(now - 3 * DAY_MS)
    const hour = hourStart(now - 3 * HOUR_MS)
    await insertReports(key, [
      { at: day + 2 * HOUR_MS, city: 'Early, DE' },
      { at: hour + 60_000, city: 'Recent, DE' },
    ])
    // Both buckets materialized: reports arriving for them now are late (below the watermarks).
    await database.withSession(async (session) => {
      await sql`CALL refresh_continuous_aggregate('location_history_hourly', ${iso(hour)}::timestamptz, ${iso(hour + HOUR_MS)}::timestamptz)`.execute(
        session,
      )
      await sql`CALL refresh_continuous_aggregate('location_history_daily', ${iso(day)}::timestamptz, ${iso(day + DAY_MS)}::timestamptz)`.execute(
        session,
      )
    })
    await insertReports(key, [
      { at: day + 20 * HOUR_MS, city: 'Late, DE', latitude: 40.4 },
      { at: hour + 30 * 60_000, city: 'Late hour, DE', latitude: 41.4 },
    ])
    expect(await aggregateRow('location_history_daily', tracker.id, day)).toEqual({
      report_count: 1,
      nearest_city: 'Early, DE',
    })
    expect(await aggregateRow('location_history_hourly', tracker.id, hour)).toEqual({
      report_count: 1,
      nearest_city: 'Recent, DE',
    })

    apiStatements.statements.splice(0)
    const manualBefore = refreshes.filter((e) => e.trigger === 'manual').length
    const body = await refreshMutation(app, tracker.id, now - 4 * DAY_MS, now)
    expect(body).toEqual({ data: { refreshLocationHistoryAggregates: true } })

    // Answered once the refresher did it all: the aggregates' own rows and location_history.
    expect(await aggregateRow('location_history_daily', tracker.id, day)).toEqual({
      report_count: 2,
      nearest_city: 'Late, DE',
    })
    expect(await aggregateRow('location_history_hourly', tracker.id, hour)).toEqual({
      report_count: 2,
      nearest_city: 'Late hour, DE',
    })
    const stored = await database.db
      .selectFrom('location_history')
      .select(['timestamp', 'bucket_size', 'report_count', 'nearest_city'])
      .where('tracker_id', '=', tracker.id)
      .where('timestamp', 'in', [new Date(day), new Date(hour)])
      .orderBy('timestamp')
      .execute()
    expect(stored).toEqual([
      { timestamp: new Date(day), bucket_size: '1 day', report_count: 2, nearest_city: 'Late, DE' },
      { timestamp: new Date(hour), bucket_size: '1 hour', report_count: 2, nearest_city: 'Late hour, DE' },
    ])
    expect((await history(tracker.id, now - 4 * DAY_MS, now, '1 day'))[0]).toMatchObject({
      timestamp: iso(day),
      reportCount: 2,
      nearestCity: 'Late, DE',
      source: 'LOCATION_HISTORY',
    })
    // The refresher ran both aggregates and location_history for the request ...
    const manual = refreshes.filter((e) => e.trigger === 'manual').slice(manualBefore)
    expect(manual.map((e) => [e.object, e.outcome])).toEqual([
      ['location_history_hourly', 'refreshed'],
      ['location_history_daily', 'refreshed'],
      ['location_history', 'refreshed'],
    ])
    expect(answered.filter((a) => a.request === manual[0]!.runId).map((a) => a.outcome)).toEqual([
      'accepted',
      'refreshed',
    ])
    // ... and the API sent no refresh of any kind: it looked the tracker up and asked.
    expect(apiStatements.statements.length).toBeGreaterThan(0)
    expect(apiStatements.refreshes()).toEqual([])
    expect(apiStatements.statements.some((s) => s.includes('history_change_payload'))).toBe(true)
  })

  it('answers two concurrent mutations, each with its own answer', async () => {
    const [a, b] = [await insertTracker(database.db), await insertTracker(database.db)]
    const now = Date.now()
    const before = answered.length
    apiStatements.statements.splice(0)
    const results = await Promise.all([
      refreshMutation(app, a.id, now - 2 * DAY_MS, now - DAY_MS),
      refreshMutation(app, b.id, now - 6 * HOUR_MS, now),
    ])
    expect(results).toEqual([
      { data: { refreshLocationHistoryAggregates: true } },
      { data: { refreshLocationHistoryAggregates: true } },
    ])
    const requests = new Set(answered.slice(before).map((x) => x.request))
    expect(requests.size).toBe(2)
    for (const request of requests) {
      expect(answered.filter((x) => x.request === request).map((x) => x.outcome)).toEqual([
        'accepted',
        'refreshed',
      ])
    }
    expect(apiStatements.refreshes()).toEqual([])
  })

  it('waits while the periodic refresh holds the shared lock, then refreshes', async () => {
    const tracker = await insertTracker(database.db)
    const held = await locks.tryAcquire(LOCK_NAMES.aggregateRefresh)
    expect(held).not.toBeNull()
    const before = answered.length
    let settled = false
    const pending = refreshMutation(app, tracker.id, Date.now() - HOUR_MS, Date.now()).finally(() => {
      settled = true
    })
    // The refresher took it and waits for the lock.
    await expect.poll(() => answered.slice(before).map((a) => a.outcome)).toEqual(['accepted'])
    expect(settled).toBe(false)
    await held!.release()
    expect(await pending).toEqual({ data: { refreshLocationHistoryAggregates: true } })
    expect(locks.isHeld(LOCK_NAMES.aggregateRefresh)).toBe(false)
  })

  it('gives up with REFRESH_BUSY when the lock stays taken longer than API_REFRESH_LOCK_WAIT', async () => {
    const impatient = await startApi({ API_REFRESH_LOCK_WAIT: '200 ms' })
    const tracker = await insertTracker(database.db)
    const held = await locks.tryAcquire(LOCK_NAMES.aggregateRefresh)
    try {
      const body = await refreshMutation(impatient, tracker.id, Date.now() - HOUR_MS, Date.now())
      expect(body.errors?.[0]?.extensions.code).toBe('REFRESH_BUSY')
      expect(body.errors?.[0]?.message).toMatch(/Another refresh .* held the lock/)
    } finally {
      await held!.release()
      await impatient.close()
    }
  })

  it('a window entirely older than the safe horizon (the seed example, January 2025) keeps location_history and returns true', async () => {
    const tracker = await insertTracker(database.db)
    const body = await refreshMutation(
      app,
      tracker.id,
      Date.parse('2025-01-01T00:00:00Z'),
      Date.parse('2025-01-31T23:59:59Z'),
    )
    expect(body).toEqual({ data: { refreshLocationHistoryAggregates: true } })
  })

  // Last: it stops the refresher.
  it('without a refresher: REFRESH_TIMEOUT within API_REFRESH_ACCEPT_TIMEOUT, nothing refreshed, nothing left waiting', async () => {
    await refresher.stop()
    const alone = await startApi({ API_REFRESH_ACCEPT_TIMEOUT: '300 ms' })
    try {
      const tracker = await insertTracker(database.db)
      const manualBefore = refreshes.filter((e) => e.trigger === 'manual').length
      const started = Date.now()
      const body = await refreshMutation(alone, tracker.id, Date.now() - HOUR_MS, Date.now())
      expect(Date.now() - started).toBeLessThan(5_000)
      expect(body.data).toBeNull()
      expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'REFRESH_TIMEOUT', accepted: false })
      expect(body.errors?.[0]?.message).toMatch(/No refresher answered within 0\.\d s/)
      expect(alone.services.refreshRequester.pending).toBe(0)
      expect(refreshes.filter((e) => e.trigger === 'manual').length).toBe(manualBefore)
    } finally {
      await alone.close()
    }
  })
})
