import { describe, expect, it } from 'vitest'
import {
  DAY_MS,
  DEFAULT_RETENTION,
  HOUR_MS,
  RetentionConfigError,
  retentionConfigFromEnv,
  retentionConflicts,
  safeLateHorizonMs,
} from '../src/index.ts'

describe('the retention configuration', () => {
  it('defaults are consistent and keep every report the endpoint still serves (7 days)', () => {
    expect(retentionConflicts(DEFAULT_RETENTION)).toEqual([])
    expect(DEFAULT_RETENTION.rawRetentionMs).toBeGreaterThanOrEqual(8 * DAY_MS)
    expect(safeLateHorizonMs(DEFAULT_RETENTION)).toBeGreaterThanOrEqual(7 * DAY_MS)
  })

  it("rejects the seed's numbers (raw kept 2 days, daily refreshed over 7) and says which values conflict", () => {
    expect(() => retentionConfigFromEnv({ RAW_RETENTION: '2 days' })).toThrow(RetentionConfigError)
    try {
      retentionConfigFromEnv({ RAW_RETENTION: '2 days' })
    } catch (error) {
      const conflicts = (error as RetentionConfigError).conflicts
      expect(
        conflicts.some(
          (c) => c.includes('DAILY_REFRESH_WINDOW=7 days') && c.includes('RAW_RETENTION=2 days'),
        ),
      ).toBe(true)
      expect(
        conflicts.some(
          (c) => c.includes('HOURLY_REFRESH_WINDOW=2 days') && c.includes('RAW_RETENTION=2 days'),
        ),
      ).toBe(true)
    }
  })

  it('requires a margin of one raw chunk plus one bucket', () => {
    // 7 days + 1 day chunk + 1 day bucket = 9 days: exactly enough, one hour less is not.
    expect(retentionConflicts({ ...DEFAULT_RETENTION, rawRetentionMs: 9 * DAY_MS })).toEqual([])
    expect(retentionConflicts({ ...DEFAULT_RETENTION, rawRetentionMs: 9 * DAY_MS - HOUR_MS })).toHaveLength(1)
    // A 3-day raw chunk: 7 + 3 + 1 = 11 days > 10.
    expect(retentionConflicts({ ...DEFAULT_RETENTION, rawChunkIntervalMs: 3 * DAY_MS })).toHaveLength(1)
  })

  it('keeps the hourly aggregate at least as long as its refresh window (the hourly tier reaches back that far)', () => {
    expect(retentionConflicts({ ...DEFAULT_RETENTION, hourlyRetentionMs: 24 * HOUR_MS })).toEqual([
      expect.stringMatching(/HOURLY_RETENTION=1 day is shorter than HOURLY_REFRESH_WINDOW=2 days/),
    ])
  })

  it('names the variable of a malformed duration', () => {
    expect(() => retentionConfigFromEnv({ DAILY_RETENTION: 'forever' })).toThrow(
      /DAILY_RETENTION: "forever" is not a duration/,
    )
  })
})
