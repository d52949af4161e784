import { describe, expect, it } from 'vitest'
import { runLookupBenchmark } from '../bench/lookup.bench.ts'

// Keeps the benchmark runnable for the harness that will call it; no timing assertions (CI noise).
describe('runLookupBenchmark', () => {
  it('returns the numbers a harness needs', () => {
    const result = runLookupBenchmark({ count: 2_000 })
    expect(result.places).toBeGreaterThan(100_000)
    for (const scenario of [result.uniform, result.nearPlaces]) {
      expect(scenario.lookups).toBe(2_000)
      expect(scenario.lookupsPerSecond).toBeGreaterThan(0)
      expect(scenario.microsecondsPerLookup).toBeGreaterThan(0)
    }
    expect(result.nearPlaces.found).toBe(2_000)
    expect(result.uniform.found).toBeLessThan(2_000)
  })
})
