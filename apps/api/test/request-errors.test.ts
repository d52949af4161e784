import { insertTracker } from '@tracker/db/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseDateTime } from '../src/graphql/scalars.ts'
import { cursorTime, encodeCursor } from '../src/services/input.ts'
import { createTestApi, type GraphQLResponse, type TestApi } from './helpers.ts'

// Requests a client may send by the book (or by mistake) that once answered 500: each is a 4xx
// with a code now, or a 200 with a coded error.
let api: TestApi
let trackerId: string
beforeAll(async () => {
  api = await createTestApi()
  trackerId = (await insertTracker(api.database.db)).id
})
afterAll(() => api?.close())

const codes = (response: GraphQLResponse) => response.body.errors?.map((e) => e.extensions.code)

function expectRefused(response: GraphQLResponse, code: string, status = 400) {
  expect(response.status, response.raw).toBe(status)
  expect(codes(response), response.raw).toEqual([code])
}

const post = async (payload: Record<string, unknown>, method: 'POST' | 'GET' = 'POST') => {
  const response = await api.app.inject({
    method,
    url:
      method === 'GET'
        ? `/graphql?${new URLSearchParams(payload as Record<string, string>).toString()}`
        : '/graphql',
    headers: { authorization: `Bearer ${api.readToken}` },
    ...(method === 'POST' ? { payload } : {}),
  })
  return { status: response.statusCode, headers: response.headers, body: response.json(), raw: response.body }
}

const history = (start: string, end: string, bucketSize = '1 day') =>
  `{ locationHistoryAggregated(trackerId: "${trackerId}", startTime: "${start}", endTime: "${end}", bucketSize: "${bucketSize}") { id } }`

describe('DateTime values PostgreSQL cannot store', () => {
  it('year 0000 in a history query is BAD_USER_INPUT naming the argument, not a failed statement', async () => {
    const response = await api.gql(history('0000-01-01T00:00:00Z', '2025-01-01T00:00:00Z'))
    expectRefused(response, 'BAD_USER_INPUT')
    expect(response.body.errors![0]!.message).toMatch(/^startTime: DateTime must be between 0001-01-01/)
    expect(response.body.errors![0]!.extensions.argument).toBe('startTime')
    expect(api.logs.lines.filter((l) => l.level === 50)).toEqual([])
  })

  it('as a variable, the error names the variable', async () => {
    const response = await api.gql(
      `query ($from: DateTime!) { locationHistoryAggregated(trackerId: "${trackerId}", startTime: $from, endTime: "0001-01-02T00:00:00Z", bucketSize: "1 day") { id } }`,
      { variables: { from: '0000-12-31T00:00:00Z' } },
    )
    expectRefused(response, 'BAD_USER_INPUT')
    expect(response.body.errors![0]!.message).toMatch(/^Variable "\$from" got invalid value/)
  })

  it('the bounds are the instants, in UTC: an offset cannot carry a value out of them', () => {
    expect(() => parseDateTime('0001-01-01T00:30:00+01:00')).toThrow(/between 0001-01-01/)
    expect(() => parseDateTime('0000-06-01T00:00:00Z')).toThrow(/between 0001-01-01/)
    expect(parseDateTime('0001-01-01T00:00:00Z').toISOString()).toBe('0001-01-01T00:00:00.000Z')
    expect(parseDateTime('9999-12-31T23:59:59Z').toISOString()).toBe('9999-12-31T23:59:59.000Z')
    expect(() => parseDateTime('9999-12-31T23:59:59-01:00')).toThrow(/between 0001-01-01/)
  })

  it('the extremes that are storable are answered', async () => {
    for (const [from, to, bucketSize] of [
      ['0001-01-01T00:00:00Z', '0001-01-02T00:00:00Z', '1 hour'],
      ['9999-12-30T00:00:00Z', '9999-12-31T23:59:59Z', '1 hour'],
      ['9999-12-01T00:00:00Z', '9999-12-31T23:59:59Z', '1 day'],
    ] as const) {
      const response = await api.gql(history(from, to, bucketSize))
      expect(response.status, response.raw).toBe(200)
      expect(response.body).toEqual({ data: { locationHistoryAggregated: [] } })
    }
  })

  it('a refresh window at the end of 9999 (widened to whole buckets: year 10000) is answered', async () => {
    const response = await api.gql(
      `mutation { refreshLocationHistoryAggregates(trackerId: "${trackerId}", startTime: "9999-12-30T00:00:00Z", endTime: "9999-12-31T23:59:59Z") }`,
    )
    expect(response.body).toEqual({ data: { refreshLocationHistoryAggregates: true } })
    const ending = await api.gql(
      `mutation { refreshLocationHistoryAggregates(trackerId: "${trackerId}", startTime: "${new Date(Date.now() - 3_600_000).toISOString()}", endTime: "9999-12-31T23:59:59Z") }`,
      {},
    )
    // Longer than API_REFRESH_MAX_WINDOW: refused for that, not failed.
    expectRefused(ending, 'BAD_USER_INPUT', 200)
  })
})

