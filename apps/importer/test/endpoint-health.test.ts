import { createTrackerWithKeys, DAY_MS, HOUR_MS } from '@tracker/db'
import { createTestDatabase, type TestDatabase } from '@tracker/db/testing'
import { generateKeyPair, startSimulator } from '@tracker/findmy'
import { InProcessLockService } from '@tracker/locks'
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest'
import { parseImporterEnv } from '../src/env.ts'
import { startImporter } from '../src/importer.ts'
import { fixedNow, importFixture, silent } from './fixtures.ts'

let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(() => database?.close())
// Tests in this file share a database: each starts with no endpoint history.
beforeEach(async () => {
  await database.db.deleteFrom('endpoint_request_hours').execute()
  await database.db.deleteFrom('endpoint_request_streak').execute()
})

async function startTestImporter(config: ReturnType<typeof parseImporterEnv>, http = false) {
  const importer = await startImporter({
    database,
    locks: new InProcessLockService(),
    logger: silent,
    config,
    http,
    schedule: false,
    decryptThreads: 0,
  })
  onTestFinished(() => importer.stop())
  return importer
}

const ledger = (runId: string) =>
  database.db.selectFrom('import_runs').selectAll().where('id', '=', runId).executeTakeFirstOrThrow()

async function hourlyTotals(): Promise<Record<string, number>> {
  const rows = await database.db.selectFrom('endpoint_request_hours').selectAll().execute()
  const totals: Record<string, number> = {}
  for (const row of rows) totals[row.outcome] = (totals[row.outcome] ?? 0) + row.requests
  return totals
}

