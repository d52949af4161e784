import { DAY_MS, HOUR_MS, NotFoundError, sql } from '@tracker/db'
import { createTestDatabase, insertTracker, reportRow, type TestDatabase } from '@tracker/db/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfirmationRequiredError, type HistoryEngine, purgeTrackerHistory } from '../src/index.ts'
import { context, dayStart, hourStart, openEngine } from './helpers/engine-harness.ts'

let database: TestDatabase
let engine: HistoryEngine
beforeAll(async () => {
  database = await createTestDatabase()
  engine = (await openEngine(database)).engine
})
afterAll(() => database?.close())

type Tracker = Awaited<ReturnType<typeof insertTracker>>

/** Reports over the last hours (hourly tier) and one a day 2 to 9 days back (daily tier, older ones compressed). */
async function trackerWithHistory(name: string, latitude: number): Promise<Tracker> {
  const tracker = await insertTracker(database.db, { name, keys: 2 })
  const now = Date.now()
  const rows = [
    ...Array.from({ length: 6 }, (_, i) =>
      reportRow(tracker.hashedAdvKeys[i % 2]!, new Date(hourStart(now) - i * HOUR_MS - 10 * 60_000), {
        latitude,
      }),
    ),
    ...Array.from({ length: 8 }, (_, d) =>
      reportRow(tracker.hashedAdvKeys[d % 2]!, new Date(now - (d + 2) * DAY_MS), { latitude: latitude + d }),
    ),
  ]
  await database.db.insertInto('location_reports').values(rows).execute()
  return tracker
}

/** The materialization hypertable of each aggregate: where its rows live beyond raw retention. */
async function materializationTables(): Promise<Record<string, string>> {
  const { rows } = await sql<{ view_name: string; mat: string }>`
    SELECT view_name, format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name) AS mat
      FROM timescaledb_information.continuous_aggregates`.execute(database.db)
  return Object.fromEntries(rows.map((r) => [r.view_name, r.mat]))
}

