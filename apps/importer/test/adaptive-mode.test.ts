import { createTestDatabase, type TestDatabase } from '@tracker/db/testing'
import { InProcessLockService } from '@tracker/locks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseImporterEnv } from '../src/env.ts'
import { startImporter } from '../src/importer.ts'
import { importFixture, silent } from './fixtures.ts'

let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(() => database?.close())

describe('IMPORT_MODE=adaptive', () => {
  it('needs a request budget, and bounds that make sense', () => {
    const base = { KEY_SEALING_PRIVATE_KEY: 'x', IMPORT_MODE: 'adaptive' }
    expect(() => parseImporterEnv(base)).toThrow(/IMPORT_MODE=adaptive needs IMPORT_REQUEST_BUDGET/)
    expect(() =>
      parseImporterEnv({
        ...base,
        IMPORT_REQUEST_BUDGET: '10',
        IMPORT_MIN_POLL_INTERVAL: '2 hours',
        IMPORT_MAX_POLL_INTERVAL: '1 hour',
      }),
    ).toThrow(/IMPORT_MIN_POLL_INTERVAL must not be longer/)
    expect(() => parseImporterEnv({ ...base, IMPORT_REQUEST_BUDGET: '-1' })).toThrow(/IMPORT_REQUEST_BUDGET/)
  })

  it('polls the due trackers instead of the schedule, within the budget, and sets each one a next poll', async () => {
    // 12 one-key trackers: 3 requests of 5 ids poll them all; the budget allows 3 an hour.
    const fixture = await importFixture(database, {
      trackers: 12,
      keysPerTracker: 1,
      env: { IMPORT_MODE: 'adaptive', IMPORT_REQUEST_BUDGET: '3' },
    })
    const running = await startImporter({
      database,
      locks: new InProcessLockService(),
      logger: silent,
      config: fixture.config,
      http: false,
      decryptThreads: 0,
    })
    try {
      expect(running.startupRun).toBeNull()
      const polled = () =>
        database.db
          .selectFrom('tracker_polling')
          .selectAll()
          .where('tracker_id', 'in', fixture.trackerIds)
          .execute()
      await expect.poll(async () => (await polled()).length, { timeout: 60_000 }).toBe(12)
      const runs = await database.db
        .selectFrom('import_runs')
        .selectAll()
        .where('trigger', '=', 'poll')
        .execute()
      expect(runs.length).toBeGreaterThanOrEqual(1)
      expect(runs.every((r) => r.status === 'succeeded')).toBe(true)
      for (const row of await polled()) {
        expect(row.last_poll_at).not.toBeNull()
        expect(row.next_poll_at.getTime()).toBeGreaterThan(row.last_poll_at!.getTime())
      }
      // The budget is a hard ceiling: 3 requests, then nothing for the rest of the hour.
      expect(fixture.simulator.requests.length).toBe(3)
      const log = await database.db.selectFrom('endpoint_request_log').selectAll().execute()
      expect(log.length).toBe(3)
    } finally {
      await running.stop()
    }
  })
})
