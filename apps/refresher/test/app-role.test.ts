import {
  DAY_MS,
  DEFAULT_RETENTION,
  DEFAULT_ROLE_NAMES,
  type EmbeddedDatabase,
  HOUR_MS,
  sql,
} from '@tracker/db'
import {
  createTestDatabase,
  insertTracker,
  reportRow,
  type TestDatabase,
  withAppRoles,
} from '@tracker/db/testing'
import { InProcessLockService } from '@tracker/locks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { check, type RunningRefresher, rebuild, refreshAll } from '../src/index.ts'
import { Recorder, startSettledRefresher, testLogger } from './helpers/refresher-harness.ts'

// The refresher under its own database role (applyAppRoles, as the migrate step makes it with
// DB_ROLES=on): every statement of its refreshes runs under SET ROLE tracker_refresher on the
// embedded engine. TimescaleDB refreshes a continuous aggregate only for its owner, which is why that
// role owns the two aggregates; this is the proof that the real refresh path needs nothing more.
// Reports are inserted as the owner, as the importer's role would (the insert trigger notifies).
let owner: TestDatabase
let asRefresher: EmbeddedDatabase
let locks: InProcessLockService
let refresher: RunningRefresher
const recorder = new Recorder()

beforeAll(async () => {
  owner = await createTestDatabase()
  const asRole = await withAppRoles(owner)
  asRefresher = asRole('refresher')
  // Reports older than the periodic windows' start, so the first periodic refresh has work to do.
  const tracker = await insertTracker(owner.db)
  await owner.db
    .insertInto('location_reports')
    .values([
      reportRow(tracker.hashedAdvKeys[0]!, new Date(Date.now() - 3 * HOUR_MS)),
      reportRow(tracker.hashedAdvKeys[0]!, new Date(Date.now() - 3 * DAY_MS)),
    ])
    .execute()
  locks = new InProcessLockService()
  refresher = await startSettledRefresher({ database: asRefresher, locks, hooks: recorder })
})

afterAll(async () => {
  await refresher?.stop()
  await locks?.close()
  await asRefresher?.close()
  await owner?.close()
})

const historyOf = (trackerId: string) =>
  owner.db
    .selectFrom('location_history')
    .select(['bucket_size', 'report_count'])
    .where('tracker_id', '=', trackerId)
    .orderBy('timestamp')
    .execute()

const options = () => ({
  database: asRefresher,
  retention: DEFAULT_RETENTION,
  statementTimeoutMs: 60_000,
  logger: testLogger,
})

describe('the refresher under its database role', () => {
  it('is really under it', async () => {
    const { rows } = await sql<{ role: string }>`SELECT current_user AS role`.execute(asRefresher.db)
    expect(rows).toEqual([{ role: DEFAULT_ROLE_NAMES.refresher }])
  })

  it('at start refreshes both aggregates and location_history', () => {
    const periodic = recorder.refreshes.filter((e) => e.trigger === 'periodic')
    expect(periodic.map((e) => [e.object, e.outcome])).toEqual([
      ['location_history_hourly', 'refreshed'],
      ['location_history_daily', 'refreshed'],
      ['location_history', 'refreshed'],
    ])
    expect(refresher.health().status).toBe('ok')
  })

  it('keeps location_history for a report inserted (the notification path)', async () => {
    const tracker = await insertTracker(owner.db)
    await owner.db
      .insertInto('location_reports')
      .values(reportRow(tracker.hashedAdvKeys[0]!, new Date(Date.now() - 10 * 60_000)))
      .execute()
    await expect
      .poll(() => historyOf(tracker.id), { timeout: 10_000 })
      .toEqual([{ bucket_size: '1 hour', report_count: 1 }])
    expect(recorder.refreshes.filter((e) => e.outcome === 'failed')).toEqual([])
  })

  it('runs refresh-all, rebuild and check (the CLI commands)', async () => {
    await expect.poll(() => refresher.health().refreshing).toBe(false)
    const all = await refreshAll(options())
    expect(all.events.map((e) => [e.object, e.outcome])).toEqual([
      ['location_history_hourly', 'refreshed'],
      ['location_history_daily', 'refreshed'],
      ['location_history', 'refreshed'],
    ])
    expect((await rebuild(options())).ok).toBe(true)
    expect((await check(options())).ok).toBe(true)
  })

  it('still cannot write reports, read tokens, or drop what it does not own', async () => {
    const tracker = await insertTracker(owner.db)
    await expect(
      asRefresher.db
        .insertInto('location_reports')
        .values(reportRow(tracker.hashedAdvKeys[0]!, new Date()))
        .execute(),
    ).rejects.toThrow(/permission denied/)
    await expect(sql`SELECT * FROM api_tokens`.execute(asRefresher.db)).rejects.toThrow(/permission denied/)
    await expect(sql`DROP TABLE location_reports`.execute(asRefresher.db)).rejects.toThrow(/must be owner/)
  })
})
