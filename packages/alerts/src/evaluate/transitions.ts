import type { Side } from './sides.ts'

/** A report as the state machine sees it: when, and on which side (null: cannot tell). */
export interface SidedReport<R> {
  at: Date
  side: Side | null
  report: R
}

/** A confirmed change of side, located in report time. */
export interface Transition<R> {
  from: Side | null
  to: Side
  /** The last report on the old side (null when the old side was only assumed). */
  lastBefore: SidedReport<R> | null
  /** The first report on the new side: the change happened between lastBefore and this one. */
  firstAfter: SidedReport<R>
  /** The report that made it certain (the `confirmations`-th in a row on the new side). */
  confirmedBy: SidedReport<R>
}

export interface TransitionOptions {
  /** Reports in a row on the new side that a change takes (1: the first one decides). */
  confirmations: number
  /**
   * The side before the first report. null: unknown, so the first report sets the side without a
   * transition (a place rule learns where the tracker is); 'out' makes the first low battery an alert.
   */
  initial: Side | null
}

/**
 * The transitions in a sequence of reports sorted by report time. A change needs `confirmations`
 * reports in a row on the new side; a report back on the current side in between cancels the
 * candidate (a lone stray report is jitter, not a departure), and reports that cannot tell are
 * skipped. Pure and deterministic: the same reports give the same transitions in whatever order
 * they arrived, which is what lets a late report be evaluated by deriving the span again.
 */
export function deriveTransitions<R>(
  reports: readonly SidedReport<R>[],
  options: TransitionOptions,
): Transition<R>[] {
  const transitions: Transition<R>[] = []
  let side = options.initial
  let lastOnSide: SidedReport<R> | null = null
  let candidate: { first: SidedReport<R>; count: number } | null = null
  for (const report of reports) {
    if (report.side === null) continue
    if (side === null) {
      side = report.side
      lastOnSide = report
      continue
    }
    if (report.side === side) {
      candidate = null
      lastOnSide = report
      continue
    }
    candidate = candidate
      ? { first: candidate.first, count: candidate.count + 1 }
      : { first: report, count: 1 }
    if (candidate.count < options.confirmations) continue
    transitions.push({
      from: side,
      to: report.side,
      lastBefore: lastOnSide,
      firstAfter: candidate.first,
      confirmedBy: report,
    })
    side = report.side
    lastOnSide = report
    candidate = null
  }
  return transitions
}
