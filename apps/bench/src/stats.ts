/** Small statistics for the figures: every figure reports medians of repeats and percentiles of samples. */

export function median(values: readonly number[]): number {
  return percentile(values, 50)
}

/** Nearest-rank percentile (p in 0..100) of the values; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!
}

export function ratio(measured: number, baseline: number): number | null {
  return Number.isFinite(measured) && Number.isFinite(baseline) && baseline !== 0 ? measured / baseline : null
}

/** Rounds to `digits` significant digits, for JSON that stays readable. */
export function round(value: number, digits = 4): number {
  if (!Number.isFinite(value) || value === 0) return value
  const magnitude = Math.floor(Math.log10(Math.abs(value)))
  const factor = 10 ** Math.max(0, digits - 1 - magnitude)
  return Math.round(value * factor) / factor
}

const MB = 1024 * 1024
export const toMb = (bytes: number): number => Math.round((bytes / MB) * 10) / 10
