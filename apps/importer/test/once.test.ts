import { randomBytes } from 'node:crypto'
import { testEnv } from '@tracker/db/testing'
import { LOCK_NAMES, RedisLockService } from '@tracker/locks'
import { TcpProxy } from '@tracker/locks/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseImporterEnv } from '../src/env.ts'
import { EXIT_CODES, main } from '../src/main.ts'
import { ChildImporter, type SharedDatabase, sharedDatabase } from './child-importer.ts'
import { countReports, expectedReports, fixedNow, type ImportFixture, importFixture } from './fixtures.ts'

// `--once` as cron jobs and systemd timers run it: a process per run, judged by its exit code.
let shared: SharedDatabase
beforeAll(async () => {
  shared = await sharedDatabase()
})
afterAll(() => shared?.dispose())

const prefix = () => `test-${randomBytes(4).toString('hex')}:`

/** A fixture in the shared database, which is then left to the child. */
async function fixtureForChild(seed: number): Promise<ImportFixture> {
  const fixture = await importFixture(await shared.open(), { seed, trackers: 2 })
  await shared.release()
  return fixture
}

const onceEnv = (fixture: ImportFixture, env: Record<string, string> = {}) => ({
  ...shared.env,
  KEY_SEALING_PRIVATE_KEY: fixture.secret,
  REPORT_ENDPOINT_URL: fixture.simulator.url,
  REPORT_ENDPOINT_PAUSE: '1 ms',
  ...env,
})

const ledger = async () =>
  (await shared.open()).db.selectFrom('import_runs').selectAll().orderBy('started_at').execute()

describe('importer --once exit codes', () => {
  it('are documented in one table: 0 succeeded, 1 failed/interrupted, 2 partial, 3 skipped, 4 could not start', () => {
    expect(EXIT_CODES).toEqual({
      succeeded: 0,
      failed: 1,
      interrupted: 1,
      partial: 2,
      skipped_locked: 3,
      not_started: 4,
    })
  })

  it('refuses --wait-for-lock without --once or with a bad duration, and unknown options', async () => {
    await expect(main(['--wait-for-lock', '1 minute'], {})).rejects.toThrow(
      /--wait-for-lock goes with --once/,
    )
    await expect(main(['--once', '--wait-for-lock', 'soon'], {})).rejects.toThrow(
      /--wait-for-lock: "soon" is not a duration/,
    )
    await expect(main(['--onse'], {})).rejects.toThrow(/Unknown option '--onse'.*see --help/)
    expect(parseImporterEnv({ REDIS_KEY_PREFIX: 'prod:' }).redisKeyPrefix).toBe('prod:')
    expect(() => parseImporterEnv({ REDIS_KEY_PREFIX: 'my prod' })).toThrow(/REDIS_KEY_PREFIX must not/)
  })

  it('3 while another run holds the (prefixed) lock; with --wait-for-lock it waits, runs and exits 0', async () => {
    const fixture = await fixtureForChild(51)
    const keyPrefix = prefix()
    const holder = new RedisLockService({ redis: testEnv.redisUrl, keyPrefix })
    const env = onceEnv(fixture, { REDIS_URL: testEnv.redisUrl, REDIS_KEY_PREFIX: keyPrefix })
    try {
      const held = await holder.tryAcquire(LOCK_NAMES.import, 60_000)
      expect(held).not.toBeNull()

      const skipped = new ChildImporter(['--once'], env)
      expect(await skipped.exited).toBe(3)
      expect(skipped.logged('another import run holds the lock; skipping this one')).toHaveLength(1)

      const waiting = new ChildImporter(['--once', '--wait-for-lock', '2 minutes'], env)
      await waiting.waitForLine((l) => l.msg === 'waiting for the import lock')
      await held!.release()
      expect(await waiting.exited).toBe(0)

      const runs = await ledger()
      expect(runs.map((r) => [r.status, r.trigger])).toEqual([['succeeded', 'once']])
      expect(await countReports(await shared.open(), fixture.trackerIds)).toBe(
        expectedReports(fixture, fixedNow()()).length,
      )
    } finally {
      await holder.close()
      await shared.release()
    }
  })

  it('4 when Redis cannot be reached, with the run recorded as not started and the reason', async () => {
    const fixture = await fixtureForChild(52)
    const redis = new URL(testEnv.redisUrl)
    const proxy = new TcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) })
    await proxy.start()
    await proxy.cut()
    try {
      const child = new ChildImporter(
        ['--once'],
        onceEnv(fixture, { REDIS_URL: `redis://127.0.0.1:${proxy.port}`, REDIS_KEY_PREFIX: 'p1:' }),
      )
      expect(await child.exited).toBe(4)
      expect(child.logged('import run could not start: the lock backend is unreachable')).toHaveLength(1)
      const runs = (await ledger()).filter((r) => r.status === 'not_started')
      expect(runs).toHaveLength(1)
      expect(runs[0]).toMatchObject({ trigger: 'once', reports_inserted: 0 })
      expect(runs[0]!.error).toMatch(/^could not start: Redis is not reachable .* "p1:tracker:import_lock"/)
    } finally {
      await proxy.close()
      await shared.release()
    }
  })

  it('1 when SIGTERM interrupts the run, and "importer stopped" is logged once', async () => {
    const fixture = await fixtureForChild(53)
    // The first batch arrives, the next request hangs: the signal comes during the run.
    fixture.simulator.setFailures({ next: [null], when: () => ({ type: 'slow', delayMs: 60_000 }) })
    const child = new ChildImporter(['--once'], onceEnv(fixture, { REPORT_ENDPOINT_BATCH_SIZE: '1' }))
    await child.waitForLine((l) => l.msg === 'report batch inserted')
    child.kill('SIGTERM')
    expect(await child.exited).toBe(1)
    expect(child.logged('import run finished')).toMatchObject([{ outcome: 'interrupted' }])
    expect(child.logged('importer stopped')).toHaveLength(1)
  })
})
