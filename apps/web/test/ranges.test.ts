import { describe, expect, it } from 'vitest'
import { customRange, historyRequests, localMidnight, presetRange } from '../src/history/ranges.ts'

const DAY = 86_400_000

describe('history ranges', () => {
  it('asks one "1 hour" request for a range that fits the hourly limit', () => {
    const range = presetRange('30d', new Date('2026-12-06T17:00:00Z'))
    expect(historyRequests('t', range)).toEqual([
      {
        trackerId: 't',
        startTime: '2026-11-06T17:00:00.000Z',
        endTime: '2026-12-06T17:00:00.000Z',
        bucketSize: '1 hour',
      },
    ])
  })

  it('splits a year at a UTC midnight: daily before, "1 hour" for the last 30 days', () => {
    const now = new Date('2026-12-06T17:00:00Z')
    const [daily, hourly] = historyRequests('t', presetRange('1y', now))
    expect(daily).toMatchObject({
      bucketSize: '1 day',
      startTime: '2025-12-06T17:00:00.000Z',
      endTime: '2026-11-06T00:00:00.000Z',
    })
    expect(hourly).toMatchObject({
      bucketSize: '1 hour',
      startTime: '2026-11-06T00:00:00.000Z',
      endTime: now.toISOString(),
    })
    // Within the API's limit for "1 hour" (31 days), touching without overlap.
    expect(Date.parse(hourly!.endTime) - Date.parse(hourly!.startTime)).toBeLessThanOrEqual(31 * DAY)
  })

  it("reads custom dates in the browser's zone, both days included", () => {
    const range = customRange('2026-03-28', '2026-03-29')
    if (typeof range === 'string') throw new Error(range)
    expect(range.from).toEqual(new Date(2026, 2, 28))
    expect(range.to).toEqual(new Date(2026, 2, 30))
  })

  it('explains custom dates it cannot use', () => {
    expect(customRange('', '2026-01-01')).toBe('Choose a start date.')
    expect(customRange('2026-01-02', '2026-01-01')).toBe('The end date must not be before the start date.')
    expect(customRange('2020-01-01', '2026-01-01')).toMatch(/at most 1096 days/)
    expect(localMidnight('2026-02-31x')).toBeNull()
  })
})
