import { percentile } from '../stats.ts'

export interface InProcessLoadResult {
  opsPerS: number
  latencyMs: { p50: number; p90: number; p99: number; mean: number; max: number }
  ops: number
  errors: number
  firstError?: string
  durationS: number
}

/**
 * `concurrency` loops calling `fn` back to back for `durationS` seconds: the "same SQL alone"
 * baseline, with the same concurrency as the HTTP load.
 */
export async function runInProcessLoad(
  fn: () => Promise<unknown>,
  options: { concurrency: number; durationS: number },
): Promise<InProcessLoadResult> {
  const latencies: number[] = []
  let errors = 0
  let firstError: string | undefined
  const started = performance.now()
  const deadline = started + options.durationS * 1000
  const loop = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now()
      try {
        await fn()
        latencies.push(performance.now() - t0)
      } catch (error) {
        errors++
        firstError ??= (error as Error).message
      }
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, loop))
  const elapsed = performance.now() - started
  const mean = latencies.reduce((sum, l) => sum + l, 0) / Math.max(1, latencies.length)
  return {
    opsPerS: (latencies.length / elapsed) * 1000,
    latencyMs: {
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      mean,
      max: latencies.reduce((m, l) => Math.max(m, l), 0),
    },
    ops: latencies.length,
    errors,
    ...(firstError ? { firstError } : {}),
    durationS: elapsed / 1000,
  }
}
