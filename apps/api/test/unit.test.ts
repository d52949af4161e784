import { readFileSync } from 'node:fs'
import { buildSchema, parse, validate } from 'graphql'
import { describe, expect, it } from 'vitest'
import { GENERATED_FILE, generateSchemaTypes } from '../scripts/codegen.ts'
import { ApiConfigError, parseApiEnv } from '../src/env.ts'
import { parseDateTime } from '../src/graphql/scalars.ts'
import { typeDefs } from '../src/graphql/schema.ts'
import { complexityLimitRule, depthLimitRule, rootFieldLimitRule } from '../src/graphql/validation-rules.ts'
import { trackerStatus } from '../src/services/tracker-status.ts'

describe('schema.generated.ts', () => {
  it('is what `pnpm codegen` generates from schema.graphql today (regenerate when this fails)', async () => {
    expect(readFileSync(GENERATED_FILE, 'utf8')).toBe(await generateSchemaTypes())
  })
})

describe('DateTime', () => {
  it('accepts ISO 8601 with a zone and returns the instant', () => {
    expect(parseDateTime('2025-01-01T00:00:00Z').toISOString()).toBe('2025-01-01T00:00:00.000Z')
    expect(parseDateTime('2025-01-01T01:30:00+01:30').toISOString()).toBe('2025-01-01T00:00:00.000Z')
    expect(parseDateTime('2025-01-01T00:00:00.123456-0200').toISOString()).toBe('2025-01-01T02:00:00.123Z')
    expect(parseDateTime('2024-02-29T23:59:59Z').toISOString()).toBe('2024-02-29T23:59:59.000Z')
  })

  it.each([
    '2025-01-01T00:00:00',
    '2025-01-01',
    '2025-02-29T00:00:00Z',
    '2025-04-31T00:00:00Z',
    '2025-01-01T24:00:00Z',
    '2025-01-01T00:00:60Z',
    '2025-01-01T00:00:00+25:00',
    'Wed, 01 Jan 2025 00:00:00 GMT',
    '',
  ])('refuses %j with BAD_USER_INPUT', (value) => {
    expect(() => parseDateTime(value)).toThrow(
      expect.objectContaining({ extensions: { code: 'BAD_USER_INPUT' } }),
    )
  })
})

describe('currentStatus', () => {
  const thresholds = { activeWithinMs: 24 * 3_600_000, lostAfterMs: 7 * 86_400_000 }
  const now = new Date('2026-06-01T12:00:00Z')
  const ago = (ms: number) => new Date(now.getTime() - ms)
  it.each([
    [{ isActive: true, lastSeenAt: ago(0) }, 'ACTIVE'],
    [{ isActive: true, lastSeenAt: ago(thresholds.activeWithinMs) }, 'ACTIVE'],
    [{ isActive: true, lastSeenAt: ago(thresholds.activeWithinMs + 1) }, 'STALE'],
    [{ isActive: true, lastSeenAt: ago(thresholds.lostAfterMs) }, 'STALE'],
    [{ isActive: true, lastSeenAt: ago(thresholds.lostAfterMs + 1) }, 'LOST'],
    [{ isActive: true, lastSeenAt: null }, 'LOST'],
    [{ isActive: false, lastSeenAt: ago(0) }, 'INACTIVE'],
  ])('%o is %s', (tracker, status) => {
    expect(trackerStatus(tracker, now, thresholds)).toBe(status)
  })
})

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = parseApiEnv({ KEY_SEALING_PUBLIC_KEY: `${'k'.repeat(43)}=` })
    expect(config).toMatchObject({
      port: 4000,
      graphiql: false,
      history: { maxPoints: 500, maxRangeHourlyMs: 31 * 86_400_000, maxRangeDailyMs: 1096 * 86_400_000 },
      pagination: { defaultPageSize: 50, maxPageSize: 100 },
      rateLimit: { max: 600, windowMs: 60_000 },
      refresh: {
        maxWindowMs: 31 * 86_400_000,
        lockWaitMs: 60_000,
        acceptTimeoutMs: 5_000,
        timeoutMs: 300_000,
      },
    })
    expect(config.databaseEnv).toMatchObject({ API_DB_POOL_SIZE: 10, API_DB_STATEMENT_TIMEOUT_MS: 30_000 })
  })

  it('names every bad variable and what it should be', () => {
    let error: unknown
    try {
      parseApiEnv({
        API_DB_POOL_SIZE: 'ten',
        API_HISTORY_MAX_RANGE_DAILY: 'forever',
        API_GRAPHIQL: 'maybe',
        API_PAGE_SIZE_DEFAULT: '200',
        RAW_RETENTION: '2 days',
      })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ApiConfigError)
    const message = (error as Error).message
    expect(message).toMatch(/KEY_SEALING_PUBLIC_KEY must be set/)
    expect(message).toMatch(/API_DB_POOL_SIZE must be a whole number/)
    expect(message).toMatch(/API_HISTORY_MAX_RANGE_DAILY: "[^"]*" is not a duration/)
    expect(message).toMatch(/API_GRAPHIQL must be true or false/)
    expect(message).toMatch(/RAW_RETENTION/)
  })

  it('refuses a refresh lock wait as long as the whole refresh may take', () => {
    expect(() =>
      parseApiEnv({
        KEY_SEALING_PUBLIC_KEY: `${'k'.repeat(43)}=`,
        API_REFRESH_LOCK_WAIT: '2 min',
        API_REFRESH_TIMEOUT: '2 min',
      }),
    ).toThrow(/API_REFRESH_LOCK_WAIT must be shorter than API_REFRESH_TIMEOUT/)
  })
})

