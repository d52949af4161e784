import type { TrackerDatabase } from '@tracker/db'
import { insertTracker } from '@tracker/db/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { evaluatePending } from '../src/index.ts'
import {
  at,
  DAY,
  DAY_EVENTS,
  eventsOf,
  INSIDE,
  importReports,
  insertChannel,
  insertHome,
  insertRule,
  live,
  outboxOf,
} from './helpers/alert-fixtures.ts'
import { alertTablesOnly } from './helpers/alert-tables-only.ts'

/**
 * Two importer replicas evaluating the same queue at the same time, as two connection pools on the
 * machine's PostgreSQL (the embedded engine runs one session, so it cannot show real concurrency):
 * the per-tracker lock row and the unique index, not luck, give one event per transition.
 */
let server: Awaited<ReturnType<typeof alertTablesOnly>>
let first: TrackerDatabase
let second: TrackerDatabase
beforeAll(async () => {
  server = await alertTablesOnly()
  first = await server.connect()
  second = await server.connect()
})
afterAll(() => server?.close())

describe('two evaluators on two connections at once', () => {
  it('evaluate each queued tracker once and record one event per transition', async () => {
    const db = first.db
    const channelId = await insertChannel(db)
    const homeId = await insertHome(db)
    const trackers = []
    for (let i = 0; i < 30; i++) {
      const tracker = await insertTracker(db)
      for (const kind of ['enter', 'leave'] as const)
        await insertRule(db, { kind, place_id: homeId, tracker_ids: [tracker.id], channel_ids: [channelId] })
      // Queued as two imports would: the day in two batches.
      await importReports(db, tracker, DAY.slice(0, 6))
      await importReports(db, tracker, DAY.slice(6))
      trackers.push(tracker)
    }
    const [a, b] = await Promise.all([evaluatePending(first.db), evaluatePending(second.db)])
    // Each tracker's queue was taken by exactly one of them (the other found it empty under the lock).
    expect(a.trackers + b.trackers).toBe(trackers.length)
    expect(a.created + b.created).toBe(trackers.length * DAY_EVENTS.length)
    for (const tracker of trackers) {
      const events = await eventsOf(db, tracker.id)
      expect(live(events)).toEqual(DAY_EVENTS)
      expect(events.filter((e) => e.cancelled)).toEqual([])
      expect(await outboxOf(db, tracker.id)).toHaveLength(DAY_EVENTS.length)
    }
    expect(await db.selectFrom('alert_pending').select('id').execute()).toEqual([])

    // Again, now that every tracker's lock row exists (the first round's inserts of those rows
    // also made the two wait on each other): a late report per tracker, cancelling nothing but
    // re-deciding the whole day, evaluated by both at once.
    for (const tracker of trackers) await importReports(db, tracker, [at(20, INSIDE)])
    const [c, d] = await Promise.all([evaluatePending(first.db), evaluatePending(second.db)])
    expect(c.trackers + d.trackers).toBe(trackers.length)
    for (const tracker of trackers) expect(live(await eventsOf(db, tracker.id))).toEqual(DAY_EVENTS)
  })
})
