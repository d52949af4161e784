import { deriveTransitions, signedDistanceToPlace } from '@tracker/alerts'
import type { TrackerDatabase } from '@tracker/db'
import { InProcessLockService } from '@tracker/locks'
import { describe, expect, it } from 'vitest'
import { startImporter } from '../src/importer.ts'
import { ChildImporter, sharedDatabase } from './child-importer.ts'
import { type ImportFixture, importFixture, silent } from './fixtures.ts'

const RADIUS_M = 2_000

/** A "leave" rule per tracker around its first stored report: its week of movement crosses it. */
async function leaveRules(database: TrackerDatabase, trackerIds: string[]) {
  for (const trackerId of trackerIds) {
    const first = await database.db
      .selectFrom('location_reports')
      .select(['latitude', 'longitude'])
      .where('tracker_id', '=', trackerId)
      .orderBy('timestamp')
      .executeTakeFirstOrThrow()
    const place = await database.db
      .insertInto('alert_places')
      .values({
        name: `start of ${trackerId}`,
        shape: 'circle',
        center_latitude: first.latitude,
        center_longitude: first.longitude,
        radius_m: RADIUS_M,
      })
      .returning('id')
      .executeTakeFirstOrThrow()
    await database.db
      .insertInto('alert_rules')
      .values({
        name: 'left the start',
        kind: 'leave',
        place_id: place.id,
        tracker_ids: [trackerId],
        confirmations: 1,
        hysteresis_m: 0,
        created_at: new Date('2020-01-01T00:00:00Z'),
      })
      .execute()
  }
}

/** The departures the stored reports hold, decided over all of them at once (time order). */
async function departuresInReports(database: TrackerDatabase, trackerId: string) {
  const place = await database.db
    .selectFrom('alert_places')
    .select(['center_latitude', 'center_longitude'])
    .where('name', '=', `start of ${trackerId}`)
    .executeTakeFirstOrThrow()
  const geometry = {
    shape: 'circle' as const,
    latitude: place.center_latitude!,
    longitude: place.center_longitude!,
    radiusM: RADIUS_M,
  }
  const reports = await database.db
    .selectFrom('location_reports')
    .select(['timestamp', 'latitude', 'longitude', 'hashed_adv_key'])
    .where('tracker_id', '=', trackerId)
    .orderBy('timestamp')
    .orderBy('hashed_adv_key')
    .execute()
  const sided = reports.map((r) => ({
    at: r.timestamp,
    side: signedDistanceToPlace(geometry, r.latitude, r.longitude) <= 0 ? ('in' as const) : ('out' as const),
    report: r,
  }))
  return deriveTransitions(sided, { confirmations: 1, initial: null })
    .filter((t) => t.to === 'out')
    .map((t) => t.firstAfter.at.toISOString())
}

async function liveDepartures(database: TrackerDatabase, trackerId: string) {
  const rows = await database.db
    .selectFrom('alert_events')
    .select('occurred_before')
    .where('tracker_id', '=', trackerId)
    .where('cancelled_at', 'is', null)
    .orderBy('occurred_before')
    .execute()
  return rows.map((r) => r.occurred_before.toISOString())
}

const pending = async (database: TrackerDatabase) =>
  database.db.selectFrom('alert_pending').select(['tracker_id', 'from_ts', 'to_ts']).execute()

