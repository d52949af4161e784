/** The shape of what the harness reports: figures made of rows, each a measurement beside its baseline. */

export const FIGURE_NAMES = [
  'import',
  'decrypt',
  'api',
  'freshness',
  'scaling',
  'fetching',
  'web',
  'export',
  'mqtt',
  'live',
] as const
export type FigureName = (typeof FIGURE_NAMES)[number]

export type Scale = 'small' | 'medium' | 'large'
export const SCALES: readonly Scale[] = ['small', 'medium', 'large']

/** met / not met against a target from the issues; info where the issue sets none. */
export type Verdict = 'met' | 'not met' | 'info' | 'not measured'

export interface Quantity {
  value: number
  unit: string
  /** How it reads in the table, e.g. "1,234 reports/s (p99 12 ms)". */
  text: string
}

export interface FigureRow {
  /** Stable id, e.g. "import.first". */
  id: string
  label: string
  measured: Quantity | null
  baseline: (Quantity & { label: string }) | null
  /** measured / baseline (for times: the slowdown; for rates: the share of the baseline reached). */
  ratio: number | null
  /** The target from the issues, e.g. ">= 0.5 of bare"; null where none is set. */
  target: string | null
  verdict: Verdict
  /** Why, in one sentence, when the verdict or the numbers need it. */
  note?: string
}

export interface FigureResult {
  name: FigureName
  title: string
  status: 'measured' | 'partial' | 'not measured'
  /** Why a figure (or part of it) was not measured. */
  reason?: string
  durationS: number
  rows: FigureRow[]
  /** Everything measured, for the JSON: every sample, every repeat. */
  raw: unknown
  notes: string[]
}

export interface MachineFacts {
  cpuModel: string
  cores: number
  memoryGb: number
  os: string
  node: string
  loadAverageAtStart: number[]
  loadAverageAtEnd?: number[]
}

export interface EngineFacts {
  mode: 'embedded' | 'postgres'
  postgres: string | null
  timescaledb: string | null
  /** The embedded engine's package, or the server (URL redacted). */
  detail: string
}

export interface BenchReport {
  tool: '@tracker/bench'
  startedAt: string
  finishedAt: string
  durationS: number
  scale: Scale
  only: FigureName[] | null
  commit: { sha: string | null; dirty: boolean | null }
  machine: MachineFacts
  engine: EngineFacts | null
  versions: Record<string, string | null>
  figures: FigureResult[]
}
