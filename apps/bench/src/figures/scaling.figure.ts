import { sql } from '@tracker/db'
import type { BenchContext } from '../context.ts'
import { duration, formatNumber } from '../format.ts'
import type { FigureResult, FigureRow } from '../results.ts'
import type { ScaleSettings } from '../scales.ts'
import { median, ratio, round } from '../stats.ts'
import { FRESHNESS_TARGET_MS, freshnessAt, freshnessRow, type StageFreshness } from './freshness.figure.ts'
import type { HistoryStage } from './freshness.ts'

/** The size the target is set for. */
export const TARGET_TRACKERS = 10_000

export interface SizeResult extends StageFreshness {
  /** Median REFRESH MATERIALIZED VIEW CONCURRENTLY location_history (each after one inserted report). */
  refreshMs: number
  /** The bare baseline: location_history_view's rows computed and written once, no diff. */
  bareViewMs: number
  bareViewRuns: number[]
  /** The worse of recent and late, refresher path. */
  freshnessP95Ms: number
  durationS: number
}

export interface SkippedSize {
  trackers: number
  reason: string
}

/** (b / a) per tenfold step between sizes a and b. */
export function growthPer10x(a: number, b: number, sizeA: number, sizeB: number): number | null {
  const r = ratio(b, a)
  const steps = Math.log10(sizeB / sizeA)
  return r === null || steps <= 0 ? null : r ** (1 / steps)
}

/** CREATE TEMP TABLE AS SELECT * FROM location_history_view: what a refresh computes, without the diff. */
async function timeBareView(stage: HistoryStage, runs: number): Promise<number[]> {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const ms = await stage.bench.database.withSession(async (session) => {
      const t0 = performance.now()
      await sql`CREATE TEMP TABLE bench_view_copy AS SELECT * FROM location_history_view`.execute(session)
      const elapsed = performance.now() - t0
      await sql`DROP TABLE bench_view_copy`.execute(session)
      return elapsed
    })
    times.push(round(ms))
  }
  return times
}

/**
 * Figure 5. How the location_history refresh and freshness grow with the history: 100, 1 000 and
 * 10 000 trackers with a year of daily and a day of hourly history each, a fresh database per size.
 */
export async function scalingFigure(
  ctx: BenchContext,
  settings: ScaleSettings['scaling'],
): Promise<FigureResult> {
  const started = performance.now()
  const measured: SizeResult[] = []
  const skipped: SkippedSize[] = []
  for (const trackers of settings.sizes) {
    const samples = settings.samples[trackers] ?? 1
    const estimate = estimateSeconds(measured, trackers, samples)
    const elapsed = (performance.now() - started) / 1000
    if (settings.budgetS !== null && estimate !== null && elapsed + estimate > settings.budgetS) {
      const reason = `estimated ${duration(estimate * 1000)} (from the smaller sizes) does not fit this scale's ${duration(settings.budgetS * 1000)} budget; run --scale large`
      ctx.progress(`scaling: ${formatNumber(trackers)} trackers skipped: ${reason}`)
      skipped.push({ trackers, reason })
      continue
    }
    ctx.progress(
      `scaling: ${formatNumber(trackers)} trackers with a year of history (${samples} sample(s) per kind and path)`,
    )
    const t0 = performance.now()
    try {
      const result = await freshnessAt(ctx, trackers, samples, async (stage) => ({
        bareViewRuns: await timeBareView(stage, trackers >= 10_000 ? 1 : 2),
      }))
      const { extra, ...stage } = result
      const bareViewRuns = extra.bareViewRuns as number[]
      measured.push({
        ...stage,
        refreshMs: round(median(result.locationHistoryRefreshMs)),
        bareViewMs: round(median(bareViewRuns)),
        bareViewRuns,
        freshnessP95Ms: Math.max(result.stats.refresher.recent.p95Ms, result.stats.refresher.late.p95Ms),
        durationS: round((performance.now() - t0) / 1000),
      })
    } catch (error) {
      // The embedded engine is 32-bit WebAssembly: a large history can exhaust its memory.
      const reason = `${(error as Error).message}`.slice(0, 300)
      ctx.progress(`scaling: ${formatNumber(trackers)} trackers failed: ${reason}`)
      skipped.push({ trackers, reason: `failed: ${reason}` })
    }
  }

  const rows: FigureRow[] = []
  let previous: SizeResult | undefined
  for (const size of measured) {
    const refreshGrowth = previous
      ? growthPer10x(previous.refreshMs, size.refreshMs, previous.trackers, size.trackers)
      : null
    const freshGrowth = previous
      ? growthPer10x(previous.freshnessP95Ms, size.freshnessP95Ms, previous.trackers, size.trackers)
      : null
    const per10x = (g: number | null) => (g === null ? '' : `; x${formatNumber(g)} per 10x trackers`)
    rows.push({
      id: `scaling.${size.trackers}.refresh`,
      label: `location_history refresh, ${formatNumber(size.trackers)} trackers (${formatNumber(size.locationHistoryRows)} rows)`,
      measured: {
        value: size.refreshMs,
        unit: 'ms',
        text: `${duration(size.refreshMs)} (median of ${size.locationHistoryRefreshMs.length})`,
      },
      baseline: {
        label: 'the view computed and written once (CREATE TEMP TABLE AS), no diff',
        value: size.bareViewMs,
        unit: 'ms',
        text: duration(size.bareViewMs),
      },
      ratio: ratio(size.refreshMs, size.bareViewMs),
      target: null,
      verdict: 'info',
      note: `REFRESH MATERIALIZED VIEW CONCURRENTLY, timed directly${per10x(refreshGrowth)}`,
    })
    const late = size.stats.refresher.late.p95Ms >= size.stats.refresher.recent.p95Ms
    const row = freshnessRow(
      `scaling.${size.trackers}.freshness`,
      `freshness p95 (worse of recent and late: ${late ? 'late' : 'recent'}), ${formatNumber(size.trackers)} trackers`,
      size.stats.refresher[late ? 'late' : 'recent'],
      size.stats.direct[late ? 'late' : 'recent'],
      size.trackers >= TARGET_TRACKERS,
    )
    row.note = `${late ? 'recent' : 'late'}: ${duration(size.stats.refresher[late ? 'recent' : 'late'].p95Ms)}${per10x(freshGrowth)}`
    rows.push(row)
    previous = size
  }
  for (const skip of skipped) {
    rows.push({
      id: `scaling.${skip.trackers}`,
      label: `${formatNumber(skip.trackers)} trackers`,
      measured: null,
      baseline: null,
      ratio: null,
      target: null,
      verdict: 'not measured',
      note: skip.reason,
    })
  }
  rows.push(targetRow(measured))
  return {
    name: 'scaling',
    title: 'Scaling',
    status: skipped.length === 0 ? 'measured' : measured.length > 0 ? 'partial' : 'not measured',
    ...(skipped.length > 0 ? { reason: skipped.map((s) => `${s.trackers}: ${s.reason}`).join('; ') } : {}),
    durationS: (performance.now() - started) / 1000,
    rows,
    raw: {
      settings,
      sizes: measured.map(({ samples: _samples, ...size }) => size),
      samples: Object.fromEntries(measured.map((m) => [m.trackers, m.samples])),
      skipped,
      growthPer10x: measured.slice(1).map((size, i) => ({
        from: measured[i]!.trackers,
        to: size.trackers,
        refresh: growthPer10x(measured[i]!.refreshMs, size.refreshMs, measured[i]!.trackers, size.trackers),
        freshnessP95: growthPer10x(
          measured[i]!.freshnessP95Ms,
          size.freshnessP95Ms,
          measured[i]!.trackers,
          size.trackers,
        ),
      })),
    },
    notes: [
      'Each size: a fresh database, 365 daily + 24 hourly reports per tracker (and one in the current hour) generated in SQL, the hourly aggregate refreshed over 48 hours and the daily one over the year (before any retention job), location_history filled once; then freshness as in the freshness figure, and every direct REFRESH MATERIALIZED VIEW CONCURRENTLY timed.',
    ],
  }
}