describe('cursors are checked before they reach SQL', () => {
  const id = '00000000-0000-4000-8000-000000000000'
  const key = Buffer.alloc(32, 1).toString('base64')
  const forged = [
    ['year 0000', '0000-01-01T00:00:00Z'],
    ['February 30', '2025-02-30T00:00:00Z'],
    ['hour 24', '2025-01-01T24:00:00Z'],
  ] as const

  for (const [what, time] of forged) {
    it(`a time of ${what}: BAD_USER_INPUT on every list`, async () => {
      const queries = [
        `{ trackers(after: "${encodeCursor([time, id])}") { nodes { id } } }`,
        `{ importRuns(after: "${encodeCursor([time, id])}") { nodes { id } } }`,
        `{ locationReports(trackerId: "${trackerId}", after: "${encodeCursor([time, key])}") { nodes { timestamp } } }`,
        `{ locationHistoryAggregated(trackerId: "${trackerId}", startTime: "2025-01-01T00:00:00Z", endTime: "2025-01-02T00:00:00Z", bucketSize: "1 day", after: "${encodeCursor([time, 0])}") { id } }`,
      ]
      for (const query of queries) {
        const response = await api.gql(query)
        expect(codes(response), query).toEqual(['BAD_USER_INPUT'])
        expect(response.body.errors![0]!.message).toMatch(/after is not a cursor this API returned/)
      }
    })
  }

  it("a report cursor's key must be a hashed key (a NUL in it once failed the statement)", async () => {
    const withNul = encodeCursor(['2025-01-01T00:00:00.000000Z', `${'A'.repeat(42)}\u0000=`])
    const response = await api.gql(
      `{ locationReports(trackerId: "${trackerId}", after: "${withNul}") { nodes { timestamp } } }`,
    )
    expect(codes(response)).toEqual(['BAD_USER_INPUT'])
  })

  it('cursorTime keeps what the API returns', () => {
    expect(cursorTime('2025-01-01T00:00:00.123456Z')).toBe('2025-01-01T00:00:00.123456Z')
    expect(cursorTime('2024-02-29T23:59:59Z')).toBe('2024-02-29T23:59:59Z')
    expect(() => cursorTime('2025-02-29T00:00:00Z')).toThrow(/not a cursor/)
  })
})

