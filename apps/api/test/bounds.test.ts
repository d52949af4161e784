import { insertTracker, reportRow } from '@tracker/db/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApi, DAY, dayStart, rebuildHistory, type TestApi } from './helpers.ts'

// Small limits so each bound can be crossed with a little data.
let api: TestApi
let trackerId: string
const now = Date.now()
const iso = (t: number) => new Date(t).toISOString()

beforeAll(async () => {
  api = await createTestApi({
    env: { API_HISTORY_MAX_POINTS: '5', API_PAGE_SIZE_DEFAULT: '2', API_PAGE_SIZE_MAX: '3' },
  })
  const tracker = await insertTracker(api.database.db)
  trackerId = tracker.id
  await api.database.db
    .insertInto('location_reports')
    .values(
      Array.from({ length: 8 }, (_, i) =>
        reportRow(tracker.hashedAdvKeys[0]!, new Date(dayStart(now) - (i + 2) * DAY + 3_600_000)),
      ),
    )
    .execute()
  await rebuildHistory(api)
  for (let i = 0; i < 4; i++) await insertTracker(api.database.db)
})
afterAll(() => api?.close())

const historyQuery = (args: string) =>
  `{ locationHistoryAggregated(trackerId: "${trackerId}", ${args}) { timestamp } }`
const codes = (body: { errors?: { extensions: { code: string } }[] }) =>
  body.errors?.map((e) => e.extensions.code)

describe('history results are capped', () => {
  const range = `startTime: "${iso(now - 20 * DAY)}", endTime: "${iso(now)}", bucketSize: "1 day"`

  it('at API_HISTORY_MAX_POINTS, with extensions.truncated saying where to go on', async () => {
    const first = await api.gql(historyQuery(range))
    expect(first.body.data!.locationHistoryAggregated).toHaveLength(5)
    const truncated = first.body.extensions!.truncated as {
      path: string[]
      limit: number
      endCursor: string
    }[]
    expect(truncated).toEqual([
      { path: ['locationHistoryAggregated'], limit: 5, endCursor: expect.any(String) },
    ])

    const rest = await api.gql(historyQuery(`${range}, after: "${truncated[0]!.endCursor}"`))
    expect(rest.body.data!.locationHistoryAggregated).toHaveLength(3)
    expect(rest.body.extensions).toBeUndefined()
    const all = [
      ...(first.body.data!.locationHistoryAggregated as { timestamp: string }[]),
      ...(rest.body.data!.locationHistoryAggregated as { timestamp: string }[]),
    ].map((p) => p.timestamp)
    expect(new Set(all).size).toBe(8)
    expect([...all].sort()).toEqual(all)
  })

  it('locationHistoryPage says truncated and gives a cursor', async () => {
    const response = await api.gql(
      `{ locationHistoryPage(trackerId: "${trackerId}", ${range}, limit: 3) { points { timestamp } truncated limit pageInfo { hasNextPage endCursor } } }`,
    )
    expect(response.body.data!.locationHistoryPage).toMatchObject({
      truncated: true,
      limit: 3,
      pageInfo: { hasNextPage: true, endCursor: expect.any(String) },
    })
    const whole = await api.gql(
      `{ locationHistoryPage(trackerId: "${trackerId}", startTime: "${iso(now - 4 * DAY)}", endTime: "${iso(now)}", bucketSize: "1 day") { points { timestamp } truncated } }`,
    )
    expect(whole.body.data!.locationHistoryPage).toMatchObject({ truncated: false })
  })

  it('a limit above the cap (or below 1) is refused', async () => {
    expect(codes((await api.gql(historyQuery(`${range}, limit: 6`))).body)).toEqual(['BAD_USER_INPUT'])
    expect(codes((await api.gql(historyQuery(`${range}, limit: 0`))).body)).toEqual(['BAD_USER_INPUT'])
  })
})

