import { describe, expect, it } from 'vitest'
import { growthPer10x } from '../src/figures/scaling.figure.ts'
import { summarize } from '../src/rss-sampler.ts'
import { median, percentile } from '../src/stats.ts'

describe('statistics the figures rest on', () => {
  it('takes nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i)
    expect(percentile(values, 95)).toBe(95)
    expect(percentile(values, 50)).toBe(50)
    expect(median([3, 1, 2])).toBe(2)
    expect(percentile([7], 95)).toBe(7)
    expect(percentile([], 50)).toBeNaN()
  })

  it('normalizes growth to one tenfold step', () => {
    expect(growthPer10x(1, 10, 100, 1000)).toBeCloseTo(10)
    expect(growthPer10x(1, 100, 100, 10_000)).toBeCloseTo(10)
    expect(growthPer10x(0, 5, 100, 1000)).toBeNull()
  })

  it('measures memory growth between the first and the last quarter of a run', () => {
    const MB = 1024 * 1024
    const flat = summarize(Array.from({ length: 40 }, (_, i) => [i * 100, 500 * MB] as [number, number]))
    expect(flat.growthMb).toBe(0)
    const growing = summarize(
      Array.from({ length: 41 }, (_, i) => [i * 100, (500 + i) * MB] as [number, number]),
    )
    expect(growing.peakMb).toBe(540)
    expect(growing.growthMb).toBe(30)
    expect(growing.laterGrowthMb).toBe(20)
    expect(growing.series.length).toBeLessThanOrEqual(41)
    expect(growing.series.at(-1)).toEqual([4, 540])
  })
})
