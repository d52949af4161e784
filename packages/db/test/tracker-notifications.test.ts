import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseTrackerChanged, TRACKER_CHANGED_CHANNEL } from '../src/index.ts'
import { createTestDatabase, insertTracker, type TestDatabase } from '../src/testing/index.ts'

let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
})
afterAll(() => database?.close())

/** The tracker_changed payloads a statement sends, up to a marker sent after it. */
async function notificationsOf(statement: () => Promise<unknown>): Promise<unknown[]> {
  const payloads: string[] = []
  const listener = await database.listen(TRACKER_CHANGED_CHANNEL, { onNotification: (p) => payloads.push(p) })
  try {
    await statement()
    await sql`SELECT pg_notify(${TRACKER_CHANGED_CHANNEL}, 'marker')`.execute(database.db)
    await expect.poll(() => payloads).toContain('marker')
  } finally {
    await listener.close()
  }
  return payloads.filter((p) => p !== 'marker').map((p) => parseTrackerChanged(p))
}

describe('tracker_changed notifications', () => {
  it('names a created tracker, a new last position, a rename and a deletion, once per statement', async () => {
    let id = ''
    expect(
      await notificationsOf(async () => {
        id = (await insertTracker(database.db)).id
      }),
    ).toEqual([{ trackers: [id] }])
    expect(
      await notificationsOf(() =>
        database.db
          .updateTable('trackers')
          .set({ last_seen_at: new Date(), last_latitude: 48.1, last_longitude: 11.5, battery_level: 'low' })
          .where('id', '=', id)
          .execute(),
      ),
    ).toEqual([{ trackers: [id] }])
    expect(
      await notificationsOf(() =>
        database.db.updateTable('trackers').set({ name: 'renamed' }).where('id', '=', id).execute(),
      ),
    ).toEqual([{ trackers: [id] }])
    expect(
      await notificationsOf(() => database.db.deleteFrom('trackers').where('id', '=', id).execute()),
    ).toEqual([{ trackers: [id] }])
  })

  it('stays silent when nothing a reader shows changed', async () => {
    const { id } = await insertTracker(database.db)
    expect(
      await notificationsOf(() =>
        database.db.updateTable('trackers').set({ updated_at: new Date() }).where('id', '=', id).execute(),
      ),
    ).toEqual([])
  })

  it('says "all" past 100 trackers in one statement (NOTIFY payloads are bounded)', async () => {
    for (let i = 0; i < 101; i++) await insertTracker(database.db)
    expect(
      await notificationsOf(() =>
        database.db.updateTable('trackers').set({ last_seen_at: new Date() }).execute(),
      ),
    ).toEqual([{ all: true }])
  })
})
