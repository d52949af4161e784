import { createTestDatabase, insertTracker, reportRow, type TestDatabase } from '@tracker/db/testing'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApi, DAY, dayStart, rebuildHistory, type TestApi } from './helpers.ts'
import { StatementRecorder } from './statement-recorder.ts'

const POINTS = 510
const recorder = new StatementRecorder()
let database: TestDatabase
let api: TestApi
let trackerId: string

beforeAll(async () => {
  database = await createTestDatabase()
  // The same database and connections, seen through a Kysely instance that records each statement.
  api = await createTestApi({ database: { ...database, db: database.db.withPlugin(recorder) } })
  // One daily report per day for 510 days: one raw chunk for all of them keeps the setup quick.
  await sql`SELECT set_chunk_time_interval('location_reports', INTERVAL '1000 days')`.execute(database.db)
  const tracker = await insertTracker(database.db, { keys: 2 })
  trackerId = tracker.id
  const today = dayStart(Date.now())
  await database.db
    .insertInto('location_reports')
    .values(
      Array.from({ length: POINTS }, (_, i) =>
        reportRow(tracker.hashedAdvKeys[i % 2]!, new Date(today - (i + 1) * DAY + 3_600_000)),
      ),
    )
    .execute()
  // location_history reads the (real-time) aggregates: the points are served from it.
  await rebuildHistory(api)
  for (let i = 0; i < 3; i++) await insertTracker(database.db, { keys: 2 })
})
afterAll(async () => {
  await api?.close()
  await database?.close()
})

const readsTrackers = (statement: string) => /from "trackers"/i.test(statement)

describe('relation fields go through loaders', () => {
  it('a history query returning 500 points issues one tracker query (two statements in all)', async () => {
    const now = Date.now()
    const query = `{
      locationHistoryAggregated(trackerId: "${trackerId}", startTime: "${new Date(now - 1000 * DAY).toISOString()}",
                                endTime: "${new Date(now).toISOString()}", bucketSize: "1 day") {
        id timestamp tracker { id name currentStatus }
      }
    }`
    // The first request also looks its token up; later ones find it in the token cache. The second
    // asks for a range one millisecond longer: not an answer the history cache holds.
    expect((await api.gql(query)).status).toBe(200)
    recorder.take()

    const response = await api.gql(
      query.replace(new Date(now).toISOString(), new Date(now + 1).toISOString()),
    )
    const statements = recorder.take()
    const points = response.body.data!.locationHistoryAggregated as { tracker: { id: string } }[]
    expect(points).toHaveLength(500)
    expect(points.every((p) => p.tracker.id === trackerId)).toBe(true)
    expect(statements.filter(readsTrackers)).toHaveLength(1)
    expect(statements).toHaveLength(2)
    expect(statements[0]).toMatch(/from location_history/i)
  })

  it('the same history query again reads only its tracker, and a history-only one reads nothing', async () => {
    await expect.poll(() => api.app.services.historyCache.serving).toBe(true)
    const now = Date.now()
    const range = `trackerId: "${trackerId}", startTime: "${new Date(now - 40 * DAY).toISOString()}",
                   endTime: "${new Date(now).toISOString()}", bucketSize: "1 day"`
    const withTracker = `{ locationHistoryAggregated(${range}) { id timestamp tracker { id name currentStatus } } }`
    const historyOnly = `{ locationHistoryAggregated(${range}) { id timestamp location { latitude } } }`
    const first = await api.gql(withTracker)
    expect(first.body.errors).toBeUndefined()
    expect(recorder.take().some((s) => /from location_history/i.test(s))).toBe(true)

    // The history page is kept; the tracker (its status moves with the clock) is read again.
    const again = await api.gql(withTracker)
    expect(again.raw).toBe(first.raw)
    expect(recorder.take()).toEqual([expect.stringMatching(/from "trackers"/i)])

    // History only: the first answer is built from the kept page, the second is the kept response.
    const historyFirst = await api.gql(historyOnly)
    expect(recorder.take()).toEqual([])
    expect(historyFirst.headers['x-history-cache']).toBeUndefined()
    const historyAgain = await api.gql(historyOnly)
    expect(recorder.take()).toEqual([])
    expect(historyAgain.headers['x-history-cache']).toBe('hit')
    expect(historyAgain.raw).toBe(historyFirst.raw)
    expect((historyAgain.body.data!.locationHistoryAggregated as unknown[]).length).toBe(40)
  })

  it('a page of trackers issues one query for the page and one for all of their keys', async () => {
    await api.gql('{ trackers(first: 1) { nodes { id } } }')
    recorder.take()
    const response = await api.gql('{ trackers(first: 10) { nodes { id keys { hashedAdvKey } } } }')
    const statements = recorder.take()
    const nodes = (response.body.data!.trackers as { nodes: { keys: unknown[] }[] }).nodes
    expect(nodes).toHaveLength(4)
    expect(nodes.every((n) => n.keys.length === 2)).toBe(true)
    expect(statements).toHaveLength(2)
    expect(statements.filter((s) => /from "tracker_keys"/i.test(s))).toHaveLength(1)
  })

  it('raw reports with their tracker: one page query, one tracker query', async () => {
    const key = (
      await database.db
        .selectFrom('tracker_keys')
        .select('hashed_adv_key')
        .where('tracker_id', '=', trackerId)
        .executeTakeFirstOrThrow()
    ).hashed_adv_key
    await database.db
      .insertInto('location_reports')
      .values(Array.from({ length: 20 }, (_, i) => reportRow(key, new Date(Date.now() - (i + 1) * 60_000))))
      .execute()
    const query = `{ locationReports(trackerId: "${trackerId}", first: 20) { nodes { timestamp tracker { name } } } }`
    await api.gql(query)
    recorder.take()
    const response = await api.gql(query)
    const statements = recorder.take()
    expect((response.body.data!.locationReports as { nodes: unknown[] }).nodes).toHaveLength(20)
    expect(statements).toHaveLength(2)
    expect(statements.filter(readsTrackers)).toHaveLength(1)
  })
})