describe('validation rules', () => {
  const schema = buildSchema(typeDefs)
  const rules = [
    depthLimitRule(8),
    complexityLimitRule({
      maxComplexity: 5001,
      defaultListSize: (f) => (f.name.startsWith('locationHistory') ? 500 : 50),
      maxListSize: (f) => (f.name.startsWith('locationHistory') ? 500 : 100),
      assumedListSize: 10,
    }),
  ]
  const errorsOf = (query: string) => validate(schema, parse(query), rules).map((e) => e.extensions.code)

  it("the seed's query costs 1 + 500 x 10 fields = 5001", () => {
    const seed = `query { locationHistoryAggregated(trackerId: "1", startTime: "2025-01-01T00:00:00Z", endTime: "2025-01-31T23:59:59Z", bucketSize: "1 day") {
      id timestamp location { latitude longitude } nearestCity tracker { id name currentStatus } } }`
    expect(errorsOf(seed)).toEqual([])
    expect(errorsOf(seed.replace('nearestCity', 'nearestCity accuracy'))).toEqual(['QUERY_TOO_COMPLEX'])
  })

  it('counts variables as the largest size, connection nodes once, unsized lists as 10', () => {
    // 1 + 100 x (nodes 1 + keys (1 + 10 x 1) + id 1) = 1301 with $n; 1 + 5 x 13 = 66 with 5.
    const q = (first: string) =>
      `query ($n: Int) { trackers(first: ${first}) { nodes { keys { hashedAdvKey } id } } }`
    const withLimit = (max: number, query: string) =>
      validate(schema, parse(query), [
        complexityLimitRule({
          maxComplexity: max,
          defaultListSize: () => 50,
          maxListSize: () => 100,
          assumedListSize: 10,
        }),
      ]).length
    expect(withLimit(1301, q('$n'))).toBe(0)
    expect(withLimit(1300, q('$n'))).toBe(1)
    expect(withLimit(66, q('5'))).toBe(0)
    expect(withLimit(65, q('5'))).toBe(1)
  })

  it('root fields: one per response key, through fragments (a fan-out bomb or a cycle stays cheap)', () => {
    const count = (query: string, max = 3) =>
      validate(schema, parse(query), [rootFieldLimitRule(max)]).map((e) => e.extensions.rootFields)
    expect(count('{ a: trackers { nodes { id } } b: trackers { nodes { id } } __typename }', 1)).toEqual([2])
    expect(count('{ trackers { nodes { id } } trackers { nodes { name } } }', 1)).toEqual([])
    const bomb = `{ ...F0 } ${Array.from({ length: 150 }, (_, i) =>
      i === 149
        ? `fragment F${i} on Query { a: importRuns { nodes { id } } b: apiTokens { id } c: trackers { nodes { id } } d: tracker(id: "x") { id } }`
        : `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`,
    ).join(' ')}`
    const started = performance.now()
    expect(count(bomb)).toEqual([4])
    expect(performance.now() - started).toBeLessThan(1000)
    expect(
      count('{ ...A } fragment A on Query { x: apiTokens { id } ...B } fragment B on Query { ...A }'),
    ).toEqual([])
  })

  it('a database field costs databaseFieldCost more, each alias again, times its lists', () => {
    const cost = (query: string) =>
      validate(schema, parse(query), [
        complexityLimitRule({
          maxComplexity: 0,
          defaultListSize: () => 50,
          maxListSize: () => 100,
          assumedListSize: 10,
          databaseFieldCost: 1000,
          isDatabaseField: (parent, field) => parent.name === 'Query' || field.name === 'polling',
        }),
      ]).map((e) => e.extensions.complexity)
    expect(cost('{ a: apiTokens { id } b: apiTokens { id } }')).toEqual([2 * (1001 + 10)])
    // 1001 for the root, then 5 trackers x (nodes 1 + polling 1001 + its field 1).
    expect(cost('{ trackers(first: 5) { nodes { polling { intervalSeconds } } } }')).toEqual([
      1001 + 5 * (1 + 1001 + 1),
    ])
  })

  it('introspection is neither too deep nor too complex', () => {
    expect(
      errorsOf(
        '{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } }',
      ),
    ).toEqual([])
  })
})
