import { distanceMeters } from '@tracker/findmy'
import { describe, expect, it } from 'vitest'
import { nextPollInterval, type PollFeedback } from '../src/polling/poll-cadence.ts'
import { nextWake, planPolls } from '../src/polling/poll-planner.ts'
import { RequestBudget } from '../src/polling/request-budget.ts'

const MIN = 60_000
const HOUR = 60 * MIN
const bounds = { minMs: 15 * MIN, maxMs: 6 * HOUR }

describe('the adaptive cadence', () => {
  const poll = (over: Partial<PollFeedback>): PollFeedback => ({
    newReports: 4,
    maxNewPerKey: 4,
    fullAnswer: false,
    limit: 16,
    movedMeters: 0,
    ...over,
  })
  it('halves while answers come back full and doubles while silent, within bounds', () => {
    const full = poll({ newReports: 16, maxNewPerKey: 16, fullAnswer: true })
    const silent = poll({ newReports: 0, maxNewPerKey: 0, movedMeters: null })
    expect(nextPollInterval(2 * HOUR, full, bounds)).toBe(HOUR)
    expect(nextPollInterval(2 * HOUR, silent, bounds)).toBe(4 * HOUR)
    expect(nextPollInterval(20 * MIN, full, bounds)).toBe(15 * MIN)
    expect(nextPollInterval(5 * HOUR, silent, bounds)).toBe(6 * HOUR)
    let interval = 6 * HOUR
    for (let i = 0; i < 10; i++) interval = nextPollInterval(interval, full, bounds)
    expect(interval).toBe(15 * MIN)
    for (let i = 0; i < 10; i++) interval = nextPollInterval(interval, silent, bounds)
    expect(interval).toBe(6 * HOUR)
  })

  it('otherwise aims at 75% of the endpoint filling: sooner while moving, lengthening gradually while still', () => {
    // 4 new reports of a key in 1 hour: 16 fill in 4 hours; 75% of that is 3 hours.
    expect(nextPollInterval(HOUR, poll({ movedMeters: 10 }), bounds)).toBe(1.5 * HOUR)
    expect(nextPollInterval(2.5 * HOUR, poll({ maxNewPerKey: 10, movedMeters: 10 }), bounds)).toBe(3 * HOUR)
    // Moving: a quarter sooner than the fill time.
    expect(nextPollInterval(HOUR, poll({ movedMeters: 5_000 }), bounds)).toBe(2.25 * HOUR)
    // Still, after a slow hour: never past the fill time (8 new in 4 hours: 16 fill in 8, 75% = 6 h).
    expect(nextPollInterval(4 * HOUR, poll({ maxNewPerKey: 8, newReports: 8 }), bounds)).toBe(6 * HOUR)
    // Unknown limit: moving shortens by a quarter, still lengthens by half.
    expect(nextPollInterval(HOUR, poll({ limit: 0, movedMeters: 5_000 }), bounds)).toBe(0.75 * HOUR)
    expect(nextPollInterval(HOUR, poll({ limit: 0 }), bounds)).toBe(1.5 * HOUR)
  })

  it('measures movement in meters', () => {
    // One degree of latitude is about 111 km.
    expect(distanceMeters({ latitude: 52, longitude: 13 }, { latitude: 53, longitude: 13 })).toBeCloseTo(
      111_195,
      -2,
    )
    expect(distanceMeters({ latitude: 52, longitude: 13 }, { latitude: 52, longitude: 13 })).toBe(0)
  })
})

describe('the request budget', () => {
  it('is a hard ceiling over any sliding hour, and survives a restart through restore', () => {
    const budget = new RequestBudget(3)
    const t0 = new Date('2026-11-29T10:00:00Z')
    const at = (min: number) => new Date(t0.getTime() + min * MIN)
    expect(budget.take(at(0))).toBe(true)
    expect(budget.take(at(10))).toBe(true)
    expect(budget.take(at(20))).toBe(true)
    expect(budget.take(at(30))).toBe(false)
    expect(budget.available(at(59))).toBe(0)
    expect(budget.nextFreeAt(at(30))).toEqual(at(60))
    expect(budget.available(at(60))).toBe(1)
    const restarted = new RequestBudget(3)
    restarted.restore([at(10), at(20), at(60)])
    expect(restarted.available(at(61))).toBe(0)
    expect(restarted.available(at(70))).toBe(1)
    expect(() => new RequestBudget(0)).toThrow(/whole number/)
  })
})

describe('the poll planner', () => {
  const now = new Date('2026-11-29T10:00:00Z')
  const ago = (min: number) => new Date(now.getTime() - min * MIN)
  it('polls the due trackers, most overdue first, as many as the available requests allow', () => {
    const candidates = [
      { trackerId: 'a', keys: 1, nextPollAt: ago(5) },
      { trackerId: 'b', keys: 1, nextPollAt: ago(50) },
      { trackerId: 'c', keys: 4, nextPollAt: ago(20) },
      { trackerId: 'd', keys: 1, nextPollAt: ago(-10) },
      { trackerId: 'e', keys: 6, nextPollAt: ago(30) },
    ]
    // One request of 5 ids: b (1) and c (4) fit; e (6) would need a second.
    expect(planPolls(candidates, now, { available: 1, batchSize: 5 }).map((c) => c.trackerId)).toEqual([
      'b',
      'c',
    ])
    expect(planPolls(candidates, now, { available: 3, batchSize: 5 }).map((c) => c.trackerId)).toEqual([
      'b',
      'e',
      'c',
      'a',
    ])
    expect(planPolls(candidates, now, { available: 0, batchSize: 5 })).toEqual([])
    expect(nextWake(candidates)).toEqual(ago(50))
  })
})
