import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectEmbedded, migrateToLatest, type TrackerDatabase } from '@tracker/db'
import { createTestDatabase, type TestDatabase, testEnv } from '@tracker/db/testing'
import { InProcessLockService } from '@tracker/locks'
import { afterAll, describe, expect, it } from 'vitest'
import { startImporter } from '../src/importer.ts'
import { expectedReports, fixedNow, importFixture, silent } from './fixtures.ts'

const MAIN = join(import.meta.dirname, '../src/main.ts')
const dataDir = mkdtempSync(join(tmpdir(), 'tracker-killed-run-'))
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

/**
 * The database both processes use: a fresh server database with TEST_DATABASE_URL, otherwise an
 * embedded one in a data directory (the child opens it while the parent has it closed).
 */
async function openDatabase(server: TestDatabase | null): Promise<TrackerDatabase> {
  return server ?? (await connectEmbedded({ dataDir }))
}

describe('a run killed between batches', () => {
  it('is marked interrupted by the next run, which completes the work: nothing lost, nothing doubled', async () => {
    const server = testEnv.databaseUrl ? await createTestDatabase() : null
    let database = await openDatabase(server)
    if (!server) await migrateToLatest(database.db)
    const fixture = await importFixture(database, {
      seed: 21,
      trackers: 3,
      keysPerTracker: 1,
      env: { REPORT_ENDPOINT_BATCH_SIZE: '1' },
    })
    const expected = expectedReports(fixture, fixedNow()())
    // After the first batch the endpoint stalls: the child is killed while waiting for batch 2.
    fixture.simulator.setFailures({ next: [null], when: () => ({ type: 'slow', delayMs: 60_000 }) })
    if (!server) await database.close()

    const child = spawn(process.execPath, ['--conditions=tracker-source', MAIN, '--once'], {
      env: {
        PATH: process.env.PATH,
        ...(server ? { DATABASE_URL: server.url } : { DATA_DIR: dataDir }),
        KEY_ENCRYPTION_KEY: fixture.secret,
        REPORT_ENDPOINT_URL: fixture.simulator.url,
        REPORT_ENDPOINT_BATCH_SIZE: '1',
        REPORT_ENDPOINT_PAUSE: '1 ms',
        GEOCODER: 'off',
        LOG_LEVEL: 'debug',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
      child.on('exit', (code, signal) => resolve(signal ?? code)),
    )
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the child never inserted a batch:\n${output}`)),
        60_000,
      )
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes('report batch inserted')) {
          clearTimeout(timer)
          resolve()
        }
      })
      child.stderr.on('data', (chunk: Buffer) => {
        output += chunk.toString()
      })
    })
    child.kill('SIGKILL')
    expect(await exited).toBe('SIGKILL')
    fixture.simulator.setFailures(null)

    database = await openDatabase(server)
    try {
      const afterKill = await database.db.selectFrom('import_runs').selectAll().execute()
      expect(afterKill.map((r) => r.status)).toEqual(['running'])
      expect(afterKill[0]!.reports_inserted).toBeGreaterThan(0)

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
      // Nothing lost, nothing doubled.
      const stored = await database.db
        .selectFrom('location_reports')
        .select(['hashed_adv_key', 'timestamp'])
        .execute()
      expect(stored).toHaveLength(expected.length)
      expect(new Set(stored.map((r) => `${r.hashed_adv_key}|${r.timestamp.getTime()}`)).size).toBe(
        expected.length,
      )
      expect(runs[0]!.reports_inserted + result.totals!.reportsInserted).toBe(expected.length)
    } finally {
      await database.close()
    }
  })
})
