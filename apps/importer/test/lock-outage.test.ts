import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { createTestDatabase, type TestDatabase, testEnv } from '@tracker/db/testing'
import { RedisLockService } from '@tracker/locks'
import { TcpProxy } from '@tracker/locks/testing'
import pino from 'pino'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startImporter } from '../src/importer.ts'
import { ChildImporter, sharedDatabase } from './child-importer.ts'
import { countReports, expectedReports, fixedNow, importFixture } from './fixtures.ts'

// Real Redis behind a TCP proxy the tests cut and restore: the importer's own client loses it, as
// it would in production, while Redis keeps serving everyone else.
const redis = new URL(testEnv.redisUrl)
let proxy: TcpProxy
let prefix: string
beforeEach(async () => {
  proxy = new TcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) })
  await proxy.start()
  prefix = `test-${randomBytes(4).toString('hex')}:`
})
afterEach(() => proxy.close())
const proxiedRedisUrl = () => `redis://127.0.0.1:${proxy.port}`

async function health(port: number): Promise<{ status: number; body: { status: string } }> {
  const response = await fetch(`http://127.0.0.1:${port}/health`)
  return { status: response.status, body: (await response.json()) as { status: string } }
}

/** A counter's value in the Prometheus text of /metrics (0 when it has no sample yet). */
async function metric(port: number, sample: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `))
  return line ? Number(line.slice(sample.length + 1)) : 0
}

const NOT_STARTED = 'tracker_import_runs_total{outcome="not_started"}'
const SUCCEEDED = 'tracker_import_runs_total{outcome="succeeded"}'

describe('the run at start while Redis is unreachable, in process', () => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await createTestDatabase()
  })
  afterAll(() => database?.close())

  it('is logged, recorded, counted and degrades /health; retried with backoff, it succeeds once Redis is back', async () => {
    const fixture = await importFixture(database, {
      seed: 41,
      trackers: 2,
      // The next scheduled run is far away: only the retries can import.
      env: { IMPORT_SCHEDULE: '0 0 1 1 *', IMPORT_RETRY_BACKOFF: '200 ms', REDIS_KEY_PREFIX: prefix },
    })
    const expected = expectedReports(fixture, fixedNow()())
    const lines: Record<string, unknown>[] = []
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk, _encoding, done) {
          for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
          done()
        },
      }),
    )
    await proxy.cut()
    const locks = new RedisLockService({ redis: proxiedRedisUrl(), keyPrefix: prefix })
    const importer = await startImporter({
      database,
      locks,
      logger,
      config: fixture.config,
      decryptThreads: 0,
    })
    const port = importer.httpPort!
    const runs = () => database.db.selectFrom('import_runs').selectAll().orderBy('started_at').execute()
    try {
      // The run at start and at least one retry could not start: each recorded with the reason.
      await expect
        .poll(async () => (await runs()).filter((r) => r.status === 'not_started').length, {
          timeout: 30_000,
        })
        .toBeGreaterThanOrEqual(2)
      const [first] = await runs()
      expect(first).toMatchObject({ status: 'not_started', trigger: 'startup', reports_inserted: 0 })
      expect(first!.error).toContain(`could not start: Redis is not reachable`)
      expect(first!.error).toContain(`${prefix}tracker:import_lock`)
      expect(first!.finished_at).not.toBeNull()
      expect(await metric(port, NOT_STARTED)).toBeGreaterThanOrEqual(2)
      expect(await health(port)).toMatchObject({
        status: 200,
        body: {
          status: 'degraded',
          checks: {
            database: { ok: true },
            lock: { ok: false },
            lastRun: { ok: false, detail: { outcome: 'not_started' } },
          },
        },
      })
      const logged = (msg: string) => lines.filter((l) => l.msg === msg)
      expect(
        logged('import run could not start: the lock backend is unreachable').length,
      ).toBeGreaterThanOrEqual(2)
      // Backoff: each retry waits twice as long as the one before.
      const delays = logged('import run could not start; retrying').map((l) => l.delayMs)
      expect(delays.slice(0, 2)).toEqual([200, 400])

      await proxy.restore()
      await expect
        .poll(async () => (await runs()).some((r) => r.status === 'succeeded'), { timeout: 60_000 })
        .toBe(true)
      const succeeded = (await runs()).find((r) => r.status === 'succeeded')!
      expect(succeeded.trigger).toBe('startup')
      expect(await countReports(database, fixture.trackerIds)).toBe(expected.length)
      await expect.poll(() => metric(port, SUCCEEDED)).toBe(1)
      await expect.poll(async () => (await health(port)).body.status).toBe('ok')
    } finally {
      await importer.stop()
      await locks.close()
    }
  })
})

describe('a scheduled run while Redis is cut, in its own process', () => {
  it('leaves the process up with a ledger row and a metric; the next run succeeds once Redis is back', async () => {
    const shared = await sharedDatabase()
    try {
      const fixture = await importFixture(await shared.open(), { seed: 42, trackers: 2 })
      const expected = expectedReports(fixture, fixedNow()())
      await shared.release()
      await proxy.cut()
      const child = new ChildImporter([], {
        ...shared.env,
        KEY_SEALING_PRIVATE_KEY: fixture.secret,
        REPORT_ENDPOINT_URL: fixture.simulator.url,
        REPORT_ENDPOINT_PAUSE: '1 ms',
        REDIS_URL: proxiedRedisUrl(),
        REDIS_KEY_PREFIX: prefix,
        // Every two seconds (croner's seconds field), nothing at start: only scheduled runs.
        IMPORT_SCHEDULE: '*/2 * * * * *',
        IMPORT_ON_START: 'false',
        IMPORTER_HTTP_PORT: '0',
        LOG_LEVEL: 'info',
      })
      const listening = await child.waitForLine((l) => l.msg === 'importer health and metrics listening')
      const port = Number(listening.port)
      const failed = await child.waitForLine(
        (l) => l.msg === 'import run could not start: the lock backend is unreachable',
      )
      expect(failed.trigger).toBe('schedule')
      await expect.poll(() => metric(port, NOT_STARTED)).toBeGreaterThanOrEqual(1)
      expect(await health(port)).toMatchObject({ status: 200, body: { status: 'degraded' } })
      expect(child.alive).toBe(true)

      await proxy.restore()
      await child.waitForLine((l) => l.msg === 'import run finished' && l.outcome === 'succeeded')
      await expect.poll(() => metric(port, SUCCEEDED)).toBeGreaterThanOrEqual(1)
      await expect.poll(async () => (await health(port)).body.status).toBe('ok')

      child.kill('SIGTERM')
      expect(await child.exited).toBe(0)
      expect(child.logged('importer stopped')).toHaveLength(1)

      const database = await shared.open()
      const runs = await database.db.selectFrom('import_runs').selectAll().orderBy('started_at').execute()
      const notStarted = runs.filter((r) => r.status === 'not_started')
      expect(notStarted.length).toBeGreaterThanOrEqual(1)
      expect(notStarted[0]).toMatchObject({ trigger: 'schedule' })
      expect(notStarted[0]!.error).toContain(`${prefix}tracker:import_lock`)
      expect(runs.some((r) => r.status === 'succeeded')).toBe(true)
      expect(await countReports(database, fixture.trackerIds)).toBe(expected.length)
    } finally {
      await shared.dispose()
    }
  })
})
