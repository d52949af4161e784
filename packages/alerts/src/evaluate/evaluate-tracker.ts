import type { AlertEvent, AlertRuleKind, Database, Transaction } from '@tracker/db'
import {
  cancelEvent,
  insertEvent,
  liveEvents,
  liveNotSeenEvents,
  type NewEvent,
  refineEvent,
} from '../events/alert-event.repository.ts'
import type { PayloadContext } from '../outbox/build-payload.ts'
import { enqueueDeliveries } from '../outbox/enqueue-deliveries.ts'
import type { ApplicableRule } from './applicable-rules.ts'
import { signedDistanceToPlace } from './place-distance.ts'
import { reconcileEvents } from './reconcile.ts'
import type { RuleReport } from './report-window.ts'
import { batterySide, placeSide, type Side } from './sides.ts'
import { deriveTransitions, type Transition } from './transitions.ts'

/** What one evaluation changed, per kind of change. */
export interface EvaluationCounts {
  created: number
  refined: number
  cancelled: number
  queued: number
}

export const emptyCounts = (): EvaluationCounts => ({ created: 0, refined: 0, cancelled: 0, queued: 0 })

export interface TrackerEvaluation {
  tracker: { id: string; name: string }
  rules: readonly ApplicableRule[]
  /** The tracker's reports from the warm-up to the newest, in report-time order. */
  reports: readonly RuleReport[]
  /** The earliest report time that changed: decisions confirmed before it stand as they are. */
  from: Date
}

/** Why a cancelled transition is cancelled, in the words the alert carries. */
const UNDONE = 'reports learnt later show this change did not happen'

/**
 * Decides a tracker's enter, leave and battery transitions again from `from` on, against what is
 * stored, and writes the difference in the caller's transaction: new transitions (with their
 * firing queued), moved ones (refined, not re-sent) and undone ones (cancelled, the cancellation
 * queued to where the firing went). Then cancels not-seen alerts that a late report contradicts.
 */
export async function evaluateTracker(
  trx: Transaction<Database>,
  input: TrackerEvaluation,
): Promise<EvaluationCounts> {
  const counts = emptyCounts()
  for (const rule of input.rules) {
    if (rule.kind === 'not_seen') continue
    const derived = derivedEvents(rule, input)
    const stored = await liveEvents(trx, {
      ruleId: rule.id,
      trackerId: input.tracker.id,
      kind: rule.kind,
      confirmedFrom: input.from,
    })
    const plan = reconcileEvents(stored.map(asInterval), derived)
    const context = payloadContext(rule, input.tracker)
    for (const event of plan.create) {
      const created = await insertEvent(trx, event)
      if (!created) continue
      counts.created++
      if (!rule.muted)
        counts.queued += await enqueueDeliveries(trx, 'fired', created, rule.channelIds, context)
    }
    for (const { stored: event, derived: moved } of plan.refine) {
      await refineEvent(trx, event.id, moved)
      counts.refined++
    }
    for (const event of plan.cancel) {
      const cancelled = await cancelEvent(trx, event.id, UNDONE)
      counts.cancelled++
      if (!rule.muted)
        counts.queued += await enqueueDeliveries(trx, 'cancelled', cancelled, rule.channelIds, context)
    }
  }
  await cancelContradictedNotSeen(trx, input, counts)
  return counts
}

/** Stored events keep their row; the reconciliation compares their intervals. */
function asInterval(event: AlertEvent) {
  return {
    ...event,
    occurredAfter: event.occurred_after,
    occurredBefore: event.occurred_before,
    confirmedAt: event.confirmed_at,
  }
}

/** The transitions of one rule that count: its own direction, confirmed in the changed span, after it existed. */
function derivedEvents(rule: ApplicableRule, input: TrackerEvaluation): NewEvent[] {
  const side = sideOf(rule)
  if (!side) return []
  const sided = input.reports.map((report) => ({ at: report.timestamp, side: side(report), report }))
  const transitions = deriveTransitions(sided, {
    confirmations: rule.kind === 'battery' ? 1 : rule.confirmations,
    // A battery episode starts with the first low report; a place rule first learns where the tracker is.
    initial: rule.kind === 'battery' ? 'out' : null,
  })
  const wanted: Side = rule.kind === 'leave' ? 'out' : 'in'
  return transitions
    .filter((t) => t.to === wanted)
    .filter((t) => t.confirmedBy.at >= input.from && t.firstAfter.at >= rule.createdAt)
    .map((t) => toEvent(rule, input.tracker.id, t))
}

function sideOf(rule: ApplicableRule) {
  if ((rule.kind === 'enter' || rule.kind === 'leave') && rule.place)
    return placeSide(rule.place.geometry, rule.hysteresisM)
  if (rule.kind === 'battery' && rule.batteryAtOrBelow) return batterySide(rule.batteryAtOrBelow)
  return null
}

function toEvent(rule: ApplicableRule, trackerId: string, t: Transition<RuleReport>): NewEvent {
  const first = t.firstAfter.report
  const detail: Record<string, unknown> = {
    lastReportBefore: t.lastBefore?.at.toISOString() ?? null,
    firstReportAfter: t.firstAfter.at.toISOString(),
    confirmedByReportAt: t.confirmedBy.at.toISOString(),
  }
  if (rule.place) {
    const distance = signedDistanceToPlace(rule.place.geometry, first.latitude, first.longitude)
    detail.distanceToBoundaryM = Math.round(distance)
    detail.placeId = rule.place.id
  }
  if (rule.kind === 'battery') detail.batteryAtOrBelow = rule.batteryAtOrBelow
  return {
    ruleId: rule.id,
    trackerId,
    kind: rule.kind as AlertRuleKind,
    occurredAfter: t.lastBefore?.at ?? null,
    occurredBefore: t.firstAfter.at,
    confirmedAt: t.confirmedBy.at,
    latitude: first.latitude,
    longitude: first.longitude,
    detail,
  }
}

export function payloadContext(rule: ApplicableRule, tracker: { id: string; name: string }): PayloadContext {
  return {
    rule: { id: rule.id, name: rule.name, kind: rule.kind },
    tracker,
    place: rule.place ? { id: rule.place.id, name: rule.place.name } : null,
  }
}

/**
 * A not-seen alert says no report came for the rule's duration after the last one; a late report
 * inside that quiet span proves it wrong (we had not heard, but it had been seen), so it is cancelled.
 */
async function cancelContradictedNotSeen(
  trx: Transaction<Database>,
  input: TrackerEvaluation,
  counts: EvaluationCounts,
): Promise<void> {
  const events = await liveNotSeenEvents(trx, input.tracker.id, input.from)
  for (const event of events) {
    const after = event.occurred_after?.getTime() ?? Number.NEGATIVE_INFINITY
    const seen = input.reports.find(
      (r) => r.timestamp.getTime() > after && r.timestamp.getTime() < event.occurred_before.getTime(),
    )
    if (!seen) continue
    const cancelled = await cancelEvent(
      trx,
      event.id,
      `seen at ${seen.timestamp.toISOString()}, within the rule's duration (the report arrived late)`,
    )
    counts.cancelled++
    const rule = input.rules.find((r) => r.id === event.rule_id)
    if (rule && !rule.muted)
      counts.queued += await enqueueDeliveries(
        trx,
        'cancelled',
        cancelled,
        rule.channelIds,
        payloadContext(rule, input.tracker),
      )
  }
}
