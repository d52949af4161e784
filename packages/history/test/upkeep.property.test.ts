import { DEFAULT_RETENTION, sql } from '@tracker/db'
import { createTestDatabase, insertTracker, reportRow, type TestDatabase } from '@tracker/db/testing'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type HistoryEngine, WHOLE_HISTORY } from '../src/index.ts'
import {
  context,
  DAY_MS,
  HOUR_MS,
  notificationFeed,
  openEngine,
  settle,
  type TestClock,
} from './helpers/engine-harness.ts'

// Property: whatever happens to the raw reports (inserts recent and late, duplicates, city updates,
// aggregate refreshes, retention drops, the clock moving the tier boundary), once the refresher has
// handled what was announced, location_history equals a full recompute from its sources (raw reports
// where retention keeps them all, the daily aggregate before), and after each periodic refresh the
// aggregates' own rows too; no day is both a daily point and hourly points, and every raw report is
// counted exactly once (the late ones too).

let database: TestDatabase
let engine: HistoryEngine
let clock: TestClock
let feed: Awaited<ReturnType<typeof notificationFeed>>

beforeAll(async () => {
  database = await createTestDatabase()
  ;({ engine, clock } = await openEngine(database))
  feed = await notificationFeed(database)
  // History old enough for retention to drop its raw reports, materialized first (as the periodic
  // refresh keeps the daily watermark a day behind now).
  const old = await insertTracker(database.db)
  const now = Date.now()
  await database.db
    .insertInto('location_reports')
    .values(
      Array.from({ length: 14 }, (_, i) =>
        reportRow(old.hashedAdvKeys[0]!, new Date(now - (12 + i) * DAY_MS + i * HOUR_MS), {
          latitude: 40 + i,
        }),
      ),
    )
    .execute()
  await sql`CALL refresh_continuous_aggregate('location_history_daily', NULL, now() - interval '1 day')`.execute(
    database.db,
  )
  await settle(database, feed)
  await engine.applyChanges(feed.take(), context('notification'))
})
afterAll(async () => {
  await feed?.close()
  await database?.close()
})

type Command =
  | { kind: 'recent'; tracker: number; minutesAgo: number; latitude: number }
  | { kind: 'late'; tracker: number; hoursAgo: number; latitude: number }
  | { kind: 'duplicate'; pick: number }
  | { kind: 'city'; tracker: number; hoursAgo: number; spanHours: number; city: string }
  | { kind: 'materialize' }
  | { kind: 'retention' }
  | { kind: 'clock'; hours: number }

const latitude = fc.integer({ min: -8000, max: 8000 }).map((n) => n / 100)
const tracker = fc.integer({ min: 0, max: 2 })
const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('recent' as const),
      tracker,
      minutesAgo: fc.integer({ min: 0, max: 47 * 60 }),
      latitude,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('late' as const),
      tracker,
      hoursAgo: fc.integer({ min: 2, max: 6 * 24 }),
      latitude,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('city' as const),
      tracker,
      hoursAgo: fc.integer({ min: 0, max: 7 * 24 }),
      spanHours: fc.integer({ min: 1, max: 72 }),
      city: fc.constantFrom('Lisbon, PT', 'Oslo, NO', 'Quito, EC'),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'materialize' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'retention' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('clock' as const), hours: fc.integer({ min: 1, max: 20 }) }),
  },
)

/** sum(report_count) in location_history against count(*) of raw reports, per tracker. */
async function countsOf(ids: string[]): Promise<{ history: number; raw: number }[]> {
  const { rows } = await sql<{ history: number; raw: number }>`
    SELECT coalesce((SELECT sum(report_count) FROM location_history h WHERE h.tracker_id = t.id), 0)::int AS history,
           (SELECT count(*) FROM location_reports r WHERE r.tracker_id = t.id)::int AS raw
      FROM unnest(${ids}::uuid[]) AS t(id) ORDER BY t.id`.execute(database.db)
  return rows
}

