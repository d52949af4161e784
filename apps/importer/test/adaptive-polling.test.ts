import { createTrackerWithKeys, HOUR_MS } from '@tracker/db'
import { createTestDatabase, type TestDatabase } from '@tracker/db/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SimulatedClock, simulatePolling } from '../src/polling/poll-simulation.ts'
import { importFixture, silent } from './fixtures.ts'

let scheduled: TestDatabase
let adaptive: TestDatabase
beforeAll(async () => {
  ;[scheduled, adaptive] = await Promise.all([createTestDatabase(), createTestDatabase()])
})
afterAll(async () => {
  await scheduled?.close()
  await adaptive?.close()
})

const MINUTE = 60_000
const BUDGET = 6

describe('adaptive polling against the simulator keeping only the latest 16 reports per key', () => {
  it('recovers reports a 6-hourly poll loses, never exceeding the request budget', async () => {
    const end = Math.floor((Date.now() - HOUR_MS) / MINUTE) * MINUTE
    const start = end - 2 * 24 * HOUR_MS
    // One simulated clock per run; the simulator follows the one of the run polling it.
    const clocks = {
      schedule: new SimulatedClock(new Date(start)),
      adaptive: new SimulatedClock(new Date(start)),
    }
    let clock = clocks.schedule
    const fixture = await importFixture(scheduled, {
      trackers: 5,
      keysPerTracker: 1,
      simulator: {
        reportsPerDay: 96,
        gaps: false,
        latestPerKey: 16,
        ignoreDays: true,
        now: () => clock.now(),
      },
    })
    // The same trackers and keys in the second database.
    await adaptive.db.updateTable('trackers').set({ is_active: false }).execute()
    const adaptiveIds: string[] = []
    for (const tracker of fixture.trackers) {
      const created = await createTrackerWithKeys(adaptive.db, fixture.opener, {
        name: tracker.name,
        keys: tracker.keys.map((k) => ({ hashedAdvKey: k.hashedAdvKey, privateKey: k.privateKey })),
      })
      adaptiveIds.push(created.id)
    }
    const until = new Date(end)
    const common = { opener: fixture.opener, endpointUrl: fixture.simulator.url, until, logger: silent }

    const sixHourly = await simulatePolling({
      ...common,
      database: scheduled,
      clock,
      plan: { kind: 'schedule', everyMs: 6 * HOUR_MS },
    })
    const requestsAfterSchedule = fixture.simulator.requests.length
    expect(requestsAfterSchedule).toBe(sixHourly.requests)

    clock = clocks.adaptive
    const polled = await simulatePolling({
      ...common,
      database: adaptive,
      clock,
      plan: {
        kind: 'adaptive',
        budgetPerHour: BUDGET,
        bounds: { minMs: 15 * MINUTE, maxMs: 6 * HOUR_MS },
        initialIntervalMs: HOUR_MS,
      },
    })
    expect(fixture.simulator.requests.length - requestsAfterSchedule).toBe(polled.requests)
    // The budget is a hard ceiling, counted at the simulator too.
    expect(polled.maxRequestsInAnHour).toBeLessThanOrEqual(BUDGET)

    // What a poll after every report would capture: every report made in the period.
    const truth = fixture.simulator.network
      .visibleReports({ now: until, days: 7 })
      .filter((r) => r.timestamp.getTime() >= start && r.timestamp.getTime() <= end)
    const captured = async (db: TestDatabase) => {
      const rows = await db.db
        .selectFrom('location_reports')
        .select(['hashed_adv_key', 'timestamp'])
        .where('timestamp', '>=', new Date(start))
        .where('timestamp', '<=', new Date(end))
        .execute()
      const stored = new Set(rows.map((r) => `${r.hashed_adv_key}|${r.timestamp.getTime()}`))
      return truth.filter((r) => stored.has(`${r.hashedAdvKey}|${r.timestamp.getTime()}`)).length
    }
    const bySchedule = await captured(scheduled)
    const byAdaptive = await captured(adaptive)
    expect(truth.length).toBeGreaterThan(5 * 96 * 1.9)
    // The 6-hourly poll sees 16 of the 24 reports each key makes in 6 hours.
    expect(bySchedule / truth.length).toBeLessThan(0.75)
    expect(byAdaptive / truth.length).toBeGreaterThanOrEqual(0.9)
    expect(byAdaptive).toBeGreaterThan(bySchedule)
  })
})
