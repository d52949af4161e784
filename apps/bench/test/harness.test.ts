import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { testEnv } from '@tracker/db/testing'
import { afterAll, describe, expect, it } from 'vitest'
import {
  type BenchReport,
  FIGURE_NAMES,
  parseBenchEnv,
  renderMarkdown,
  renderTable,
  runBench,
  type ScaleSettings,
} from '../src/index.ts'

// Every figure at a size that only proves the harness works end to end: no timing is asserted.
const TINY: ScaleSettings = {
  import: { trackers: 1, reportsPerDay: 48, insertBatchSize: 100, rounds: 1 },
  decrypt: { count: 200, repeats: 1 },
  api: { connections: 2, durationS: 2, warmupS: 0, rounds: 1 },
  freshness: { trackers: 2, samples: 3 },
  scaling: { sizes: [10], samples: { 10: 1 }, changes: { 10: 1 }, fullRefreshes: { 10: 1 }, budgetS: null },
  fetching: { trackers: 3, days: 1, reportsPerDay: 48, latestPerKey: 8, budgetPerHour: 4 },
  web: { trackers: 2, rounds: 1 },
  export: {
    reports: { trackers: 3, perTracker: 20, days: 1 },
    history: { trackers: 2 },
    formats: ['csv', 'geojson', 'gpx', 'kml'],
    rounds: 1,
  },
  mqtt: { trackers: 2, samples: 3 },
  live: { trackers: 2, samples: 3, subscribers: 3 },
}

describe('the benchmark harness at a tiny size', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tracker-bench-test-'))
  const out = join(dir, 'report.json')
  let report: BenchReport
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  // Six fresh databases and the importer, refresher and API on them: minutes on a loaded 2-core machine.
  it('runs every figure and writes the report', { timeout: 300_000 }, async () => {
    report = await runBench({
      scale: 'small',
      settings: TINY,
      out,
      env: parseBenchEnv({ DATABASE_URL: testEnv.databaseUrl, LOG_LEVEL: 'silent' }),
      quiet: true,
    })
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(JSON.parse(JSON.stringify(report)))
    expect(report.machine.cores).toBeGreaterThan(0)
    expect(report.machine.node).toBe(process.version)
    expect(report.engine?.timescaledb).toMatch(/^\d+\.\d+/)
    expect(report.figures.map((f) => f.name)).toEqual([...FIGURE_NAMES])
  })

  it('gives every figure measured values beside their baselines', () => {
    for (const figure of report.figures) {
      expect({ figure: figure.name, status: figure.status, reason: figure.reason }).toEqual({
        figure: figure.name,
        status: 'measured',
        reason: undefined,
      })
      expect(figure.rows.length).toBeGreaterThan(0)
      for (const row of figure.rows) {
        // The 10 000-tracker target row says "not measured" at this size, by design.
        if (row.id === 'scaling.target') {
          expect(row.verdict).toBe('not measured')
          expect(row.note).toMatch(/not measured/)
          continue
        }
        expect(row.measured?.value, row.id).toSatisfy(Number.isFinite)
        expect(row.baseline?.value, row.id).toSatisfy(Number.isFinite)
        expect(row.ratio, row.id).toSatisfy(Number.isFinite)
      }
    }
  })

  it('stores what the importer stored and what the simulator served alike', () => {
    const raw = report.figures.find((f) => f.name === 'import')!.raw as {
      consistent: boolean
      rounds: {
        groundTruth: number
        first: { inserted: number }
        steady: { inserted: number; duplicates: number }
      }[]
    }
    const round = raw.rounds[0]!
    expect(raw.consistent).toBe(true)
    expect(round.groundTruth).toBeGreaterThan(100)
    expect(round.first.inserted).toBe(round.groundTruth)
    // The steady-state run finds every report stored and inserts nothing.
    expect(round.steady).toMatchObject({ inserted: 0, duplicates: round.groundTruth })
  })

  it('renders one table row per measurement, in text and in Markdown', () => {
    const rows = report.figures.flatMap((f) => f.rows)
    const markdown = renderMarkdown(report)
    const text = renderTable(report)
    const tableLines = markdown.split('\n').filter((line) => line.startsWith('| '))
    expect(tableLines[0]).toBe('| figure | measured | baseline | ratio | target / verdict |')
    expect(tableLines).toHaveLength(rows.length + 2)
    for (const row of rows) expect(text).toContain(row.label)
    expect(markdown).toContain(report.machine.cpuModel)
  })
})