async function splitDays(): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM location_history d
      JOIN location_history h ON h.tracker_id = d.tracker_id AND h.bucket_size = '1 hour'
       AND h."timestamp" >= d."timestamp" AND h."timestamp" < d."timestamp" + INTERVAL '1 day'
     WHERE d.bucket_size = '1 day'`.execute(database.db)
  return rows[0]!.n
}

describe('incremental upkeep, property-style', () => {
  it('after any sequence of changes, location_history equals a full recompute from the aggregates', async () => {
    let advancedHours = 0
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 8 }), async (commands) => {
        const trackers = await Promise.all([0, 1, 2].map(() => insertTracker(database.db)))
        const inserted: ReturnType<typeof reportRow>[] = []
        const insert = async (row: ReturnType<typeof reportRow>) => {
          await database.db
            .insertInto('location_reports')
            .values(row)
            .onConflict((oc) => oc.doNothing())
            .execute()
          inserted.push(row)
        }
        for (const c of commands) {
          const now = Date.now()
          switch (c.kind) {
            case 'recent':
              await insert(
                reportRow(
                  trackers[c.tracker]!.hashedAdvKeys[0]!,
                  new Date(now - c.minutesAgo * 60_000 - 1_000),
                  { latitude: c.latitude },
                ),
              )
              break
            case 'late': {
              // Within the late horizon as the engine's (advanced) clock sees it: whole days back to
              // 7 are always safe to refresh (10 days raw retention - 1 chunk - 1 bucket, to the day).
              const hoursAgo = Math.min(c.hoursAgo, 7 * 24 - 1 - advancedHours)
              await insert(
                reportRow(
                  trackers[c.tracker]!.hashedAdvKeys[0]!,
                  new Date(now - hoursAgo * HOUR_MS + 17_000),
                  {
                    latitude: c.latitude,
                  },
                ),
              )
              break
            }
            case 'duplicate':
              if (inserted.length > 0) await insert(inserted[c.pick % inserted.length]!)
              break
            case 'city': {
              const to = now - c.hoursAgo * HOUR_MS
              await sql`SELECT update_nearest_city(${trackers[c.tracker]!.hashedAdvKeys[0]!},
                          ${new Date(to - c.spanHours * HOUR_MS).toISOString()}::timestamptz, ${new Date(to).toISOString()}::timestamptz, ${c.city})`.execute(
                database.db,
              )
              break
            }
            case 'materialize':
              await engine.refreshPeriodic(context('periodic'))
              break
            case 'retention':
              await sql`SELECT drop_chunks('location_reports', older_than => now() - ${`${DEFAULT_RETENTION.rawRetentionMs / 1000} seconds`}::interval)`.execute(
                database.db,
              )
              break
            case 'clock':
              // The tier boundary moves with the clock; keep the whole run within a day or two.
              if (advancedHours + c.hours <= 30) {
                clock.advance(c.hours * HOUR_MS)
                advancedHours += c.hours
              }
              break
          }
          // The refresher's path: everything announced, as one batch.
          await settle(database, feed)
          await engine.applyChanges(feed.take(), context('notification'))
          const differences = await engine.check()
          expect(differences, JSON.stringify({ after: c, differences: differences.slice(0, 3) })).toEqual([])
          if (c.kind === 'materialize') {
            // Late reports reach location_history from raw reports at once and the aggregates at the
            // periodic refresh: once it ran, the aggregates' own rows say the same.
            const lagging = await engine.check(WHOLE_HISTORY, null, 1000, 'materialized')
            expect(lagging, JSON.stringify({ after: c, lagging: lagging.slice(0, 3) })).toEqual([])
          }
          expect(await splitDays()).toBe(0)
          for (const { history, raw } of await countsOf(trackers.map((t) => t.id))) expect(history).toBe(raw)
        }
      }),
      { numRuns: 40, seed: 20261129, endOnFailure: true },
    )
  })
})
