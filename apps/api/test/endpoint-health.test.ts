import { insertTracker } from '@tracker/db/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiToken } from '../src/index.ts'
import { createTestApi, HOUR, hourStart, type TestApi } from './helpers.ts'

// What the importer writes (apps/importer: endpoint-requests.repository), as rows.
let api: TestApi
const thisHour = hourStart(Date.now())
const at = (hoursAgo: number) => new Date(thisHour - hoursAgo * HOUR)

beforeAll(async () => {
  api = await createTestApi()
  await api.database.db
    .insertInto('endpoint_request_hours')
    .values([
      { hour: at(0), outcome: 'ok', requests: 4 },
      { hour: at(0), outcome: 'unauthorized', requests: 2 },
      { hour: at(2), outcome: 'empty', requests: 3 },
      { hour: at(2), outcome: 'partial', requests: 1 },
      { hour: at(2), outcome: 'ok', requests: 5 },
      { hour: at(30), outcome: 'server_error', requests: 7 },
      { hour: at(24 * 31), outcome: 'ok', requests: 9 },
    ])
    .execute()
  await api.database.db
    .insertInto('endpoint_request_streak')
    .values({
      failing_requests: 2,
      outcome: 'unauthorized',
      since: at(0),
      last_ok_at: new Date(thisHour - HOUR / 2),
      last_request_at: new Date(thisHour + 60_000),
    })
    .execute()
  await api.database.db
    .insertInto('import_runs')
    .values({
      status: 'partial',
      owner: 'test:1',
      lookback_days: 7,
      rejected: '{}',
      source_errors: '[]',
      endpoint_requests: JSON.stringify({ ok: 3, partial: 1, unauthorized: 1 }),
      multi_id_retries: 2,
      multi_id_recovered_reports: 17,
    })
    .execute()
})
afterAll(() => api?.close())

const HEALTH = `query ($hours: Int) { endpointHealth(hours: $hours) {
  hours { hour total requests { outcome count } }
  totals { outcome count }
  streak { failingRequests outcome since lastOkAt lastRequestAt }
} }`
const codes = (body: { errors?: { extensions: { code: string } }[] }) =>
  body.errors?.map((e) => e.extensions.code)

describe('endpointHealth', () => {
  it('counts the last 24 hours by hour and outcome (oldest first), with the current streak', async () => {
    const response = await api.gql(HEALTH, { token: api.readToken })
    expect(response.body.errors).toBeUndefined()
    expect(response.body.data).toEqual({
      endpointHealth: {
        hours: [
          {
            hour: at(2).toISOString(),
            total: 9,
            requests: [
              { outcome: 'OK', count: 5 },
              { outcome: 'PARTIAL', count: 1 },
              { outcome: 'EMPTY', count: 3 },
            ],
          },
          {
            hour: at(0).toISOString(),
            total: 6,
            requests: [
              { outcome: 'OK', count: 4 },
              { outcome: 'UNAUTHORIZED', count: 2 },
            ],
          },
        ],
        totals: [
          { outcome: 'OK', count: 9 },
          { outcome: 'PARTIAL', count: 1 },
          { outcome: 'EMPTY', count: 3 },
          { outcome: 'UNAUTHORIZED', count: 2 },
        ],
        streak: {
          failingRequests: 2,
          outcome: 'UNAUTHORIZED',
          since: at(0).toISOString(),
          lastOkAt: new Date(thisHour - HOUR / 2).toISOString(),
          lastRequestAt: new Date(thisHour + 60_000).toISOString(),
        },
      },
    })
  })

  it('reaches back `hours` hours, this one included, up to 31 days', async () => {
    const hoursOf = async (hours: number) => {
      const response = await api.gql(HEALTH, { variables: { hours } })
      const data = response.body.data as { endpointHealth: { hours: { hour: string }[] } }
      return data.endpointHealth.hours.map((h) => h.hour)
    }
    expect(await hoursOf(1)).toEqual([at(0).toISOString()])
    expect(await hoursOf(3)).toEqual([at(2).toISOString(), at(0).toISOString()])
    expect(await hoursOf(31)).toEqual([at(30), at(2), at(0)].map((d) => d.toISOString()))
    expect(await hoursOf(24 * 31)).toEqual([at(30), at(2), at(0)].map((d) => d.toISOString()))
  })

  it('refuses hours outside 1..744 with BAD_USER_INPUT', async () => {
    for (const hours of [0, -5, 24 * 31 + 1]) {
      const response = await api.gql(HEALTH, { variables: { hours } })
      expect(response.status).toBe(200)
      expect(codes(response.body)).toEqual(['BAD_USER_INPUT'])
      expect(response.body.errors?.[0]).toMatchObject({
        message: `hours must be between 1 and 744 (31 days, what is kept), got ${hours}`,
        extensions: { code: 'BAD_USER_INPUT', argument: 'hours', min: 1, max: 744 },
        path: ['endpointHealth'],
      })
    }
  })

  it('before the importer made any request: no hours and no streak', async () => {
    const empty = await createTestApi()
    try {
      const response = await empty.gql(HEALTH)
      expect(response.body.data).toEqual({
        endpointHealth: {
          hours: [],
          totals: [],
          streak: { failingRequests: 0, outcome: null, since: null, lastOkAt: null, lastRequestAt: null },
        },
      })
    } finally {
      await empty.close()
    }
  })

  it('is FORBIDDEN for a token limited to trackers (the endpoint serves every tracker)', async () => {
    const tracker = await insertTracker(api.database.db)
    const { token } = await createApiToken(api.database.db, {
      name: 'one tracker',
      scope: 'read',
      trackerIds: [tracker.id],
    })
    expect(codes((await api.gql(HEALTH, { token })).body)).toEqual(['FORBIDDEN'])
  })
})

describe('ImportRun', () => {
  it('has the run’s requests by outcome and its single-id retries', async () => {
    const response = await api.gql(
      '{ importRuns(first: 1) { nodes { requests { outcome count } multiIdRetries multiIdRecoveredReports } } }',
    )
    expect(response.body.data).toEqual({
      importRuns: {
        nodes: [
          {
            requests: [
              { outcome: 'OK', count: 3 },
              { outcome: 'PARTIAL', count: 1 },
              { outcome: 'UNAUTHORIZED', count: 1 },
            ],
            multiIdRetries: 2,
            multiIdRecoveredReports: 17,
          },
        ],
      },
    })
  })
})
