import type { BenchContext } from '../context.ts'
import { duration, formatNumber } from '../format.ts'
import type { FigureResult, FigureRow } from '../results.ts'
import type { ScaleSettings } from '../scales.ts'
import { ratio, round } from '../stats.ts'
import {
  FRESHNESS_TARGET_MS,
  freshnessAt,
  freshnessNote,
  freshnessRow,
  type StageFreshness,
} from './freshness.figure.ts'
import type { SampleKind } from './freshness.ts'
import { measureUpkeep, type UpkeepMeasurement } from './upkeep.ts'

/** The size the issue's freshness target is set for. */
export const TARGET_TRACKERS = 10_000
/** The issue's growth target: cost follows the change, not the history. */
export const GROWTH_TARGET = 1.5

export interface SizeResult extends StageFreshness {
  upkeep: UpkeepMeasurement
  /** The worse of recent and late, refresher path. */
  freshnessP95Ms: number
  /** Which kind that was. */
  freshnessKind: SampleKind
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

/**
 * Figure 5. How the upkeep of location_history and freshness grow with the history: 100, 1 000 and
 * 10 000 trackers with a year of daily and a day of hourly history each, a fresh database per size.
 * The upkeep's cost per change (one report, its notification's change applied) beside the old full
 * refresh of the same history, and freshness through the API with the real refresher; growth per
 * 10x trackers of both against the target (<= 1.5), freshness p95 < 2 s at 10 000 trackers.
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
    const changes = Math.max(1, settings.changes[trackers] ?? 3)
    const fullRefreshes = Math.max(1, Math.min(changes, settings.fullRefreshes[trackers] ?? 1))
    const estimate = estimateSeconds(measured, trackers, fullRefreshes)
    const elapsed = (performance.now() - started) / 1000
    if (settings.budgetS !== null && estimate !== null && elapsed + estimate > settings.budgetS) {
      const reason = `estimated ${duration(estimate * 1000)} (from the smaller sizes) does not fit this scale's ${duration(settings.budgetS * 1000)} budget; run --scale large`
      ctx.progress(`scaling: ${formatNumber(trackers)} trackers skipped: ${reason}`)
      skipped.push({ trackers, reason })
      continue
    }
    ctx.progress(
      `scaling: ${formatNumber(trackers)} trackers with a year of history (${changes} changes of each kind, ${fullRefreshes} full refresh(es), ${samples} freshness sample(s) per kind and path)`,
    )
    const t0 = performance.now()
    try {
      // On disk at every size (10 000 trackers do not fit in memory): sizes compare on the same storage.
      const result = await freshnessAt(ctx, trackers, samples, {
        storage: 'disk',
        extra: (stage) => measureUpkeep(ctx, stage, { changes, fullRefreshes }),
      })
      const { extra, ...stage } = result
      const late = stage.stats.refresher.late.p95Ms >= stage.stats.refresher.recent.p95Ms
      measured.push({
        ...stage,
        upkeep: extra!,
        freshnessP95Ms: late ? stage.stats.refresher.late.p95Ms : stage.stats.refresher.recent.p95Ms,
        freshnessKind: late ? 'late' : 'recent',
        durationS: round((performance.now() - t0) / 1000),
      })
      const u = extra!
      ctx.progress(
        `scaling: ${formatNumber(trackers)} trackers: upkeep ${duration(u.stats.recent.medianMs)} recent, ${duration(u.stats.late.medianMs)} late; full refresh ${duration(u.fullRefreshMedianMs)}; freshness p95 ${duration(measured.at(-1)!.freshnessP95Ms)}`,
      )
    } catch (error) {
      // The embedded engine is 32-bit WebAssembly: a large history can exhaust its memory.
      const reason = `${(error as Error).message}`.slice(0, 300)
      ctx.progress(`scaling: ${formatNumber(trackers)} trackers failed: ${reason}`)
      skipped.push({ trackers, reason: `failed: ${reason}` })
    }
  }

  const rows: FigureRow[] = []
  for (const size of measured) rows.push(...sizeRows(size))
  for (let i = 1; i < measured.length; i++) rows.push(...growthRows(measured[i - 1]!, measured[i]!))
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
  const last = measured.at(-1)
  return {
    name: 'scaling',
    title: 'Scaling',
    status: skipped.length === 0 ? 'measured' : measured.length > 0 ? 'partial' : 'not measured',
    ...(skipped.length > 0 ? { reason: skipped.map((s) => `${s.trackers}: ${s.reason}`).join('; ') } : {}),
    durationS: (performance.now() - started) / 1000,
    rows,
    raw: {
      settings,
      sizes: measured.map(({ samples: _samples, upkeep: { changes: _changes, ...upkeep }, ...size }) => ({
        ...size,
        upkeep,
      })),
      samples: Object.fromEntries(
        measured.map((m) => [m.trackers, { freshness: m.samples, upkeep: m.upkeep.changes }]),
      ),
      skipped,
      growthPer10x: measured.slice(1).map((size, i) => {
        const a = measured[i]!
        return {
          from: a.trackers,
          to: size.trackers,
          upkeepRecent: grow(a, size, (s) => s.upkeep.stats.recent.medianMs),
          upkeepLate: grow(a, size, (s) => s.upkeep.stats.late.medianMs),
          periodicRefresh: grow(a, size, (s) => s.upkeep.periodicRefresh.ms),
          fullRefresh: grow(a, size, (s) => s.upkeep.fullRefreshMedianMs),
          freshnessP95: grow(a, size, (s) => s.freshnessP95Ms),
          directP95: grow(a, size, (s) => s.stats.direct[s.freshnessKind].p95Ms),
        }
      }),
    },
    notes: [
      "Each size: a fresh database, 365 daily + 24 hourly reports per tracker (and one in the current hour) generated in SQL, the hourly aggregate refreshed over 48 hours and the daily one over the year in 30-day windows (before any retention job), location_history built by the history engine's first upkeep. Then the baseline view (CREATE MATERIALIZED VIEW bench_full_history AS SELECT * FROM location_history_view, with its unique index: the old location_history), the upkeep per change against its REFRESH MATERIALIZED VIEW CONCURRENTLY, the view dropped, and freshness as in the freshness figure.",
      "Upkeep of one change: one report of another tracker inserted (insertReports), the notification its insert trigger sent (that tracker, that hour) turned into a ChangeSet and applied by the bench's HistoryEngine (engine.applyChanges: location_history for that tracker and day, computed from that tracker's raw reports), wall time; recent = this hour (above the aggregates' watermarks), late = about 36 hours old (below them). No aggregate is refreshed per change: TimescaleDB's refresh of a bucket recomputes it for every tracker, so the late reports reach the aggregates at the periodic refresh (at most hourly, timed once after the round's changes).",
      ...(last ? [freshnessNote(last.trackers, last)] : []),
    ],
  }
}

const grow = (a: SizeResult, b: SizeResult, of: (s: SizeResult) => number) =>
  growthPer10x(of(a), of(b), a.trackers, b.trackers)

const FULL_REFRESH_LABEL = 'the old full refresh: REFRESH MATERIALIZED VIEW CONCURRENTLY of the same history'

function sizeRows(size: SizeResult): FigureRow[] {
  const { upkeep } = size
  const full = {
    label: FULL_REFRESH_LABEL,
    value: upkeep.fullRefreshMedianMs,
    unit: 'ms',
    text: `${duration(upkeep.fullRefreshMedianMs)} (median of ${upkeep.fullRefreshMs.length})`,
  }
  const upkeepRow = (kind: SampleKind): FigureRow => {
    const stats = upkeep.stats[kind]
    return {
      id: `scaling.${size.trackers}.upkeep.${kind}`,
      label: `upkeep of one change, ${kind === 'recent' ? 'recent' : 'late'} report, ${formatNumber(size.trackers)} trackers (${formatNumber(size.locationHistoryRows)} rows)`,
      measured: {
        value: stats.medianMs,
        unit: 'ms',
        text: `${duration(stats.medianMs)} (median of ${stats.n})`,
      },
      baseline: full,
      ratio: ratio(stats.medianMs, upkeep.fullRefreshMedianMs),
      target: null,
      verdict: 'info',
      note: `engine.applyChanges of the notified change: location_history for one tracker and one day (${duration(stats.locationHistoryMs)}), from that tracker's raw reports; no aggregate refreshed`,
    }
  }
  const periodic = upkeep.periodicRefresh
  const periodicRow: FigureRow = {
    id: `scaling.${size.trackers}.periodic`,
    label: `periodic refresh after the round's ${formatNumber(upkeep.changes.late.length)} late reports (at most hourly), ${formatNumber(size.trackers)} trackers`,
    measured: { value: periodic.ms, unit: 'ms', text: duration(periodic.ms) },
    baseline: full,
    ratio: ratio(periodic.ms, upkeep.fullRefreshMedianMs),
    target: null,
    verdict: 'info',
    note: `where late reports reach the aggregates: ${periodic.statements.map((st) => `${st.object} ${duration(st.durationMs)}`).join(', ')} (TimescaleDB recomputes each invalidated hour and day for every tracker)`,
  }
  const kind = size.freshnessKind
  const freshness = freshnessRow(
    `scaling.${size.trackers}.freshness`,
    `freshness p95 (worse of recent and late: ${kind}), ${formatNumber(size.trackers)} trackers`,
    size.stats.refresher[kind],
    size.stats.direct[kind],
    size.trackers >= TARGET_TRACKERS,
  )
  const other: SampleKind = kind === 'late' ? 'recent' : 'late'
  freshness.note = `${other}: p95 ${duration(size.stats.refresher[other].p95Ms)}; the old full refresh alone took ${duration(upkeep.fullRefreshMedianMs)} here`
  return [upkeepRow('recent'), upkeepRow('late'), periodicRow, freshness]
}

/** Growth per 10x trackers between two sizes: the upkeep per change and freshness p95, against the target. */
function growthRows(a: SizeResult, b: SizeResult): FigureRow[] {
  const step = `${formatNumber(a.trackers)} -> ${formatNumber(b.trackers)} trackers`
  const row = (
    id: string,
    what: string,
    of: (s: SizeResult) => number,
    baseline: { label: string; of: (s: SizeResult) => number },
    note?: string,
  ): FigureRow => {
    const g = grow(a, b, of)
    const gb = grow(a, b, baseline.of)
    const text = (g: number | null, f: (s: SizeResult) => number) =>
      `x${g === null ? '?' : formatNumber(g)} (${duration(f(a))} -> ${duration(f(b))})`
    return {
      id: `scaling.growth.${a.trackers}-${b.trackers}.${id}`,
      label: `growth per 10x trackers, ${what}, ${step}`,
      measured: g === null ? null : { value: round(g), unit: 'x', text: text(g, of) },
      baseline:
        gb === null
          ? null
          : { label: baseline.label, value: round(gb), unit: 'x', text: text(gb, baseline.of) },
      ratio: g === null || gb === null ? null : ratio(g, gb),
      target: `<= ${GROWTH_TARGET} per 10x`,
      verdict: g === null ? 'not measured' : g <= GROWTH_TARGET ? 'met' : 'not met',
      ...(note ? { note } : {}),
    }
  }
  const fullRefresh = {
    label: "the old full refresh's growth, same sizes",
    of: (s: SizeResult) => s.upkeep.fullRefreshMedianMs,
  }
  return [
    row(
      'upkeep.recent',
      'upkeep of one change (recent report)',
      (s) => s.upkeep.stats.recent.medianMs,
      fullRefresh,
    ),
    row(
      'upkeep.late',
      'upkeep of one change (late report)',
      (s) => s.upkeep.stats.late.medianMs,
      fullRefresh,
    ),
    row('freshness', 'freshness p95 (worse of recent and late)', (s) => s.freshnessP95Ms, {
      label: 'growth of the same kind applied directly (no notification, no refresher)',
      of: (s) => s.stats.direct[s.freshnessKind].p95Ms,
    }),
  ]
}

/** The issue's target as its own row: met, not met, or not measured (with an extrapolation, labelled). */
function targetRow(measured: SizeResult[]): FigureRow {
  const label = `target: freshness p95 < ${duration(FRESHNESS_TARGET_MS)} at ${formatNumber(TARGET_TRACKERS)} trackers, a year of history`
  const target = `p95 < ${duration(FRESHNESS_TARGET_MS)}`
  const atTarget = measured.find((m) => m.trackers === TARGET_TRACKERS)
  if (atTarget) {
    const met = atTarget.freshnessP95Ms < FRESHNESS_TARGET_MS
    return {
      id: 'scaling.target',
      label,
      measured: {
        value: atTarget.freshnessP95Ms,
        unit: 'ms',
        text: `p95 ${duration(atTarget.freshnessP95Ms)} (${atTarget.freshnessKind} reports)`,
      },
      baseline: {
        label: 'the old full refresh (REFRESH MATERIALIZED VIEW CONCURRENTLY), timed directly',
        value: atTarget.upkeep.fullRefreshMedianMs,
        unit: 'ms',
        text: duration(atTarget.upkeep.fullRefreshMedianMs),
      },
      ratio: ratio(atTarget.freshnessP95Ms, atTarget.upkeep.fullRefreshMedianMs),
      target,
      verdict: met ? 'met' : 'not met',
    }
  }
  const last = measured.at(-1)
  const before = measured.at(-2)
  let note = 'no size measured'
  if (last) {
    const g = before ? grow(before, last, (s) => s.freshnessP95Ms) : null
    const steps = Math.log10(TARGET_TRACKERS / last.trackers)
    const atTargetMs = g !== null ? last.freshnessP95Ms * g ** steps : null
    note =
      atTargetMs !== null
        ? `not measured at this scale; extrapolated from ${formatNumber(before!.trackers)} -> ${formatNumber(last.trackers)} trackers, freshness p95 would be about ${duration(atTargetMs)} at ${formatNumber(TARGET_TRACKERS)} (an extrapolation, not a measurement)`
        : `not measured at this scale (largest measured: ${formatNumber(last.trackers)} trackers, p95 ${duration(last.freshnessP95Ms)})`
  }
  return {
    id: 'scaling.target',
    label,
    measured: null,
    baseline: null,
    ratio: null,
    target,
    verdict: 'not measured',
    note,
  }
}

/**
 * Seconds a size would take, from the last measured one: seeding, materializing and everything but
 * the baseline's full refreshes grow with the reports (linearly), each full refresh by the growth
 * seen so far (linear if only one size is known).
 */
function estimateSeconds(measured: SizeResult[], trackers: number, fullRefreshes: number): number | null {
  const last = measured.at(-1)
  if (!last) return null
  const before = measured.at(-2)
  const scale = trackers / last.trackers
  const g = before ? grow(before, last, (s) => s.upkeep.fullRefreshMedianMs) : null
  const refreshScale = g !== null ? g ** Math.log10(scale) : scale
  const fullS = last.upkeep.fullRefreshMs.reduce((sum, ms) => sum + ms, 0) / 1000
  const restS = Math.max(0, last.durationS - fullS)
  return restS * scale + (last.upkeep.fullRefreshMedianMs / 1000) * refreshScale * fullRefreshes
}
