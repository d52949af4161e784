import { recordCoverageGaps } from '@tracker/db'
import { insertTracker } from '@tracker/db/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApi, type TestApi } from './helpers.ts'

let api: TestApi
beforeAll(async () => {
  api = await createTestApi()
})
afterAll(() => api?.close())

const at = (hour: number) => new Date(Date.UTC(2026, 10, 20, hour))
const iso = (hour: number) => at(hour).toISOString()

interface GapNode {
  hashedAdvKey: string
  from: string
  to: string
  durationSeconds: number
}

describe('coverage gaps in GraphQL', () => {
  let tracker: Awaited<ReturnType<typeof insertTracker>>
  let other: Awaited<ReturnType<typeof insertTracker>>
  beforeAll(async () => {
    tracker = await insertTracker(api.database.db, { keys: 2 })
    other = await insertTracker(api.database.db)
    const gap = (trackerId: string, key: string, from: number, to: number) => ({
      tracker_id: trackerId,
      hashed_adv_key: key,
      gap_from: at(from),
      gap_to: at(to),
      reports_returned: 16,
      endpoint_limit: 16,
      import_run_id: null,
    })
    // Two keys of one tracker whose gaps overlap (10-14 and 12-16), and another tracker's.
    const recorded = await recordCoverageGaps(api.database.db, [
      gap(tracker.id, tracker.hashedAdvKeys[0]!, 10, 14),
      gap(tracker.id, tracker.hashedAdvKeys[1]!, 12, 16),
      gap(other.id, other.hashedAdvKeys[0]!, 0, 23),
    ])
    expect(recorded).toBe(3)
    // Found again (a second importer): kept once.
    expect(
      await recordCoverageGaps(api.database.db, [gap(tracker.id, tracker.hashedAdvKeys[0]!, 10, 14)]),
    ).toBe(0)
  })

  const query = (args: string) =>
    api.gql(`query($id: ID!) { tracker(id: $id) { ${args} } }`, { variables: { id: tracker.id } })

  it('tracker.coverageGaps lists the gaps overlapping the range, newest first, with why', async () => {
    const all = await query(
      'coverageGaps { hashedAdvKey from to durationSeconds reportsReturned endpointLimit }',
    )
    const gaps = (all.body.data!.tracker as { coverageGaps: GapNode[] }).coverageGaps
    expect(gaps).toEqual([
      {
        hashedAdvKey: tracker.hashedAdvKeys[1],
        from: iso(12),
        to: iso(16),
        durationSeconds: 4 * 3600,
        reportsReturned: 16,
        endpointLimit: 16,
      },
      {
        hashedAdvKey: tracker.hashedAdvKeys[0],
        from: iso(10),
        to: iso(14),
        durationSeconds: 4 * 3600,
        reportsReturned: 16,
        endpointLimit: 16,
      },
    ])
    const later = await query(`coverageGaps(from: "${iso(14)}", to: "${iso(20)}") { hashedAdvKey }`)
    expect(later.body.data).toEqual({
      tracker: { coverageGaps: [{ hashedAdvKey: tracker.hashedAdvKeys[1] }] },
    })
    const one = await query('coverageGaps(first: 1) { to }')
    expect(one.body.data).toEqual({ tracker: { coverageGaps: [{ to: iso(16) }] } })
  })

  it('tracker.coverage is the share of the range no gap covers (overlapping gaps counted once)', async () => {
    const day = await query(`coverage(from: "${iso(8)}", to: "${iso(20)}") { ratio missingSeconds gaps }`)
    expect(day.body.data).toEqual({
      tracker: { coverage: { ratio: 0.5, missingSeconds: 6 * 3600, gaps: 2 } },
    })
    const inside = await query(`coverage(from: "${iso(13)}", to: "${iso(15)}") { ratio missingSeconds gaps }`)
    expect(inside.body.data).toEqual({
      tracker: { coverage: { ratio: 0, missingSeconds: 2 * 3600, gaps: 2 } },
    })
    const clear = await query(`coverage(from: "${iso(17)}", to: "${iso(20)}") { ratio missingSeconds gaps }`)
    expect(clear.body.data).toEqual({ tracker: { coverage: { ratio: 1, missingSeconds: 0, gaps: 0 } } })
  })

  it('refuses a range that ends before it starts and a page size out of bounds, with BAD_USER_INPUT', async () => {
    for (const field of [
      `coverage(from: "${iso(20)}", to: "${iso(8)}") { ratio }`,
      `coverage(from: "${iso(8)}", to: "${iso(8)}") { ratio }`,
      `coverageGaps(from: "${iso(20)}", to: "${iso(8)}") { to }`,
      'coverageGaps(first: 0) { to }',
      'coverageGaps(first: 1001) { to }',
    ]) {
      const response = await query(field)
      expect(response.status, field).toBe(200)
      expect(response.body.errors?.[0]?.extensions.code, field).toBe('BAD_USER_INPUT')
    }
  })

  it("the import run's ledger says how many gaps it found", async () => {
    await api.database.db
      .insertInto('import_runs')
      .values({
        status: 'succeeded',
        trigger: 'schedule',
        owner: 'host:1',
        lookback_days: 7,
        rejected: '{}',
        source_errors: '[]',
        coverage_gaps: 2,
        max_reports_per_key: 16,
      })
      .execute()
    const runs = await api.gql('{ importRuns(first: 1) { nodes { coverageGaps maxReportsPerKey } } }')
    expect(runs.body.data).toEqual({ importRuns: { nodes: [{ coverageGaps: 2, maxReportsPerKey: 16 }] } })
  })
})

