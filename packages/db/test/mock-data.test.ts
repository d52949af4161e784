import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { insertMockLocationReports } from '../src/index.ts'
import { createTestDatabase, insertTracker, reportRow, type TestDatabase } from '../src/testing/index.ts'

let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(() => database?.close())

describe('the mock-data script (the seed bulk test)', () => {
  it('fills a week of history around a European city for trackers without history only', async () => {
    const withHistory = await insertTracker(database.db)
    await database.db
      .insertInto('location_reports')
      .values(reportRow(withHistory.hashedAdvKeys[0]!, new Date()))
      .execute()
    const empty = await insertTracker(database.db, { keys: 2 })

    const inserted = await insertMockLocationReports(database)
    expect(inserted).toBe(7 * 48)
    const rows = await database.db
      .selectFrom('location_reports')
      .selectAll()
      .where('tracker_id', '=', empty.id)
      .execute()
    expect(rows).toHaveLength(7 * 48)
    expect(new Set(rows.map((r) => r.nearest_city)).size).toBe(1)
    for (const row of rows) {
      expect(row.latitude).toBeGreaterThan(35)
      expect(row.latitude).toBeLessThan(61)
      expect(row.longitude).toBeGreaterThan(-10)
      expect(row.longitude).toBeLessThan(25)
    }
    const others = await database.db
      .selectFrom('location_reports')
      .select('tracker_id')
      .where('tracker_id', '=', withHistory.id)
      .execute()
    expect(others).toHaveLength(1)
    // Running it again adds nothing: every tracker has history now.
    expect(await insertMockLocationReports(database)).toBe(0)

    // location_history itself is kept by packages/history; here every mock report reaches both
    // aggregates once they are refreshed over the week.
    for (const aggregate of ['location_history_hourly', 'location_history_daily']) {
      await sql`CALL refresh_continuous_aggregate(${aggregate}::regclass, now() - interval '8 days', now() + interval '1 hour')`.execute(
        database.db,
      )
    }
    const { rows: totals } = await sql<{ hourly: number; daily: number }>`
      SELECT (SELECT sum(report_count)::int FROM location_history_hourly WHERE tracker_id = ${empty.id}) AS hourly,
             (SELECT sum(report_count)::int FROM location_history_daily WHERE tracker_id = ${empty.id}) AS daily`.execute(
      database.db,
    )
    expect(totals[0]).toEqual({ hourly: 7 * 48, daily: 7 * 48 })
  })
})
