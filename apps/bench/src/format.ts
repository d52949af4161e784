/** How numbers read in the table. */

export function formatNumber(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return String(value)
  const abs = Math.abs(value)
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US')
  if (abs === 0) return '0'
  // Three significant digits below 1000: 12.3, 1.23, 0.0123.
  return Number(value.toPrecision(digits)).toString()
}

export const rate = (value: number, unit: string): string => `${formatNumber(value)} ${unit}`

export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms)
  if (ms < 1000) return `${formatNumber(ms)} ms`
  if (ms < 120_000) return `${formatNumber(ms / 1000)} s`
  return `${formatNumber(ms / 60_000)} min`
}

export function formatRatio(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '—'
  if (value >= 100) return String(Math.round(value))
  return String(Number(value.toPrecision(value < 0.01 ? 2 : 3)))
}

export const mb = (value: number): string => `${formatNumber(value)} MB`
