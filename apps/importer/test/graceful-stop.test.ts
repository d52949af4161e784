import { createTestDatabase, type TestDatabase } from '@tracker/db/testing'
import { InProcessLockService } from '@tracker/locks'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningImporter, startImporter } from '../src/importer.ts'
import { countReports, expectedReports, fixedNow, importFixture, silent } from './fixtures.ts'

let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(() => database?.close())

const countRows = (trackerIds: string[]) => countReports(database, trackerIds)

const ledger = (runId: string) =>
  database.db.selectFrom('import_runs').selectAll().where('id', '=', runId).executeTakeFirstOrThrow()

const start = (fixture: Awaited<ReturnType<typeof importFixture>>, logger = silent) =>
  startImporter({
    database,
    locks: new InProcessLockService(),
    logger,
    config: fixture.config,
    http: false,
    schedule: false,
    decryptThreads: 0,
  })

describe('a graceful stop while batches are fetched ahead', () => {
  it('finishes the batch being inserted, counts nothing fetched ahead, and the next run completes', async () => {
    const fixture = await importFixture(database, {
      seed: 31,
      trackers: 4,
      keysPerTracker: 1,
      // One key per request, and several statements per batch, so the stop lands inside an insert.
      env: { REPORT_ENDPOINT_BATCH_SIZE: '1', IMPORT_INSERT_BATCH_SIZE: '10' },
    })
    const expected = expectedReports(fixture, fixedNow()())
    let running: RunningImporter | undefined
    let stopping: Promise<void> | undefined
    let inserting = false
    let fetchedAhead = false
    // Shutdown comes once batch 1 is being inserted and batch 2 has been fetched, whichever is last.
    const logger = pino(
      { level: 'debug' },
      {
        write(line: string) {
          const entry = JSON.parse(line) as { msg: string; batch?: number }
          if (entry.msg === 'report batch inserted' && entry.batch === 1) inserting = true
          if (entry.msg === 'reports received' && entry.batch === 2) fetchedAhead = true
          if (inserting && fetchedAhead && !stopping) stopping = running!.stop()
        },
      },
    )
    running = await start(fixture, logger)
    const result = await running.runNow()
    await stopping
    expect(stopping).toBeDefined()
    expect(result.outcome).toBe('interrupted')

    const firstKey = fixture.simulator.requests[0]!.ids[0]!
    const served = fixture.simulator.network.visibleReports({ days: 7, now: fixedNow()() })
    const rows = await countRows(fixture.trackerIds)
    const run = await ledger(result.runId!)
    expect(run.status).toBe('interrupted')
    // The batch being inserted was finished: all of its key's reports are stored, and only those.
    expect(rows).toBe(expected.filter((r) => r.hashedAdvKey === firstKey).length)
    // The ledger counts exactly what was committed; the batch fetched ahead is in no count.
    expect(fixture.simulator.requests.length).toBeGreaterThanOrEqual(2)
    expect(run.reports_inserted).toBe(rows)
    expect(run.reports_fetched).toBe(served.filter((r) => r.hashedAdvKey === firstKey).length)
    const rejected = Object.values(run.rejected).reduce((a, b) => a + b, 0)
    expect(run.reports_inserted + run.reports_duplicate + rejected).toBe(run.reports_fetched)

    // The next run fetches the dropped batches again: nothing lost, nothing doubled.
    const next = await start(fixture)
    try {
      const completed = await next.runNow()
      expect(completed.outcome).toBe('succeeded')
      expect(completed.totals!.reportsInserted).toBe(expected.length - rows)
      expect(await countRows(fixture.trackerIds)).toBe(expected.length)
    } finally {
      await next.stop()
    }
  })

  it('a stop while the next request is in flight ends the run interrupted, not failed', async () => {
    const fixture = await importFixture(database, {
      seed: 32,
      trackers: 3,
      keysPerTracker: 1,
      env: { REPORT_ENDPOINT_BATCH_SIZE: '1' },
    })
    const expected = expectedReports(fixture, fixedNow()())
    // Batch 1 is served; batch 2 stalls, so the stop comes while its request is in flight.
    fixture.simulator.setFailures({ next: [null], when: () => ({ type: 'slow', delayMs: 60_000 }) })
    const running = await start(fixture)
    const run = running.runNow()
    // Batch 1 is committed and in the ledger.
    await expect
      .poll(
        async () =>
          (
            await database.db
              .selectFrom('import_runs')
              .select('reports_inserted')
              .where('status', '=', 'running')
              .executeTakeFirst()
          )?.reports_inserted ?? 0,
      )
      .toBeGreaterThan(0)
    const stopped = performance.now()
    await running.stop()
    const result = await run
    // The stalled request was aborted, not waited for.
    expect(performance.now() - stopped).toBeLessThan(10_000)
    expect(result.outcome).toBe('interrupted')
    const rows = await countRows(fixture.trackerIds)
    expect(rows).toBeGreaterThan(0)
    expect(rows).toBeLessThan(expected.length)
    expect((await ledger(result.runId!)).reports_inserted).toBe(rows)
  })
})