/** Rows of the tracker in every table that can hold one. */
async function rowsEverywhere(trackerId: string) {
  const mats = await materializationTables()
  const count = async (table: string, column = 'tracker_id') => {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM ${sql.raw(table)} WHERE ${sql.ref(column)} = ${trackerId}::uuid`.execute(
      database.db,
    )
    return rows[0]!.n
  }
  return {
    reports: await count('location_reports'),
    hourlyView: await count('location_history_hourly'),
    dailyView: await count('location_history_daily'),
    hourly: await count(mats.location_history_hourly!),
    daily: await count(mats.location_history_daily!),
    history: await count('location_history'),
    keys: await count('tracker_keys'),
    trackers: await count('trackers', 'id'),
    tokens: await count('api_token_trackers'),
  }
}

/** The tracker's reports that sit in compressed chunks. */
async function compressedReports(trackerId: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM location_reports r
      JOIN timescaledb_information.chunks c
        ON c.hypertable_name = 'location_reports' AND c.is_compressed
       AND r."timestamp" >= c.range_start AND r."timestamp" < c.range_end
     WHERE r.tracker_id = ${trackerId}::uuid`.execute(database.db)
  return rows[0]!.n
}

describe('purgeTrackerHistory', () => {
  let kept: Tracker
  let purged: Tracker
  let droppedDay: Date

  beforeAll(async () => {
    kept = await trackerWithHistory('Kept', 40)
    purged = await trackerWithHistory('Purged', 50)
    // Every tier filled: both aggregates over the safe window, the daily one also further back (as it
    // was while those days were recent), location_history from them.
    await engine.refreshWindow({ from: new Date(Date.now() - 8 * DAY_MS), to: new Date() }, context())
    await sql`CALL refresh_continuous_aggregate('location_history_daily', ${new Date(dayStart(Date.now() - 11 * DAY_MS)).toISOString()}::timestamptz, ${new Date(dayStart(Date.now() - 7 * DAY_MS)).toISOString()}::timestamptz)`.execute(
      database.db,
    )
    await engine.rebuild(context())
    await sql`SELECT compress_chunk(c, if_not_compressed => true)
                FROM show_chunks('location_reports', older_than => now() - INTERVAL '3 days') c`.execute(
      database.db,
    )
    // The oldest day's raw chunk goes, as retention would drop it (beyond the safe refresh horizon of
    // 8 days): its daily rows now exist only in the daily aggregate's materialization (and
    // location_history), where no refresh could rebuild them.
    droppedDay = new Date(dayStart(Date.now() - 9 * DAY_MS))
    await sql`SELECT drop_chunks('location_reports', older_than => ${new Date(droppedDay.getTime() + DAY_MS).toISOString()}::timestamptz)`.execute(
      database.db,
    )
    await sql`INSERT INTO api_tokens (name, token_hash, scope, all_trackers) VALUES ('shared', 'h1', 'read', false)`.execute(
      database.db,
    )
    await sql`INSERT INTO api_token_trackers (token_id, tracker_id)
              SELECT id, ${purged.id}::uuid FROM api_tokens WHERE token_hash = 'h1'`.execute(database.db)
  })

  it('refuses without the tracker name as confirmation, and for a tracker that does not exist', async () => {
    await expect(
      purgeTrackerHistory(database.db, { trackerId: purged.id, confirm: 'Kept', deletedBy: 'test' }),
    ).rejects.toBeInstanceOf(ConfirmationRequiredError)
    await expect(
      purgeTrackerHistory(database.db, {
        trackerId: '00000000-0000-4000-8000-000000000000',
        confirm: 'x',
        deletedBy: 'test',
      }),
    ).rejects.toBeInstanceOf(NotFoundError)
    expect((await rowsEverywhere(purged.id)).trackers).toBe(1)
  })

  it('deletes every row of the tracker from every tier, compressed chunks and expired raw days included', async () => {
    const before = await rowsEverywhere(purged.id)
    const keptBefore = await rowsEverywhere(kept.id)
    const keptDaily =
      await sql`SELECT * FROM location_history_daily WHERE tracker_id = ${kept.id}::uuid ORDER BY bucket`.execute(
        database.db,
      )
    // The set-up holds what the purge must reach.
    expect(await compressedReports(purged.id)).toBeGreaterThan(0)
    expect(before).toMatchObject({ keys: 2, trackers: 1, tokens: 1 })
    for (const tier of ['reports', 'hourly', 'daily', 'history'] as const)
      expect(before[tier]).toBeGreaterThan(0)
    const { rows: expired } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM location_history_daily
       WHERE tracker_id = ${purged.id}::uuid AND bucket = ${droppedDay.toISOString()}::timestamptz`.execute(
      database.db,
    )
    expect(expired[0]!.n).toBe(1)

    const purge = await purgeTrackerHistory(database.db, {
      trackerId: purged.id,
      confirm: ' Purged ',
      deletedBy: 'test suite',
    })
    expect(purge).toMatchObject({
      trackerId: purged.id,
      trackerName: 'Purged',
      hashedAdvKeys: [...purged.hashedAdvKeys].sort(),
      deletedBy: 'test suite',
      rows: {
        reports: before.reports,
        hourly: before.hourly,
        daily: before.daily,
        history: before.history,
        keys: 2,
      },
    })

    expect(await rowsEverywhere(purged.id)).toEqual({
      reports: 0,
      hourlyView: 0,
      dailyView: 0,
      hourly: 0,
      daily: 0,
      history: 0,
      keys: 0,
      trackers: 0,
      tokens: 0,
    })
    // The other tracker lost nothing; location_history still agrees with the aggregates.
    expect(await rowsEverywhere(kept.id)).toEqual(keptBefore)
    expect(
      (
        await sql`SELECT * FROM location_history_daily WHERE tracker_id = ${kept.id}::uuid ORDER BY bucket`.execute(
          database.db,
        )
      ).rows,
    ).toEqual(keptDaily.rows)
    expect(await engine.check()).toEqual([])

    const recorded = await database.db.selectFrom('tracker_deletions').selectAll().execute()
    expect(recorded).toEqual([
      expect.objectContaining({
        id: purge.deletionId,
        tracker_id: purged.id,
        tracker_name: 'Purged',
        deleted_by: 'test suite',
        reports_deleted: before.reports,
        hourly_rows_deleted: before.hourly,
        daily_rows_deleted: before.daily,
        history_rows_deleted: before.history,
        keys_deleted: 2,
      }),
    ])
    // The token that was limited to it now sees no tracker at all (not every tracker).
    const { rows: token } = await sql<{ all_trackers: boolean }>`
      SELECT all_trackers FROM api_tokens WHERE token_hash = 'h1'`.execute(database.db)
    expect(token).toEqual([{ all_trackers: false }])
  })

  it('later refreshes and upkeeps bring nothing back and erase nothing of the others', async () => {
    const keptBefore = await rowsEverywhere(kept.id)
    await engine.refreshWindow({ from: new Date(Date.now() - 8 * DAY_MS), to: new Date() }, context())
    await engine.refreshPeriodic(context('periodic'))
    expect(await rowsEverywhere(purged.id)).toMatchObject({ reports: 0, hourly: 0, daily: 0, history: 0 })
    expect(await rowsEverywhere(kept.id)).toEqual(keptBefore)
    expect(await engine.check()).toEqual([])
  })

  it('a report of the deleted tracker inserted afterwards (an import that read its keys before) is dropped', async () => {
    const late = await database.db
      .insertInto('location_reports')
      .values(reportRow(purged.hashedAdvKeys[0]!, new Date(), { tracker_id: purged.id }))
      .executeTakeFirst()
    expect(late.numInsertedOrUpdatedRows).toBe(0n)
    // Without a tracker id its key is looked up, and no tracker has it any more.
    await expect(
      database.db
        .insertInto('location_reports')
        .values(reportRow(purged.hashedAdvKeys[0]!, new Date()))
        .execute(),
    ).rejects.toThrow(/no tracker has a key/)
    expect((await rowsEverywhere(purged.id)).reports).toBe(0)
  })

  it('lifts the decompression guard for its own transaction only', async () => {
    const tracker = await trackerWithHistory('Big', 30)
    await sql`SELECT compress_chunk(c, if_not_compressed => true)
                FROM show_chunks('location_reports', older_than => now() - INTERVAL '3 days') c`.execute(
      database.db,
    )
    expect(await compressedReports(tracker.id)).toBeGreaterThan(1)
    const guard = await database.withSession(async (session) => {
      // As if the tracker had more compressed reports than the guard allows.
      await sql`SET timescaledb.max_tuples_decompressed_per_dml_transaction = 1`.execute(session)
      try {
        await purgeTrackerHistory(session, { trackerId: tracker.id, confirm: 'Big', deletedBy: 'test' })
        const { rows } = await sql<{ value: string }>`
          SELECT current_setting('timescaledb.max_tuples_decompressed_per_dml_transaction') AS value`.execute(
          session,
        )
        return rows[0]!.value
      } finally {
        await sql`RESET timescaledb.max_tuples_decompressed_per_dml_transaction`.execute(session)
      }
    })
    expect(guard).toBe('1')
    expect(await rowsEverywhere(tracker.id)).toMatchObject({ reports: 0, trackers: 0 })
    expect(await engine.check()).toEqual([])
  })
})