describe('time ranges are capped per bucket size', () => {
  it('"1 hour": at most 31 days', async () => {
    const ok = await api.gql(
      historyQuery(
        `startTime: "2026-01-01T00:00:00Z", endTime: "2026-02-01T00:00:00Z", bucketSize: "1 hour"`,
      ),
    )
    expect(ok.body.errors).toBeUndefined()
    const tooLong = await api.gql(
      historyQuery(
        `startTime: "2026-01-01T00:00:00Z", endTime: "2026-02-01T00:00:01Z", bucketSize: "1 hour"`,
      ),
    )
    expect(codes(tooLong.body)).toEqual(['BAD_USER_INPUT'])
    expect(tooLong.body.errors![0]!.message).toMatch(/at most 31 days/)
  })

  it('"1 day": at most 1096 days', async () => {
    const ok = await api.gql(
      historyQuery(`startTime: "2023-01-01T00:00:00Z", endTime: "2026-01-01T00:00:00Z", bucketSize: "1 day"`),
    )
    expect(ok.body.errors).toBeUndefined()
    const tooLong = await api.gql(
      historyQuery(`startTime: "2022-01-01T00:00:00Z", endTime: "2026-01-01T00:00:00Z", bucketSize: "1 day"`),
    )
    expect(codes(tooLong.body)).toEqual(['BAD_USER_INPUT'])
  })

  it('a refresh window longer than API_REFRESH_MAX_WINDOW is refused', async () => {
    const response = await api.gql(
      `mutation { refreshLocationHistoryAggregates(trackerId: "${trackerId}", startTime: "2025-01-01T00:00:00Z", endTime: "2025-03-01T00:00:00Z") }`,
    )
    expect(codes(response.body)).toEqual(['BAD_USER_INPUT'])
    expect(response.body.errors![0]!.message).toMatch(/at most 31 days/)
  })
})

describe('pages are capped', () => {
  it('trackers: API_PAGE_SIZE_DEFAULT by default, never more than API_PAGE_SIZE_MAX, every tracker once across pages', async () => {
    const seen: string[] = []
    let after: string | null = null
    for (;;) {
      const page: { nodes: { id: string }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } =
        (
          await api.gql(
            `{ trackers${after ? `(after: "${after}")` : ''} { nodes { id } pageInfo { hasNextPage endCursor } } }`,
          )
        ).body.data!.trackers as never
      expect(page.nodes.length).toBeLessThanOrEqual(2)
      seen.push(...page.nodes.map((n) => n.id))
      if (!page.pageInfo.hasNextPage) break
      after = page.pageInfo.endCursor
    }
    expect(seen).toHaveLength(5)
    expect(new Set(seen).size).toBe(5)
    expect(codes((await api.gql('{ trackers(first: 4) { nodes { id } } }')).body)).toEqual(['BAD_USER_INPUT'])
    expect(codes((await api.gql('{ importRuns(first: 4) { nodes { id } } }')).body)).toEqual([
      'BAD_USER_INPUT',
    ])
    expect(
      codes(
        (await api.gql(`{ locationReports(trackerId: "${trackerId}", first: 4) { nodes { timestamp } } }`))
          .body,
      ),
    ).toEqual(['BAD_USER_INPUT'])
  })
})

