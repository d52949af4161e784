import { createTrackerWithKeys, DAY_MS, DEFAULT_RETENTION, HOUR_MS, silentLogger, sql } from '@tracker/db'
import { createTestDatabase, type TestDatabase, testEnv } from '@tracker/db/testing'
import { generateKeyPair } from '@tracker/findmy'
import { createOfflineGeocoder } from '@tracker/geocoder'
import { ChangeSet, HistoryEngine, parseHistoryChange } from '@tracker/history'
import { InProcessLockService, type LockService, RedisLockService } from '@tracker/locks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startImporter } from '../src/importer.ts'
import { countReports, expectedReports, fixedNow, importFixture, silent } from './fixtures.ts'

let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(() => database?.close())

const countRows = (trackerIds: string[]) => countReports(database, trackerIds)

async function importer(
  fixture: Awaited<ReturnType<typeof importFixture>>,
  locks: LockService = new InProcessLockService(),
) {
  const running = await startImporter({
    database,
    locks,
    logger: silent,
    config: fixture.config,
    http: false,
    schedule: false,
    decryptThreads: 0,
  })
  return running
}

describe('an import run against the simulator', () => {
  it('lands every genuine report once, with its tracker and nearest city, and moves last-seen state', async () => {
    const fixture = await importFixture(database, { seed: 11 })
    const expected = expectedReports(fixture, fixedNow()())
    const running = await importer(fixture)
    try {
      const result = await running.runNow()
      expect(result.outcome).toBe('succeeded')
      expect(result.totals?.reportsInserted).toBe(expected.length)
      expect(result.totals?.reportsFetched).toBe(expected.length)
      expect(await countRows(fixture.trackerIds)).toBe(expected.length)

      // Every stored row is a simulated fix of the right tracker.
      const rows = await database.db
        .selectFrom('location_reports')
        .selectAll()
        .where('tracker_id', 'in', fixture.trackerIds)
        .execute()
      const byKeyAndTime = new Map(expected.map((r) => [`${r.hashedAdvKey}|${r.timestamp.getTime()}`, r]))
      const keyToTracker = new Map(
        fixture.trackers.flatMap((t, i) => t.keys.map((k) => [k.hashedAdvKey, fixture.trackerIds[i]!])),
      )
      for (const row of rows) {
        const truth = byKeyAndTime.get(`${row.hashed_adv_key}|${row.timestamp.getTime()}`)
        expect(truth, `row ${row.hashed_adv_key} ${row.timestamp.toISOString()}`).toBeDefined()
        expect(row.tracker_id).toBe(keyToTracker.get(row.hashed_adv_key))
        expect(row.latitude).toBeCloseTo(truth!.fix.latitude, 6)
        expect(row.longitude).toBeCloseTo(truth!.fix.longitude, 6)
      }
      // Cities from the offline geocoder: every simulated position is in Europe near a real place.
      const geocoder = createOfflineGeocoder()
      const withCity = rows.filter((r) => r.nearest_city !== null)
      expect(withCity.length).toBeGreaterThan(rows.length * 0.95)
      const sample = withCity[0]!
      expect(sample.nearest_city).toBe(geocoder.nearest(sample.latitude, sample.longitude)?.label)

      // Last seen = the newest report of each tracker.
      for (const [i, id] of fixture.trackerIds.entries()) {
        const newest = expected
          .filter((r) => r.trackerIndex === i)
          .sort((a, b) => b.timestamp.getTime() - a.timestamp.getTime())[0]!
        const tracker = await database.db
          .selectFrom('trackers')
          .selectAll()
          .where('id', '=', id)
          .executeTakeFirstOrThrow()
        expect(tracker.last_seen_at).toEqual(newest.timestamp)
        expect(tracker.last_latitude).toBeCloseTo(newest.fix.latitude, 6)
      }

      // The ledger.
      const run = await database.db
        .selectFrom('import_runs')
        .selectAll()
        .where('id', '=', result.runId!)
        .executeTakeFirstOrThrow()
      expect(run).toMatchObject({
        status: 'succeeded',
        trigger: 'manual',
        reports_inserted: expected.length,
        reports_duplicate: 0,
        trackers: 3,
        keys: 6,
      })
      expect(run.finished_at).not.toBeNull()
    } finally {
      await running.stop()
    }
  })

  it('a second run inserts nothing and decrypts only what is not stored yet', async () => {
    const fixture = await importFixture(database, { seed: 12, simulator: { corruptShare: 0.05 } })
    const running = await importer(fixture)
    try {
      const first = await running.runNow()
      const rowsAfterFirst = await countRows(fixture.trackerIds)
      const second = await running.runNow()
      expect(second.outcome).toBe('succeeded')
      expect(second.totals?.reportsInserted).toBe(0)
      expect(await countRows(fixture.trackerIds)).toBe(rowsAfterFirst)
      // Stored reports are recognised before decryption; only the corrupted ones are decrypted (and rejected) again.
      const rejectedAgain = Object.values(second.totals!.rejected).reduce((a, b) => a + b, 0)
      expect(second.totals?.reportsDuplicate).toBe(rowsAfterFirst)
      expect(rejectedAgain).toBe(Object.values(first.totals!.rejected).reduce((a, b) => a + b, 0))
      expect(second.totals!.reportsDuplicate + rejectedAgain).toBe(second.totals!.reportsFetched)
    } finally {
      await running.stop()
    }
  })

  it('takes the late horizon from the database when its raw retention is shorter than configured', async () => {
    // Configured: 10 days (late horizon 8). The database drops raw chunks after 5 (`db:migrate` not
    // rerun): the stricter horizon, 3 days, applies.
    const own = await createTestDatabase()
    try {
      await sql`SELECT remove_retention_policy('location_reports')`.execute(own.db)
      await sql`SELECT add_retention_policy('location_reports', INTERVAL '5 days')`.execute(own.db)
      const fixture = await importFixture(own, { seed: 21, trackers: 1, env: { IMPORT_LOOKBACK_DAYS: '7' } })
      const running = await startImporter({
        database: own,
        locks: new InProcessLockService(),
        logger: silent,
        config: fixture.config,
        http: false,
        schedule: false,
        decryptThreads: 0,
      })
      try {
        const result = await running.runNow()
        expect(result.totals!.rejected.older_than_safe_horizon).toBeGreaterThan(0)
        const { rows } = await sql<{
          oldest: Date
        }>`SELECT min("timestamp") AS oldest FROM location_reports`.execute(own.db)
        expect(rows[0]!.oldest.getTime()).toBeGreaterThan(Date.now() - 3 * DAY_MS - HOUR_MS)
      } finally {
        await running.stop()
      }
    } finally {
      await own.close()
    }
  })

  it('rejects and counts corrupted, wrong-key, future and too-old reports, storing the rest', async () => {
    const fixture = await importFixture(database, {
      seed: 13,
      trackers: 2,
      // The simulator's clock runs 3 hours ahead: its newest reports are in our future.
      // No gaps: there is a report every hour, so some are always in that future.
      simulator: { corruptShare: 0.1, gaps: false, now: () => new Date(Date.now() + 3 * HOUR_MS) },
      // A short raw retention makes the safe late horizon 3 days: older reports must be refused.
      env: { RAW_RETENTION: '5 days', DAILY_REFRESH_WINDOW: '3 days', IMPORT_LOOKBACK_DAYS: '3' },
    })
    // A stored key whose reports arrive encrypted for another key: the tag check fails.
    const stored = generateKeyPair()
    const wrongKeyTracker = await createTrackerWithKeys(database.db, fixture.opener, {
      name: 'wrong key',
      keys: [{ hashedAdvKey: stored.hashedAdvKey, privateKey: stored.privateKey }],
    })
    fixture.trackerIds.push(wrongKeyTracker.id)
    fixture.simulator.addTracker({
      keys: [{ advertisementKey: generateKeyPair().advertisementKey, hashedAdvKey: stored.hashedAdvKey }],
    })
    // Fetch 7 days although the configuration says 3, to get reports beyond the horizon.
    const config = { ...fixture.config, lookbackDays: 7 }
    const wide = await startImporter({
      database,
      locks: new InProcessLockService(),
      logger: silent,
      config,
      http: false,
      schedule: false,
      decryptThreads: 0,
    })
    try {
      const result = await wide.runNow()
      const rejected = result.totals!.rejected
      const served = fixture.simulator.network.visibleReports({
        days: 7,
        now: new Date(Date.now() + 3 * HOUR_MS),
      })
      const corrupted = served.filter(
        (r) => r.corruption !== null && r.hashedAdvKey !== stored.hashedAdvKey,
      ).length
      expect(rejected.future_timestamp).toBeGreaterThan(0)
      expect(rejected.older_than_safe_horizon).toBeGreaterThan(0)
      expect(rejected.undecryptable).toBeGreaterThan(0)
      const decryptFailures =
        (rejected.undecryptable ?? 0) +
        (rejected.wrong_length ?? 0) +
        (rejected.coordinates_out_of_range ?? 0) +
        (rejected.bad_base64 ?? 0)
      expect(decryptFailures).toBeGreaterThanOrEqual(corrupted)
      const totalRejected = Object.values(rejected).reduce((a, b) => a + b, 0)
      expect(result.totals!.reportsInserted + result.totals!.reportsDuplicate + totalRejected).toBe(
        result.totals!.reportsFetched,
      )
      // Nothing stored is in the future or beyond the horizon.
      const { rows } = await sql<{ newest: Date; oldest: Date }>`
        SELECT max("timestamp") AS newest, min("timestamp") AS oldest FROM location_reports WHERE tracker_id = ANY(${fixture.trackerIds}::uuid[])`.execute(
        database.db,
      )
      expect(rows[0]!.newest.getTime()).toBeLessThanOrEqual(Date.now() + 10 * 60_000)
      expect(rows[0]!.oldest.getTime()).toBeGreaterThanOrEqual(Date.now() - 3 * DAY_MS - 60_000)
      const ledger = await database.db
        .selectFrom('import_runs')
        .select('rejected')
        .where('id', '=', result.runId!)
        .executeTakeFirstOrThrow()
      expect(ledger.rejected).toEqual(rejected)
      // Every report of the wrong-key tracker was refused.
      expect(await countRows([wrongKeyTracker.id])).toBe(0)
    } finally {
      await wide.stop()
    }
  })

  it('records endpoint failures in the ledger without losing the other batches, and the next run completes', async () => {
    const fixture = await importFixture(database, {
      seed: 14,
      trackers: 3,
      keysPerTracker: 1,
      env: { REPORT_ENDPOINT_BATCH_SIZE: '1' },
    })
    const expected = expectedReports(fixture, fixedNow()())
    // The second batch fails on both of its attempts (501, then 504).
    fixture.simulator.setFailures({ next: [null, { type: 'server_error' }, { type: 'anisette_timeout' }] })
    const running = await importer(fixture)
    try {
      const partial = await running.runNow()
      expect(partial.outcome).toBe('partial')
      // The key of the batch that failed, as the endpoint saw it.
      const failedKey = fixture.simulator.requests[1]!.ids[0]!
      const lost = expected.filter((r) => r.hashedAdvKey === failedKey).length
      expect(partial.totals!.reportsInserted).toBe(expected.length - lost)
      const ledger = await database.db
        .selectFrom('import_runs')
        .selectAll()
        .where('id', '=', partial.runId!)
        .executeTakeFirstOrThrow()
      expect(ledger.status).toBe('partial')
      expect(ledger.source_errors).toHaveLength(1)
      expect(ledger.source_errors[0]).toMatchObject({ source: 'batch 2 (1 keys)', status: 504 })

      const next = await running.runNow()
      expect(next.outcome).toBe('succeeded')
      expect(next.totals!.reportsInserted).toBe(lost)
      expect(await countRows(fixture.trackerIds)).toBe(expected.length)
    } finally {
      await running.stop()
    }
  })

  it('two runs started together against the real Redis: exactly one imports', async () => {
    const fixture = await importFixture(database, { seed: 15, trackers: 1 })
    const [a, b] = [
      new RedisLockService({ redis: testEnv.redisUrl }),
      new RedisLockService({ redis: testEnv.redisUrl }),
    ]
    const first = await importer(fixture, a)
    const second = await importer(fixture, b)
    try {
      const outcomes = (await Promise.all([first.runNow(), second.runNow()])).map((r) => r.outcome).sort()
      expect(outcomes).toEqual(['skipped_locked', 'succeeded'])
      expect(await countRows(fixture.trackerIds)).toBe(expectedReports(fixture, fixedNow()()).length)
    } finally {
      await first.stop()
      await second.stop()
      await a.close()
      await b.close()
    }
  })

  it('signals the refresher with the window and the trackers it touched; after the engine applies it the rows are in location_history', async () => {
    const fixture = await importFixture(database, { seed: 16, trackers: 2 })
    const signals: { from: string; to: string; reason?: string; trackers?: string[] }[] = []
    const payloads: string[] = []
    const listener = await database.listen('refresh_location_history', {
      onNotification: (p) => {
        payloads.push(p)
        signals.push(JSON.parse(p))
      },
    })
    const running = await importer(fixture)
    try {
      const result = await running.runNow()
      await expect.poll(() => signals.some((s) => s.reason === 'import')).toBe(true)
      const signal = signals.find((s) => s.reason === 'import')!
      expect(result.outcome).toBe('succeeded')
      expect(new Set(signal.trackers)).toEqual(new Set(fixture.trackerIds))
      // What the refresher does with it.
      const engine = await HistoryEngine.open({
        database,
        retention: DEFAULT_RETENTION,
        logger: silentLogger,
      })
      const changes = new ChangeSet()
      changes.add(parseHistoryChange(payloads[signals.indexOf(signal)]!)!)
      await engine.applyChanges(changes, {
        trigger: 'notification',
        runId: 'test',
        signal: new AbortController().signal,
      })
      const history = await database.db
        .selectFrom('location_history')
        .select(['tracker_id', 'bucket_size', 'nearest_city'])
        .where('tracker_id', 'in', fixture.trackerIds)
        .execute()
      expect(new Set(history.map((h) => h.tracker_id))).toEqual(new Set(fixture.trackerIds))
      expect(history.some((h) => h.bucket_size === '1 hour')).toBe(true)
      expect(history.some((h) => h.bucket_size === '1 day')).toBe(true)
      expect(history.filter((h) => h.nearest_city !== null).length).toBeGreaterThan(history.length * 0.9)
    } finally {
      await listener.close()
      await running.stop()
    }
  })
})

describe('start-up checks', () => {
  it('a wrong KEY_SEALING_PRIVATE_KEY is a clear error at start, not a silent skip', async () => {
    const fixture = await importFixture(database, { seed: 17, trackers: 1 })
    const other = { ...fixture.config, keySealingPrivateKey: Buffer.alloc(32, 7).toString('base64') }
    await expect(
      startImporter({
        database,
        locks: new InProcessLockService(),
        logger: silent,
        config: other,
        http: false,
        schedule: false,
      }),
    ).rejects.toThrow(
      /KEY_SEALING_PRIVATE_KEY \(public key \w+\) is not the private key this database's tracker keys are sealed to/,
    )
    const missing = { ...fixture.config, keySealingPrivateKey: undefined }
    await expect(
      startImporter({
        database,
        locks: new InProcessLockService(),
        logger: silent,
        config: missing,
        http: false,
        schedule: false,
      }),
    ).rejects.toThrow(/KEY_SEALING_PRIVATE_KEY is not set/)
  })
})
