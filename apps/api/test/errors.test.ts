import { insertTracker } from '@tracker/db/testing'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApi, type GraphQLResponse, type TestApi } from './helpers.ts'

let api: TestApi
let trackerId: string
beforeAll(async () => {
  api = await createTestApi()
  trackerId = (await insertTracker(api.database.db)).id
})
afterAll(() => api?.close())

const history = (args: string) => `{ locationHistoryAggregated(${args}) { id } }`
// The tracker is created in beforeAll, after the cases are listed: TRACKER stands for its id.
const range = (from: string, to: string, bucketSize = '1 day', id = 'TRACKER') =>
  `trackerId: "${id}", startTime: "${from}", endTime: "${to}", bucketSize: "${bucketSize}"`

/** Every malformed request is answered with a code, never a 500, never a stack trace. */
function expectClientError(response: GraphQLResponse, code: string) {
  expect(response.status).toBeLessThan(500)
  expect(response.body.errors?.map((e) => e.extensions.code)).toEqual([code])
  expect(response.raw).not.toMatch(/stack|at .*\.(ts|js):\d+/)
}

describe('malformed requests', () => {
  const cases: [string, string, string][] = [
    [
      'a date without a zone',
      history(range('2025-01-01T00:00:00', '2025-01-31T00:00:00Z')),
      'BAD_USER_INPUT',
    ],
    ['a month 13', history(range('2025-13-01T00:00:00Z', '2025-01-31T00:00:00Z')), 'BAD_USER_INPUT'],
    ['February 30', history(range('2025-02-30T00:00:00Z', '2025-03-31T00:00:00Z')), 'BAD_USER_INPUT'],
    ['a date that is a word', history(range('yesterday', '2025-01-31T00:00:00Z')), 'BAD_USER_INPUT'],
    [
      'a date as a number',
      `{ locationHistoryAggregated(trackerId: "TRACKER", startTime: 1735689600, endTime: "2025-01-31T00:00:00Z", bucketSize: "1 day") { id } }`,
      'BAD_USER_INPUT',
    ],
    ['an inverted range', history(range('2025-01-31T00:00:00Z', '2025-01-01T00:00:00Z')), 'BAD_USER_INPUT'],
    ['a huge range', history(range('0001-01-01T00:00:00Z', '9999-12-31T23:59:59Z')), 'BAD_USER_INPUT'],
    [
      'an unknown bucket size',
      history(range('2025-01-01T00:00:00Z', '2025-01-02T00:00:00Z', '2 hours')),
      'BAD_USER_INPUT',
    ],
    [
      'a bucket size of the wrong type',
      `{ locationHistoryAggregated(trackerId: "TRACKER", startTime: "2025-01-01T00:00:00Z", endTime: "2025-01-02T00:00:00Z", bucketSize: 1) { id } }`,
      'BAD_USER_INPUT',
    ],
    [
      'a limit of the wrong type',
      history(`${range('2025-01-01T00:00:00Z', '2025-01-02T00:00:00Z')}, limit: "ten"`),
      'BAD_USER_INPUT',
    ],
    [
      'a missing argument',
      `{ locationHistoryAggregated(trackerId: "TRACKER", startTime: "2025-01-01T00:00:00Z", endTime: "2025-01-02T00:00:00Z") { id } }`,
      'BAD_USER_INPUT',
    ],
    [
      'an unknown tracker id',
      history(
        range(
          '2025-01-01T00:00:00Z',
          '2025-01-02T00:00:00Z',
          '1 day',
          '00000000-0000-4000-8000-000000000000',
        ),
      ),
      'NOT_FOUND',
    ],
    [
      "the seed's placeholder id",
      history(range('2025-01-01T00:00:00Z', '2025-01-02T00:00:00Z', '1 day', '123')),
      'NOT_FOUND',
    ],
    ['an unknown tracker', '{ tracker(id: "00000000-0000-4000-8000-000000000000") { id } }', 'NOT_FOUND'],
    [
      'reports of an unknown tracker',
      '{ locationReports(trackerId: "nope") { nodes { timestamp } } }',
      'NOT_FOUND',
    ],
    ['a cursor this API never returned', '{ trackers(after: "garbage") { nodes { id } } }', 'BAD_USER_INPUT'],
    [
      'a forged cursor',
      `{ trackers(after: "${Buffer.from('["x\' OR 1=1","y"]').toString('base64url')}") { nodes { id } } }`,
      'BAD_USER_INPUT',
    ],
    ['an unknown field', '{ trackers { nodes { id secret } } }', 'GRAPHQL_VALIDATION_FAILED'],
    ['an unknown argument', '{ trackers(orderBy: "name") { nodes { id } } }', 'GRAPHQL_VALIDATION_FAILED'],
    ['a syntax error', '{ trackers { nodes { id }', 'GRAPHQL_PARSE_FAILED'],
    [
      'a fragment cycle',
      'query { trackers { ...A } } fragment A on TrackerConnection { ...B } fragment B on TrackerConnection { ...A }',
      'GRAPHQL_VALIDATION_FAILED',
    ],
    ['an unknown status', '{ trackers(status: MISSING) { nodes { id } } }', 'BAD_USER_INPUT'],
    [
      'an empty name',
      `mutation { renameTracker(id: "${'00000000-0000-4000-8000-000000000000'}", name: "   ") { id } }`,
      'BAD_USER_INPUT',
    ],
  ]
  for (const [what, query, code] of cases) {
    it(`${what}: ${code}`, async () => {
      expectClientError(await api.gql(query.replaceAll('TRACKER', trackerId)), code)
    })
  }

  it('wrong variable types and values: BAD_USER_INPUT, and a private key is never echoed', async () => {
    const byVariable = await api.gql(
      'query ($from: DateTime!, $limit: Int) { locationHistoryAggregated(trackerId: "x", startTime: $from, endTime: $from, bucketSize: "1 day", limit: $limit) { id } }',
      { variables: { from: '2025-01-01T00:00:00Z', limit: 'many' } },
    )
    expectClientError(byVariable, 'BAD_USER_INPUT')
    const secret = Buffer.alloc(30, 7).toString('base64')
    const key = await api.gql(
      'mutation ($k: PrivateKey!) { addTrackerKey(trackerId: "x", privateKey: $k) { id } }',
      {
        variables: { k: secret },
      },
    )
    expectClientError(key, 'BAD_USER_INPUT')
    expect(key.raw).not.toContain(secret)
    expect(JSON.stringify(api.logs.lines)).not.toContain(secret)
  })

  const post = (payload: string, headers: Record<string, string> = {}) =>
    api.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { authorization: `Bearer ${api.readToken}`, 'content-type': 'application/json', ...headers },
      payload,
    })

  it('an invalid JSON body, an empty body, a wrong content type, a query that is not a string: 4xx BAD_REQUEST', async () => {
    for (const [payload, headers, status] of [
      ['{"query": "{ __typename }"', {}, 400],
      ['', {}, 400],
      ['{ __typename }', { 'content-type': 'text/plain' }, 415],
      ['{ __typename }', { 'content-type': 'application/xml' }, 415],
      ['{"query": 5}', {}, 400],
      ['{"query": "{\\"kind\\": \\"Document\\", \\"definitions\\": [1]}"}', {}, 400],
      ['[1, 2]', {}, 400],
    ] as const) {
      const response = await post(payload, headers)
      expect(response.statusCode, payload).toBe(status)
      expect(['BAD_REQUEST', 'GRAPHQL_PARSE_FAILED'], payload).toContain(
        response.json().errors[0].extensions.code,
      )
      expect(response.body).not.toMatch(/stack/)
    }
  })

  it('a mutation over GET is refused', async () => {
    const response = await api.app.inject({
      method: 'GET',
      url: `/graphql?query=${encodeURIComponent('mutation { deactivateTracker(id: "x") { id } }')}`,
      headers: { authorization: `Bearer ${api.writeToken}` },
    })
    expect(response.statusCode).toBe(405)
    expect(response.json().errors[0].extensions.code).toBe('BAD_REQUEST')
  })

  it('a body without a query is a client error', async () => {
    const response = await post('{}')
    expect(response.statusCode).toBeGreaterThanOrEqual(400)
    expect(response.statusCode).toBeLessThan(500)
  })

  it('a GET query works like a POST one', async () => {
    const response = await api.app.inject({
      method: 'GET',
      url: `/graphql?query=${encodeURIComponent('{ __typename }')}`,
      headers: { authorization: `Bearer ${api.readToken}` },
    })
    expect(response.json()).toEqual({ data: { __typename: 'Query' } })
  })
})

describe('internal errors', () => {
  it('are masked in the response (with the request id) and logged with that id', async () => {
    await sql`ALTER TABLE import_runs RENAME TO import_runs_away`.execute(api.database.db)
    try {
      const response = await api.app.inject({
        method: 'POST',
        url: '/graphql',
        headers: { authorization: `Bearer ${api.readToken}`, 'x-request-id': 'req-internal-1' },
        payload: { query: '{ importRuns { nodes { id } } }' },
      })
      const body = response.json()
      expect(response.statusCode).toBe(500)
      expect(body.errors).toEqual([
        {
          message: 'Internal server error (request id req-internal-1)',
          path: ['importRuns'],
          locations: [{ line: 1, column: 3 }],
          extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: 'req-internal-1' },
        },
      ])
      expect(response.body).not.toMatch(/import_runs|relation|stack/)
      const logged = api.logs.lines.find((l) => l.reqId === 'req-internal-1' && l.level === 50) as {
        err: { message: string }
      }
      expect(logged.err.message).toMatch(/import_runs/)
    } finally {
      await sql`ALTER TABLE import_runs_away RENAME TO import_runs`.execute(api.database.db)
    }
  })
})
