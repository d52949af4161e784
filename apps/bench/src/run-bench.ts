import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { withBenchDatabase } from './bench-database.ts'
import { type BenchContext, createContext } from './context.ts'
import type { BenchEnv } from './env.ts'
import { apiFigure } from './figures/api.figure.ts'
import { decryptFigure } from './figures/decrypt.figure.ts'
import { exportFigure } from './figures/export.figure.ts'
import { fetchingFigure } from './figures/fetching.figure.ts'
import { freshnessFigure } from './figures/freshness.figure.ts'
import { importFigure } from './figures/import.figure.ts'
import { liveFigure } from './figures/live.figure.ts'
import { mqttFigure } from './figures/mqtt.figure.ts'
import { scalingFigure } from './figures/scaling.figure.ts'
import { webFigure } from './figures/web.figure.ts'
import { formatNumber } from './format.ts'
import { commitFacts, engineFacts, loadAverage, machineFacts, versions } from './machine.ts'
import { type BenchReport, FIGURE_NAMES, type FigureName, type FigureResult, type Scale } from './results.ts'
import { SCALE_SETTINGS, type ScaleSettings } from './scales.ts'

export interface BenchOptions {
  scale: Scale
  /** Overrides the scale's settings (the tests run tiny ones). */
  settings?: ScaleSettings
  /** Only these figures (default: all, in the order). */
  only?: FigureName[] | null
  /** Where the JSON goes; null: nowhere. Default: apps/bench/results/latest-<scale>[-<only>].json. */
  out?: string | null
  env: BenchEnv
  /** No progress lines on stderr. */
  quiet?: boolean
}

const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'results')

export function defaultOutFile(scale: Scale, only?: readonly FigureName[] | null): string {
  const suffix = only && only.length > 0 ? `-${only.join('-')}` : ''
  return join(RESULTS_DIR, `latest-${scale}${suffix}.json`)
}

type FigureRunner = (ctx: BenchContext, settings: ScaleSettings) => Promise<FigureResult>

const FIGURES: Record<FigureName, FigureRunner> = {
  import: (ctx, s) => importFigure(ctx, s.import),
  decrypt: (ctx, s) => decryptFigure(ctx, s.decrypt),
  api: (ctx, s) => apiFigure(ctx, s.api),
  freshness: (ctx, s) => freshnessFigure(ctx, s.freshness),
  scaling: (ctx, s) => scalingFigure(ctx, s.scaling),
  fetching: (ctx, s) => fetchingFigure(ctx, s.fetching),
  web: (ctx, s) => webFigure(ctx, s.web),
  export: (ctx, s) => exportFigure(ctx, s.export),
  mqtt: (ctx, s) => mqttFigure(ctx, s.mqtt),
  live: (ctx, s) => liveFigure(ctx, s.live),
}

const TITLES: Record<FigureName, string> = {
  import: 'Import',
  decrypt: 'Decrypt',
  api: 'API',
  freshness: 'Freshness',
  scaling: 'Scaling',
  fetching: 'Fetching',
  web: 'Web app',
  export: 'Export',
  mqtt: 'MQTT bridge',
  live: 'Live updates',
}

/**
 * Runs the figures one after another, each on fresh databases, and returns the report (written to
 * `out` as JSON). A figure that cannot run (say, the embedded engine out of memory) is recorded as
 * not measured, with the reason, and the next one runs.
 */
export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const ctx = createContext(options.env, { quiet: options.quiet ?? false })
  const settings = options.settings ?? SCALE_SETTINGS[options.scale]
  const startedAt = new Date()
  const machine = machineFacts()
  const report: BenchReport = {
    tool: '@tracker/bench',
    startedAt: startedAt.toISOString(),
    finishedAt: startedAt.toISOString(),
    durationS: 0,
    scale: options.scale,
    only: options.only ?? null,
    commit: commitFacts(),
    machine,
    engine: null,
    versions: versions(),
    figures: [],
  }
  const mode = options.env.databaseUrl ? 'postgres' : 'embedded'
  report.engine = await withBenchDatabase(options.env, {}, (bench) =>
    engineFacts(bench.database.db, mode, options.env.databaseUrl),
  )
  ctx.progress(
    `scale ${options.scale}, ${report.engine.mode} engine (TimescaleDB ${report.engine.timescaledb})`,
  )
  for (const name of FIGURE_NAMES) {
    if (options.only && options.only.length > 0 && !options.only.includes(name)) continue
    const t0 = performance.now()
    try {
      report.figures.push(await FIGURES[name](ctx, settings))
    } catch (error) {
      const reason = (error as Error).message?.slice(0, 500) ?? String(error)
      ctx.progress(`${name}: not measured: ${reason}`)
      report.figures.push({
        name,
        title: TITLES[name],
        status: 'not measured',
        reason,
        durationS: (performance.now() - t0) / 1000,
        rows: [],
        raw: { error: (error as Error).stack ?? reason },
        notes: [],
      })
    }
    ctx.progress(`${name}: done in ${Math.round((performance.now() - t0) / 1000)} s`)
  }
  crossReference(report.figures)
  const finishedAt = new Date()
  report.finishedAt = finishedAt.toISOString()
  report.durationS = Math.round((finishedAt.getTime() - startedAt.getTime()) / 100) / 10
  report.machine.loadAverageAtEnd = loadAverage()
  const out = options.out === undefined ? defaultOutFile(options.scale, options.only) : options.out
  if (out) {
    mkdirSync(dirname(out), { recursive: true })
    writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`)
  }
  return report
}

/** What one figure explains about another: the first import's ceiling is the decryption rate. */
function crossReference(figures: FigureResult[]): void {
  const row = (id: string) => figures.flatMap((f) => f.rows).find((r) => r.id === id)
  const first = row('import.first')
  const pool = row('decrypt.pool')
  if (first?.verdict === 'not met' && first.baseline && pool?.measured) {
    first.note = `${first.note ?? ''}; the worker pool alone decrypts ${pool.measured.text} here, while 0.5 of bare needs ${formatNumber(first.baseline.value / 2)} reports/s`
  }
}