describe('strings PostgreSQL cannot store', () => {
  it('a NUL character in a literal or a variable is BAD_USER_INPUT, before anything runs', async () => {
    const literal = await api.gql(`mutation { renameTracker(id: "${trackerId}", name: "a\\u0000b") { id } }`)
    expectRefused(literal, 'BAD_USER_INPUT')
    expect(literal.body.errors![0]!.extensions.argument).toBe('name')
    const variable = await api.gql(
      'mutation ($id: ID!, $name: String!) { renameTracker(id: $id, name: $name) { id } }',
      { variables: { id: trackerId, name: 'a\u0000b' } },
    )
    expectRefused(variable, 'BAD_USER_INPUT')
    const key = await api.gql(
      `mutation { removeTrackerKey(trackerId: "${trackerId}", hashedAdvKey: "\\u0000") { id } }`,
    )
    expectRefused(key, 'BAD_USER_INPUT')
  })
})

describe('operations and variables', () => {
  const twoOperations = 'query A { a: __typename } query B { b: __typename }'

  it('a required variable not provided is BAD_USER_INPUT, however often the query was seen', async () => {
    const query = 'query Needs($id: ID!) { tracker(id: $id) { id } }'
    // The first runs warm Mercurius' parse cache and JIT compiler; the later ones take those paths.
    expect((await post({ query, variables: { id: trackerId } })).status).toBe(200)
    expect((await post({ query, variables: { id: trackerId } })).status).toBe(200)
    for (let i = 0; i < 3; i++) {
      const response = await post({ query })
      expectRefused(response, 'BAD_USER_INPUT')
      expect(response.body.errors![0]!.message).toMatch(
        /Variable "\$id" of required type "ID!" was not provided/,
      )
    }
  })

  it('two operations without operationName: 400 BAD_REQUEST, by POST or GET, with or without variables', async () => {
    for (const payload of [{ query: twoOperations }, { query: twoOperations, variables: {} }]) {
      const response = await post(payload)
      expectRefused(response, 'BAD_REQUEST')
      expect(response.body.errors![0]!.message).toMatch(/operation/)
    }
    expectRefused(await post({ query: twoOperations }, 'GET'), 'BAD_REQUEST')
  })

  it('an unknown operationName: 400 BAD_REQUEST, and never the answer of another operation', async () => {
    // Run A until Mercurius compiled the document, then ask for one it does not have.
    for (let i = 0; i < 3; i++) {
      expect((await post({ query: twoOperations, operationName: 'A' })).body).toEqual({
        data: { a: 'Query' },
      })
    }
    expect((await post({ query: twoOperations, operationName: 'B' })).body).toEqual({ data: { b: 'Query' } })
    for (const method of ['POST', 'GET'] as const) {
      const response = await post({ query: twoOperations, operationName: 'Z' }, method)
      expectRefused(response, 'BAD_REQUEST')
      expect(response.body.errors![0]!.message).toBe('operationName "Z" names no operation of the document')
    }
    expectRefused(await post({ query: twoOperations, operationName: 'Z', variables: {} }), 'BAD_REQUEST')
  })
})

describe('validation costs stay linear', () => {
  it('fragments spreading the next one twice, a hundred deep, are validated at once (not 2^100 walks)', async () => {
    const depth = 100
    const fragments = Array.from(
      { length: depth },
      (_, i) => `fragment F${i} on Query { ${i === depth - 1 ? '__typename' : `...F${i + 1} ...F${i + 1}`} }`,
    ).join(' ')
    const started = Date.now()
    const response = await api.gql(`{ ...F0 } ${fragments}`)
    expect(response.body).toEqual({ data: { __typename: 'Query' } })
    expect(Date.now() - started).toBeLessThan(5_000)
  })
})

describe('found by the request fuzzer', () => {
  it('GET variables that are JSON but not an object: 400 BAD_REQUEST, also once the query is compiled', async () => {
    const query = '{ __typename }'
    for (let i = 0; i < 3; i++) expect((await post({ query }, 'GET')).status).toBe(200)
    for (const variables of ['"x"', '[1]', '5', 'true']) {
      const response = await post({ query, variables }, 'GET')
      expectRefused(response, 'BAD_REQUEST')
      expect(response.body.errors![0]!.message).toMatch(/variables must be a JSON object/)
    }
  })
})
