import { describe, expect, it } from 'vitest'
import { retryDelayMs } from './retry-backoff.ts'

const policy = { initialMs: 1000, maxMs: 60_000 }

describe('retryDelayMs', () => {
  it('doubles per attempt with equal jitter: between half and all of initial · 2^(n−1)', () => {
    expect(retryDelayMs(policy, 1, undefined, () => 0)).toBe(500)
    expect(retryDelayMs(policy, 1, undefined, () => 1)).toBe(1000)
    expect(retryDelayMs(policy, 3, undefined, () => 0)).toBe(2000)
    expect(retryDelayMs(policy, 3, undefined, () => 1)).toBe(4000)
  })

  it('is capped at maxMs however many attempts', () => {
    expect(retryDelayMs(policy, 40, undefined, () => 1)).toBe(60_000)
    expect(retryDelayMs(policy, 40, undefined, () => 0)).toBe(30_000)
  })

  it('waits as long as Retry-After asks when that is longer, up to the cap', () => {
    expect(retryDelayMs(policy, 1, 20_000, () => 1)).toBe(20_000)
    expect(retryDelayMs(policy, 1, 10 * 3_600_000, () => 1)).toBe(60_000)
    expect(retryDelayMs(policy, 6, 100, () => 1)).toBe(32_000)
  })
})