describe('the adaptive polling mode in GraphQL', () => {
  it("setTrackerPolling fixes a tracker's interval or hands it back to the cadence rule; bad values are refused", async () => {
    const tracker = await insertTracker(api.database.db)
    const read = () =>
      api.gql(
        'query($id: ID!) { tracker(id: $id) { polling { intervalSeconds fixedIntervalMinutes nextPollAt } } }',
        {
          variables: { id: tracker.id },
        },
      )
    expect((await read()).body.data).toEqual({ tracker: { polling: null } })
    const set = (minutes: number | null) =>
      api.gql('mutation($id: ID!, $m: Int) { setTrackerPolling(id: $id, pollEveryMinutes: $m) { id } }', {
        variables: { id: tracker.id, m: minutes },
        token: api.writeToken,
      })
    const before = Date.now()
    expect((await set(30)).body.data).toEqual({ setTrackerPolling: { id: tracker.id } })
    const fixed = (await read()).body.data!.tracker as {
      polling: { intervalSeconds: number; fixedIntervalMinutes: number | null; nextPollAt: string }
    }
    expect(fixed.polling).toMatchObject({ intervalSeconds: 1800, fixedIntervalMinutes: 30 })
    expect(Date.parse(fixed.polling.nextPollAt)).toBeLessThanOrEqual(before + 31 * 60_000)
    await set(null)
    expect(
      ((await read()).body.data!.tracker as { polling: { fixedIntervalMinutes: null } }).polling,
    ).toMatchObject({
      fixedIntervalMinutes: null,
    })
    for (const bad of [0, -5, 7 * 24 * 60 + 1]) {
      const response = await set(bad)
      expect(response.body.errors?.[0]?.extensions.code, String(bad)).toBe('BAD_USER_INPUT')
    }
    // A read token may not change it.
    const denied = await api.gql(
      'mutation($id: ID!) { setTrackerPolling(id: $id, pollEveryMinutes: 60) { id } }',
      {
        variables: { id: tracker.id },
        token: api.readToken,
      },
    )
    expect(denied.body.errors?.[0]?.extensions.code).toBe('FORBIDDEN')
    const missing = await api.gql(
      'mutation { setTrackerPolling(id: "00000000-0000-4000-8000-000000000000", pollEveryMinutes: 60) { id } }',
      { token: api.writeToken },
    )
    expect(missing.body.errors?.[0]?.extensions.code).toBe('NOT_FOUND')
  })
})
