import { DAY_MS, DEFAULT_ROLE_NAMES, type EmbeddedDatabase, HOUR_MS, silentLogger, sql } from '@tracker/db'
import {
  createTestDatabase,
  insertTracker,
  reportRow,
  type TestDatabase,
  withAppRoles,
} from '@tracker/db/testing'
import { RefreshRequester } from '@tracker/history'
import { InProcessLockService } from '@tracker/locks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningRefresher } from '../src/index.ts'
import { Recorder, startSettledRefresher } from './helpers/refresher-harness.ts'

// The API's refresh mutation across the apps' database roles (applyAppRoles, as the migrate step
// makes them with DB_ROLES=on) on the embedded engine: the API's side (RefreshRequester, what
// refreshLocationHistoryAggregates calls) under SET ROLE tracker_api, the refresher under
// tracker_refresher. The API's role owns no aggregate and cannot refresh one; the request is
// answered all the same, because the refresher refreshes.
let owner: TestDatabase
let asApi: EmbeddedDatabase
let asRefresher: EmbeddedDatabase
let locks: InProcessLockService
let refresher: RunningRefresher
let requester: RefreshRequester
const recorder = new Recorder()

beforeAll(async () => {
  owner = await createTestDatabase()
  const asRole = await withAppRoles(owner)
  asApi = asRole('api')
  asRefresher = asRole('refresher')
  locks = new InProcessLockService()
  refresher = await startSettledRefresher({ database: asRefresher, locks, hooks: recorder })
  requester = new RefreshRequester({
    database: asApi,
    logger: silentLogger,
    acceptTimeoutMs: 5_000,
    timeoutMs: 60_000,
  })
})

afterAll(async () => {
  await requester?.close()
  await refresher?.stop()
  await locks?.close()
  await asApi?.close()
  await asRefresher?.close()
  await owner?.close()
})

const hourStart = (ms: number) => Math.floor(ms / HOUR_MS) * HOUR_MS

describe("the refresh mutation's request under the API's database role", () => {
  it('is answered refreshed by the refresher under its role; the API role itself may not refresh', async () => {
    const { rows } = await sql<{ role: string }>`SELECT current_user AS role`.execute(asApi.db)
    expect(rows).toEqual([{ role: DEFAULT_ROLE_NAMES.api }])
    const hour = hourStart(Date.now() - 3 * HOUR_MS)
    const refreshHour = sql`CALL refresh_continuous_aggregate('location_history_hourly', ${new Date(hour).toISOString()}::timestamptz, ${new Date(hour + HOUR_MS).toISOString()}::timestamptz)`
    await expect(asApi.withSession((session) => refreshHour.execute(session))).rejects.toThrow(
      /must be owner|permission denied/,
    )

    // A late report (its hour materialized first), inserted as the owner as the importer's role would.
    const tracker = await insertTracker(owner.db)
    const key = tracker.hashedAdvKeys[0]!
    await owner.db
      .insertInto('location_reports')
      .values(reportRow(key, new Date(hour + 5 * 60_000)))
      .execute()
    await asRefresher.withSession((session) => refreshHour.execute(session))
    await owner.db
      .insertInto('location_reports')
      .values(reportRow(key, new Date(hour + 50 * 60_000)))
      .execute()

    const answer = await requester.request(
      { from: new Date(hour - 2 * DAY_MS), to: new Date() },
      { lockWaitMs: 30_000 },
    )
    expect(answer.outcome).toBe('refreshed')
    const row = await owner.db
      .selectFrom('location_history_hourly')
      .select('report_count')
      .where('tracker_id', '=', tracker.id)
      .where('bucket', '=', new Date(hour))
      .executeTakeFirst()
    expect(row).toEqual({ report_count: 2 })
    expect(
      recorder.refreshes.filter((e) => e.trigger === 'manual').map((e) => [e.object, e.outcome]),
    ).toEqual([
      ['location_history_hourly', 'refreshed'],
      ['location_history_daily', 'refreshed'],
      ['location_history', 'refreshed'],
    ])
  })
})