describe('alerts in the importer', () => {
  it('an import queues what it stored with the reports and evaluates it: a not-seen rule fires once per tracker', async () => {
    const shared = await sharedDatabase()
    try {
      const database = await shared.open()
      const fixture = await importFixture(database, { seed: 31, trackers: 2, keysPerTracker: 1 })
      // The simulator's newest report is at least a minute old.
      const rule = await database.db
        .insertInto('alert_rules')
        .values({ name: 'quiet', kind: 'not_seen', not_seen_seconds: 30, tracker_ids: fixture.trackerIds })
        .returning('id')
        .executeTakeFirstOrThrow()
      const importer = await startImporter({
        database,
        locks: new InProcessLockService(),
        logger: silent,
        config: fixture.config,
        http: false,
        schedule: false,
        decryptThreads: 0,
      })
      expect((await importer.runNow()).outcome).toBe('succeeded')
      await importer.stop()
      expect(await pending(database)).toEqual([])
      expect(await importer.metrics.registry.metrics()).toContain(
        'tracker_alert_events_total{change="created"} 2',
      )
      const trackers = await database.db
        .selectFrom('trackers')
        .select(['id', 'last_seen_at'])
        .where('id', 'in', fixture.trackerIds)
        .execute()
      const events = await database.db
        .selectFrom('alert_events')
        .select(['tracker_id', 'kind', 'occurred_after'])
        .where('rule_id', '=', rule.id)
        .execute()
      expect(events).toHaveLength(2)
      for (const tracker of trackers)
        expect(events.find((e) => e.tracker_id === tracker.id)).toMatchObject({
          kind: 'not_seen',
          occurred_after: tracker.last_seen_at,
        })
    } finally {
      await shared.dispose()
    }
  })

  it('a run killed after its inserts leaves their evaluation queued; the next start evaluates it, once', async () => {
    const shared = await sharedDatabase()
    try {
      let database = await shared.open()
      const fixture: ImportFixture = await importFixture(database, {
        seed: 32,
        trackers: 3,
        keysPerTracker: 1,
        env: { REPORT_ENDPOINT_BATCH_SIZE: '1' },
      })
      // Batches 1 and 2 are served, then the endpoint stalls: the child is killed waiting for batch 3.
      fixture.simulator.setFailures({ next: [null, null], when: () => ({ type: 'slow', delayMs: 60_000 }) })
      await shared.release()
      const child = new ChildImporter(['--once'], {
        ...shared.env,
        KEY_SEALING_PRIVATE_KEY: fixture.secret,
        REPORT_ENDPOINT_URL: fixture.simulator.url,
        REPORT_ENDPOINT_PAUSE: '1 ms',
        REPORT_ENDPOINT_BATCH_SIZE: '1',
        // The child's own evaluator would take the queue before the kill: not in this test.
        ALERTS_EVALUATE_INTERVAL: '1 hour',
      })
      await child.waitForLine((line) => line.msg === 'report batch inserted' && line.batch === 2)
      child.kill('SIGKILL')
      expect(await child.exited).toBe('SIGKILL')
      fixture.simulator.setFailures(null)

      database = await shared.open()
      const stored = await database.db
        .selectFrom('location_reports')
        .select([
          'tracker_id',
          (eb) => eb.fn.min('timestamp').as('from'),
          (eb) => eb.fn.max('timestamp').as('to'),
        ])
        .groupBy('tracker_id')
        .execute()
      expect(stored.length).toBeGreaterThan(0)
      const queued = await pending(database)
      // Every stored report's span is queued (the child's start-up pass ran before any insert).
      for (const span of stored) {
        const mine = queued.filter((q) => q.tracker_id === span.tracker_id)
        expect(mine.length).toBeGreaterThan(0)
        expect(Math.min(...mine.map((q) => q.from_ts.getTime()))).toBe(new Date(span.from).getTime())
        expect(Math.max(...mine.map((q) => q.to_ts.getTime()))).toBe(new Date(span.to).getTime())
      }
      const trackerIds = stored.map((s) => s.tracker_id)
      await leaveRules(database, trackerIds)

      const importer = await startImporter({
        database,
        locks: new InProcessLockService(),
        logger: silent,
        config: fixture.config,
        http: false,
        schedule: false,
        decryptThreads: 0,
      })
      await expect.poll(() => pending(database), { timeout: 60_000 }).toEqual([])
      await importer.stop()
      let departures = 0
      for (const trackerId of trackerIds) {
        const expected = await departuresInReports(database, trackerId)
        departures += expected.length
        expect(await liveDepartures(database, trackerId)).toEqual(expected)
      }
      // The trackers do leave their start within the week, so the comparison above compared something.
      expect(departures).toBeGreaterThan(0)
    } finally {
      await shared.dispose()
    }
  })
})