/** The target as its own row: met, not met, or not measured (with an extrapolation, labelled). */
function targetRow(measured: SizeResult[]): FigureRow {
  const label = `target: freshness p95 < ${duration(FRESHNESS_TARGET_MS)} at ${formatNumber(TARGET_TRACKERS)} trackers, a year of history`
  const atTarget = measured.find((m) => m.trackers === TARGET_TRACKERS)
  if (atTarget) {
    const met = atTarget.freshnessP95Ms < FRESHNESS_TARGET_MS
    return {
      id: 'scaling.target',
      label,
      measured: {
        value: atTarget.freshnessP95Ms,
        unit: 'ms',
        text: `p95 ${duration(atTarget.freshnessP95Ms)}`,
      },
      baseline: {
        label: 'one location_history refresh, timed directly',
        value: atTarget.refreshMs,
        unit: 'ms',
        text: duration(atTarget.refreshMs),
      },
      ratio: ratio(atTarget.freshnessP95Ms, atTarget.refreshMs),
      target: `p95 < ${duration(FRESHNESS_TARGET_MS)}`,
      verdict: met ? 'met' : 'not met',
      note: met
        ? undefined
        : `a full REFRESH MATERIALIZED VIEW CONCURRENTLY alone takes ${duration(atTarget.refreshMs)} at this size: the design cannot meet the target`,
    }
  }
  const last = measured.at(-1)
  const before = measured.at(-2)
  let note = 'no size measured'
  if (last) {
    const g = before ? growthPer10x(before.refreshMs, last.refreshMs, before.trackers, last.trackers) : null
    const steps = Math.log10(TARGET_TRACKERS / last.trackers)
    const refreshAtTarget = g !== null ? last.refreshMs * g ** steps : null
    note =
      refreshAtTarget !== null
        ? `not measured at this scale; extrapolated from ${formatNumber(before!.trackers)} -> ${formatNumber(last.trackers)} trackers, one refresh alone would take about ${duration(refreshAtTarget)} at ${formatNumber(TARGET_TRACKERS)} (an extrapolation, not a measurement)`
        : `not measured at this scale (largest measured: ${formatNumber(last.trackers)} trackers, p95 ${duration(last.freshnessP95Ms)})`
  }
  return {
    id: 'scaling.target',
    label,
    measured: null,
    baseline: null,
    ratio: null,
    target: `p95 < ${duration(FRESHNESS_TARGET_MS)}`,
    verdict: 'not measured',
    note,
  }
}

/**
 * Seconds a size would take, from the last measured one: seeding and materializing grow with the
 * reports (linearly), each refresh by the growth seen so far (linear if only one size is known).
 */
function estimateSeconds(measured: SizeResult[], trackers: number, samples: number): number | null {
  const last = measured.at(-1)
  if (!last) return null
  const before = measured.at(-2)
  const scale = trackers / last.trackers
  const g = before ? growthPer10x(before.refreshMs, last.refreshMs, before.trackers, last.trackers) : null
  const refreshScale = g !== null ? g ** Math.log10(scale) : scale
  const setupS =
    (last.setup.seedMs + last.setup.hourlyMs + last.setup.dailyMs + last.setup.locationHistoryMs) / 1000
  // Four refreshes per sample (recent and late, direct and refresher), one catch-up, a priming or two.
  const refreshes = 4 * samples + 3
  return setupS * scale + (last.refreshMs / 1000) * refreshScale * refreshes
}
