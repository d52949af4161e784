import type { TrackerDatabase } from '@tracker/db'
import { InProcessLockService } from '@tracker/locks'
import { describe, expect, it } from 'vitest'
import { startImporter } from '../src/importer.ts'
import { ChildImporter, sharedDatabase } from './child-importer.ts'
import { expectedReports, fixedNow, type ImportFixture, importFixture, silent } from './fixtures.ts'

const childEnv = (fixture: ImportFixture, env: Record<string, string>) => ({
  KEY_SEALING_PRIVATE_KEY: fixture.secret,
  REPORT_ENDPOINT_URL: fixture.simulator.url,
  REPORT_ENDPOINT_PAUSE: '1 ms',
  ...env,
})

const storedRows = async (database: TrackerDatabase) =>
  Number(
    (
      await database.db
        .selectFrom('location_reports')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  )

describe('a run killed with SIGKILL', () => {
  it('after 2 committed batches: the ledger shows exactly those rows; the next run completes the rest', async () => {
    const shared = await sharedDatabase()
    try {
      let database = await shared.open()
      const fixture = await importFixture(database, {
        seed: 21,
        trackers: 3,
        keysPerTracker: 1,
        env: { REPORT_ENDPOINT_BATCH_SIZE: '1' },
      })
      const now = fixedNow()()
      const expected = expectedReports(fixture, now)
      // Batches 1 and 2 are served, then the endpoint stalls: the child is killed waiting for batch 3.
      fixture.simulator.setFailures({ next: [null, null], when: () => ({ type: 'slow', delayMs: 60_000 }) })
      await shared.release()

      const child = new ChildImporter(['--once'], {
        ...shared.env,
        ...childEnv(fixture, { REPORT_ENDPOINT_BATCH_SIZE: '1' }),
      })
      await child.waitForLine((line) => line.msg === 'report batch inserted' && line.batch === 2)
      child.kill('SIGKILL')
      expect(await child.exited).toBe('SIGKILL')
      fixture.simulator.setFailures(null)

      database = await shared.open()
      const committedKeys = new Set(fixture.simulator.requests.slice(0, 2).flatMap((r) => r.ids))
      const served = fixture.simulator.network
        .visibleReports({ days: 7, now })
        .filter((r) => committedKeys.has(r.hashedAdvKey))
      const afterKill = await database.db.selectFrom('import_runs').selectAll().execute()
      expect(afterKill.map((r) => r.status)).toEqual(['running'])
      const rows = await storedRows(database)
      expect(rows).toBe(expected.filter((r) => committedKeys.has(r.hashedAdvKey)).length)
      // The ledger tells the truth about what was committed: both batches, all their counts.
      expect(afterKill[0]!.reports_inserted).toBe(rows)
      expect(afterKill[0]!.reports_fetched).toBe(served.length)
      const rejected = Object.values(afterKill[0]!.rejected).reduce((a, b) => a + b, 0)
      expect(afterKill[0]!.reports_inserted + afterKill[0]!.reports_duplicate + rejected).toBe(served.length)

      const importer = await startImporter({
        database,
        locks: new InProcessLockService(),
        logger: silent,
        config: fixture.config,
        http: false,
        schedule: false,
        decryptThreads: 0,
      })
      const result = await importer.runNow()
      await importer.stop()
      expect(result.outcome).toBe('succeeded')

      const runs = await database.db.selectFrom('import_runs').selectAll().orderBy('started_at').execute()
      expect(runs.map((r) => r.status)).toEqual(['interrupted', 'succeeded'])
      expect(runs[0]!.error).toContain(result.runId!)
      // Nothing lost, nothing doubled, and the two ledger rows add up exactly.
      const stored = await database.db
        .selectFrom('location_reports')
        .select(['hashed_adv_key', 'timestamp'])
        .execute()
      expect(stored).toHaveLength(expected.length)
      expect(new Set(stored.map((r) => `${r.hashed_adv_key}|${r.timestamp.getTime()}`)).size).toBe(
        expected.length,
      )
      expect(runs[0]!.reports_inserted + runs[1]!.reports_inserted).toBe(expected.length)
    } finally {
      await shared.dispose()
    }
  })

  it('in the middle of a batch of many statements: the ledger equals the rows committed', async () => {
    const shared = await sharedDatabase()
    try {
      let database = await shared.open()
      const fixture = await importFixture(database, {
        seed: 22,
        trackers: 4,
        keysPerTracker: 1,
        simulator: { reportsPerDay: 48 },
        env: { REPORT_ENDPOINT_BATCH_SIZE: '3' },
      })
      // Batch 1 (three keys, ~1,000 reports) is inserted one row a statement; batch 2 never comes.
      fixture.simulator.setFailures({ next: [null], when: () => ({ type: 'slow', delayMs: 60_000 }) })
      await shared.release()

      const child = new ChildImporter(['--once'], {
        ...shared.env,
        ...childEnv(fixture, { REPORT_ENDPOINT_BATCH_SIZE: '3', IMPORT_INSERT_BATCH_SIZE: '1' }),
      })
      // Killed while statements are still committing, wherever that lands.
      await child.waitUntil(() => child.logged('report batch inserted').length >= 5)
      child.kill('SIGKILL')
      expect(await child.exited).toBe('SIGKILL')
      fixture.simulator.setFailures(null)

      database = await shared.open()
      const [run] = await database.db.selectFrom('import_runs').selectAll().execute()
      const rows = await storedRows(database)
      const firstBatch = new Set(fixture.simulator.requests[0]!.ids)
      // It died half way through the batch (the logs are written synchronously, so the kill is prompt).
      expect(rows).toBeGreaterThanOrEqual(5)
      expect(rows).toBeLessThan(
        expectedReports(fixture, fixedNow()()).filter((r) => firstBatch.has(r.hashedAdvKey)).length,
      )
      expect(run!.status).toBe('running')
      expect(run!.reports_inserted).toBe(rows)
    } finally {
      await shared.dispose()
    }
  })
})