describe('query shape limits', () => {
  it('a query nested deeper than API_MAX_QUERY_DEPTH is refused before it runs', async () => {
    const shallow = await createTestApi({ database: api.database, env: { API_MAX_QUERY_DEPTH: '3' } })
    try {
      const ok = await shallow.gql(`{ trackers { nodes { lastLocation { latitude } } } }`, {
        token: shallow.readToken,
      })
      expect(codes(ok.body)).toEqual(['QUERY_TOO_DEEP'])
      expect(ok.status).toBe(400)
      const fine = await shallow.gql(`{ trackers { nodes { id } } }`, { token: shallow.readToken })
      expect(fine.body.errors).toBeUndefined()
      // Fragments count where they are spread.
      const viaFragment = await shallow.gql(
        `query { trackers { ...T } } fragment T on TrackerConnection { nodes { keys { hashedAdvKey } } }`,
        { token: shallow.readToken },
      )
      expect(codes(viaFragment.body)).toEqual(['QUERY_TOO_DEEP'])
    } finally {
      await shallow.app.close()
    }
  })

  it('a query over API_MAX_QUERY_COMPLEXITY (e.g. many aliased history queries) is refused', async () => {
    const full = await createTestApi({ database: api.database })
    try {
      const one = (alias: string) =>
        `${alias}: locationHistoryAggregated(trackerId: "${trackerId}", startTime: "${iso(now - DAY)}", endTime: "${iso(now)}", bucketSize: "1 day") { id timestamp location { latitude longitude } nearestCity tracker { id name currentStatus } }`
      const three = await full.gql(`{ ${one('a')} ${one('b')} ${one('c')} }`)
      expect(three.body.errors).toBeUndefined()
      const five = await full.gql(`{ ${['a', 'b', 'c', 'd', 'e'].map(one).join(' ')} }`)
      expect(codes(five.body)).toEqual(['QUERY_TOO_COMPLEX'])
      // Each costs 1 + 500 x 10, and 1000 as a root field (a database query of its own).
      expect(five.body.errors![0]!.extensions).toMatchObject({ complexity: 30005, maxComplexity: 20000 })
      // A smaller limit lowers the cost: the same five with limit: 10 each pass.
      const limited = await full.gql(
        `{ ${['a', 'b', 'c', 'd', 'e'].map(one).join(' ').replaceAll('bucketSize: "1 day"', 'bucketSize: "1 day", limit: 10')} }`,
      )
      expect(limited.body.errors).toBeUndefined()
    } finally {
      await full.app.close()
    }
  })

  it('50 aliases of locationHistoryAggregated(limit: 1) are refused before anything runs, naming the limit', async () => {
    const full = await createTestApi({ database: api.database })
    try {
      const aliases = (n: number) =>
        `query ($t: ID!, $s: DateTime!, $e: DateTime!) { ${Array.from(
          { length: n },
          (_, i) =>
            `h${i}: locationHistoryAggregated(trackerId: $t, startTime: $s, endTime: $e, bucketSize: "1 day", limit: 1) { id }`,
        ).join(' ')} }`
      const variables = { t: trackerId, s: iso(now - 20 * DAY), e: iso(now) }
      const fifty = await full.gql(aliases(50), { variables })
      expect(fifty.status).toBe(400)
      expect(fifty.body.data).toBeNull()
      expect(codes(fifty.body)).toEqual(['TOO_MANY_ROOT_FIELDS', 'QUERY_TOO_COMPLEX'])
      expect(fifty.body.errors![0]).toMatchObject({
        message: expect.stringMatching(
          /^The operation asks for 50 root fields; at most 10 are allowed \(API_MAX_ROOT_FIELDS: .*\): split it into several requests$/,
        ),
        extensions: { code: 'TOO_MANY_ROOT_FIELDS', rootFields: 50, maxRootFields: 10 },
      })
      // Each alias costs a database query (1000) besides its 1 + 1 x 1: the cost alone refuses them
      // too, whatever API_MAX_ROOT_FIELDS says (they cost 2 each before: some 80 fitted).
      expect(fifty.body.errors![1]!.extensions).toMatchObject({ complexity: 50 * 1002, maxComplexity: 20000 })
      expect(fifty.body.errors![1]!.message).toMatch(/API_MAX_QUERY_COMPLEXITY/)

      const ten = await full.gql(aliases(10), { variables })
      expect(ten.body.errors).toBeUndefined()
      expect(Object.keys(ten.body.data!)).toHaveLength(10)
      expect(codes((await full.gql(aliases(11), { variables })).body)).toEqual(['TOO_MANY_ROOT_FIELDS'])
    } finally {
      await full.app.close()
    }
  })

  it('API_MAX_ROOT_FIELDS counts response keys, through fragments; __typename is free', async () => {
    const three = await createTestApi({ database: api.database, env: { API_MAX_ROOT_FIELDS: '3' } })
    try {
      const ok = await three.gql(
        '{ __typename a: trackers { pageInfo { hasNextPage } } b: trackers { pageInfo { hasNextPage } } ...F } fragment F on Query { c: trackers { pageInfo { hasNextPage } } a: trackers { pageInfo { hasNextPage } } }',
      )
      expect(ok.body.errors).toBeUndefined()
      const over = await three.gql(
        '{ a: trackers { pageInfo { hasNextPage } } ...F ... on Query { d: importRuns { pageInfo { hasNextPage } } } } fragment F on Query { b: trackers { pageInfo { hasNextPage } } c: trackers { pageInfo { hasNextPage } } }',
      )
      expect(over.status).toBe(400)
      expect(over.body.errors).toEqual([
        expect.objectContaining({
          extensions: { code: 'TOO_MANY_ROOT_FIELDS', rootFields: 4, maxRootFields: 3 },
        }),
      ])
      // Mutations too: four renames in one request.
      const renames = await three.gql(
        `mutation { ${[1, 2, 3, 4].map((i) => `r${i}: renameTracker(id: "${trackerId}", name: "n${i}") { id }`).join(' ')} }`,
      )
      expect(codes(renames.body)).toEqual(['TOO_MANY_ROOT_FIELDS'])
      expect(
        (
          await api.database.db
            .selectFrom('trackers')
            .select('name')
            .where('id', '=', trackerId)
            .executeTakeFirst()
        )?.name,
      ).not.toMatch(/^n\d$/)
    } finally {
      await three.app.close()
    }
  })

  it('aliases of a field that queries per tracker cost a query each, under one root field', async () => {
    const full = await createTestApi({ database: api.database })
    try {
      const polls = (n: number) =>
        `{ tracker(id: "${trackerId}") { ${Array.from({ length: n }, (_, i) => `p${i}: polling { intervalSeconds }`).join(' ')} } }`
      expect((await full.gql(polls(5))).body.errors).toBeUndefined()
      const many = await full.gql(polls(30))
      expect(codes(many.body)).toEqual(['QUERY_TOO_COMPLEX'])
      // The root field 1000 + 1, each alias 1000 + 1 + 1.
      expect(many.body.errors![0]!.extensions).toMatchObject({ complexity: 1001 + 30 * 1002 })
    } finally {
      await full.app.close()
    }
  })

  it('a document with more than API_MAX_QUERY_TOKENS tokens is not even parsed', async () => {
    const response = await api.gql(
      `{ ${Array.from({ length: 1100 }, (_, i) => `a${i}: __typename`).join(' ')} }`,
    )
    expect(codes(response.body)).toEqual(['GRAPHQL_PARSE_FAILED'])
  })

  it('a body larger than API_BODY_LIMIT_BYTES is refused with 413', async () => {
    const small = await createTestApi({ database: api.database, env: { API_BODY_LIMIT_BYTES: '2048' } })
    try {
      const response = await small.gql(`{ __typename } # ${'x'.repeat(3000)}`)
      expect(response.status).toBe(413)
      expect(codes(response.body)).toEqual(['BAD_REQUEST'])
    } finally {
      await small.app.close()
    }
  })
})

describe('rate limiting per token', () => {
  it('answers 429 RATE_LIMITED past API_RATE_LIMIT_MAX in the window; other tokens are not affected', async () => {
    const limited = await createTestApi({
      database: api.database,
      env: { API_RATE_LIMIT_MAX: '3', API_RATE_LIMIT_WINDOW: '1 min' },
    })
    try {
      for (let i = 0; i < 3; i++) expect((await limited.gql('{ __typename }')).status).toBe(200)
      const refused = await limited.gql('{ __typename }')
      expect(refused.status).toBe(429)
      expect(codes(refused.body)).toEqual(['RATE_LIMITED'])
      expect(refused.headers['retry-after']).toBeDefined()
      expect((await limited.gql('{ __typename }', { token: limited.readToken })).status).toBe(200)
    } finally {
      await limited.app.close()
    }
  })
})
