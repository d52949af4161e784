import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_RETENTION, insertMockLocationReports, refreshHistoryWindow } from '../src/index.ts'
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

    await refreshHistoryWindow(database, DEFAULT_RETENTION, {
      from: new Date(Date.now() - 8 * 86_400_000),
      to: new Date(),
    })
    const history = await database.db
      .selectFrom('location_history')
      .select(['bucket_size', 'nearest_city'])
      .where('tracker_id', '=', empty.id)
      .execute()
    expect(history.filter((h) => h.bucket_size === '1 day').length).toBeGreaterThanOrEqual(6)
    expect(history.filter((h) => h.bucket_size === '1 hour').length).toBeGreaterThanOrEqual(24)
  })
})