describe('requests to the report endpoint, through the importer', () => {
  it('answers for the first id only are completed by single-id requests for the keys with stored reports; the ledger and the hourly table count every request', async () => {
    const later = fixedNow()()
    const earlier = new Date(later.getTime() - 6 * HOUR_MS)
    // Three trackers the simulator knows, one key each; the first run stores their reports.
    const fixture = await importFixture(database, {
      seed: 51,
      trackers: 3,
      keysPerTracker: 1,
      simulator: { now: () => earlier },
    })
    // A fourth tracker whose key never reports: nothing stored, so never asked for alone.
    const silentKey = generateKeyPair()
    await createTrackerWithKeys(database.db, fixture.opener, {
      name: 'silent',
      keys: [{ hashedAdvKey: silentKey.hashedAdvKey, privateKey: silentKey.privateKey }],
    })
    const first = await (await startTestImporter(fixture.config)).runNow()
    expect(first.outcome).toBe('succeeded')
    expect(fixture.simulator.requests).toHaveLength(1)
    expect(await ledger(first.runId!)).toMatchObject({
      endpoint_requests: { ok: 1 },
      multi_id_retries: 0,
      multi_id_recovered_reports: 0,
    })

    // Six hours later the endpoint answers multi-id requests for their first id only.
    const firstIdOnly = await startSimulator({
      trackers: fixture.trackers,
      seed: 51,
      reportsPerDay: 24,
      lateArrivalShare: 0,
      now: () => later,
      firstIdOnly: true,
    })
    onTestFinished(() => firstIdOnly.stop())
    const config = parseImporterEnv({
      KEY_SEALING_PRIVATE_KEY: fixture.secret,
      REPORT_ENDPOINT_URL: firstIdOnly.url,
      REPORT_ENDPOINT_PAUSE: '1 ms',
      REPORT_ENDPOINT_BACKOFF: '10 ms',
      REPORT_ENDPOINT_MAX_ATTEMPTS: '2',
    })
    const second = await (await startTestImporter(config)).runNow()
    expect(second.outcome).toBe('succeeded')

    const [batch, ...alone] = firstIdOnly.requests
    expect(batch!.ids).toHaveLength(4)
    expect(batch!.answeredIds).toEqual(batch!.ids.slice(0, 1))
    // The known keys after the first, one request each, in batch order; the silent key is not asked for.
    const retried = batch!.ids.slice(1).filter((id) => id !== silentKey.hashedAdvKey)
    expect(alone.map((r) => r.ids)).toEqual(retried.map((id) => [id]))
    expect(retried.length).toBeGreaterThanOrEqual(1)
    const recovered = alone.reduce((n, r) => n + r.reports, 0)
    expect(recovered).toBeGreaterThan(0)
    expect(await ledger(second.runId!)).toMatchObject({
      endpoint_requests: { partial: 1, ok: retried.length },
      multi_id_retries: retried.length,
      multi_id_recovered_reports: recovered,
      source_errors: [],
    })
    // Nothing was lost: every report the network holds now is stored.
    const truth = firstIdOnly.network
      .visibleReports({ days: 7, now: later })
      .filter((r) => r.corruption === null)
    const { n } = await database.db
      .selectFrom('location_reports')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('tracker_id', 'in', fixture.trackerIds)
      .where('timestamp', '>', new Date(later.getTime() - 7 * DAY_MS))
      .executeTakeFirstOrThrow()
    expect(Number(n)).toBe(truth.length)

    // The hourly table has every request of both runs (written after each request: wait for it).
    await expect.poll(hourlyTotals).toEqual({ ok: 1 + retried.length, partial: 1 })
    const streak = await database.db.selectFrom('endpoint_request_streak').selectAll().executeTakeFirst()
    expect(streak).toMatchObject({ failing_requests: 0, outcome: null, since: null })
  })

  it('/health turns degraded after IMPORT_ENDPOINT_FAILURE_STREAK failing requests, says a 401 needs attention, recovers on the next answer; /metrics counts by outcome', async () => {
    const fixture = await importFixture(database, {
      seed: 52,
      trackers: 3,
      keysPerTracker: 1,
      env: {
        IMPORT_ENDPOINT_FAILURE_STREAK: '2',
        REPORT_ENDPOINT_BATCH_SIZE: '2',
        IMPORTER_HTTP_HOST: '127.0.0.1',
      },
    })
    const importer = await startTestImporter(fixture.config, true)
    const port = importer.httpPort!
    const health = async () => {
      const response = await fetch(`http://127.0.0.1:${port}/health`)
      const body = (await response.json()) as {
        status: string
        checks: { endpoint: { ok: boolean; impact?: string; detail: Record<string, unknown> } }
      }
      return { http: response.status, status: body.status, endpoint: body.checks.endpoint }
    }
    const metric = async (outcome: string) => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
      const sample = `tracker_import_endpoint_requests_total{outcome="${outcome}"} `
      const line = text.split('\n').find((l) => l.startsWith(sample))
      return line === undefined ? null : Number(line.slice(sample.length))
    }
    expect(await health()).toMatchObject({ status: 'ok', endpoint: { ok: true, detail: 'no request yet' } })
    expect(await metric('unauthorized')).toBe(0)

    // Run 1: batch 1 answers, batch 2 is refused: one failing request, below the threshold.
    fixture.simulator.setFailures({ next: [null, { type: 'unauthorized' }] })
    expect((await importer.runNow()).outcome).toBe('partial')
    await expect
      .poll(async () => (await health()).endpoint.detail)
      .toMatchObject({ failingRequests: 1, outcome: 'unauthorized', threshold: 2 })
    expect((await health()).endpoint.ok).toBe(true)

    // Run 2: batch 1 answers, batch 2 gets a 501, then (retried) a 401: two failing in a row.
    fixture.simulator.setFailures({ next: [null, { type: 'server_error' }, { type: 'unauthorized' }] })
    const failing = await importer.runNow()
    expect(failing.outcome).toBe('partial')
    await expect.poll(async () => (await health()).endpoint.ok).toBe(false)
    const degraded = await health()
    // Degraded, not down: the importer keeps running and retrying.
    expect(degraded).toMatchObject({
      http: 200,
      status: 'degraded',
      endpoint: {
        ok: false,
        impact: 'degraded',
        detail: { failingRequests: 2, outcome: 'unauthorized', threshold: 2 },
      },
    })
    expect(degraded.endpoint.detail.message).toMatch(/credentials .* or its Apple account need attention/)
    expect(degraded.endpoint.detail.since).toEqual(expect.any(String))
    expect(await ledger(failing.runId!)).toMatchObject({
      endpoint_requests: { ok: 1, server_error: 1, unauthorized: 1 },
    })

    // Run 3: the endpoint answers again.
    fixture.simulator.setFailures(null)
    expect((await importer.runNow()).outcome).toBe('succeeded')
    await expect.poll(async () => (await health()).endpoint.ok).toBe(true)
    expect(await health()).toMatchObject({
      http: 200,
      status: 'ok',
      endpoint: { detail: { failingRequests: 0, outcome: null, since: null } },
    })

    // /metrics and the hourly table count what the simulator got, request by request.
    const byStatus = (status: number) => fixture.simulator.requests.filter((r) => r.status === status).length
    expect(byStatus(401)).toBe(2)
    expect(await metric('unauthorized')).toBe(2)
    expect(await metric('server_error')).toBe(byStatus(501))
    expect(await metric('ok')).toBe(byStatus(200))
    expect(await metric('partial')).toBe(0)
    await expect
      .poll(hourlyTotals)
      .toEqual({ ok: byStatus(200), server_error: byStatus(501), unauthorized: byStatus(401) })
  })
})
