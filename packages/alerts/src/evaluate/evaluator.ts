import { type Database, type Kysely, sql, type Transaction } from '@tracker/db'
import { hasNotSeenEvent, insertEvent } from '../events/alert-event.repository.ts'
import { enqueueDeliveries } from '../outbox/enqueue-deliveries.ts'
import {
  finishPending,
  lockTrackerForEvaluation,
  takePendingSpan,
  trackersWithPendingWork,
} from './alert-pending.repository.ts'
import { type ApplicableRule, applicableRules } from './applicable-rules.ts'
import { type EvaluationCounts, emptyCounts, evaluateTracker, payloadContext } from './evaluate-tracker.ts'
import { reportsForEvaluation } from './report-window.ts'

/** Trackers taken from the queue per pass. */
const TRACKERS_PER_PASS = 100

function add(into: EvaluationCounts, from: EvaluationCounts) {
  into.created += from.created
  into.refined += from.refined
  into.cancelled += from.cancelled
  into.queued += from.queued
}

/**
 * Evaluates the queued report spans, one transaction per tracker: lock the tracker, read its queue
 * under the lock, decide, write events and outbox rows, delete the queue rows. Two evaluators (two
 * importer replicas) take turns on a tracker, and the second finds its queue empty; a crash anywhere
 * rolls the tracker's evaluation back whole and leaves its queue for the next pass.
 */
export async function evaluatePending(
  db: Kysely<Database>,
): Promise<EvaluationCounts & { trackers: number }> {
  const total = { ...emptyCounts(), trackers: 0 }
  // A tracker whose evaluation failed (say a rule deleted under it) keeps its queue for the next
  // pass; the others are not held up by it.
  const failed = new Map<string, unknown>()
  for (;;) {
    const trackerIds = await trackersWithPendingWork(db, TRACKERS_PER_PASS, [...failed.keys()])
    for (const trackerId of trackerIds) {
      try {
        const counts = await db.transaction().execute((trx) => evaluateQueued(trx, trackerId))
        if (counts) {
          add(total, counts)
          total.trackers++
        }
      } catch (error) {
        failed.set(trackerId, error)
      }
    }
    if (trackerIds.length < TRACKERS_PER_PASS) break
  }
  if (failed.size > 0)
    throw new AggregateError(
      [...failed.values()],
      `alert evaluation failed for trackers ${[...failed.keys()].join(', ')}`,
    )
  return total
}

async function evaluateQueued(
  trx: Transaction<Database>,
  trackerId: string,
): Promise<EvaluationCounts | null> {
  if (!(await lockTrackerForEvaluation(trx, trackerId))) {
    // Deleted meanwhile: its queue went with it (cascade).
    return null
  }
  const pending = await takePendingSpan(trx, trackerId)
  if (!pending) return null
  const rules = await applicableRules(trx, trackerId)
  let counts = emptyCounts()
  if (rules.length > 0 || (await hasLiveNotSeen(trx, trackerId))) {
    const tracker = await trx
      .selectFrom('trackers')
      .select(['id', 'name'])
      .where('id', '=', trackerId)
      .executeTakeFirstOrThrow()
    const reports = await reportsForEvaluation(trx, trackerId, pending.from)
    counts = await evaluateTracker(trx, { tracker, rules, reports, from: pending.from })
  }
  await finishPending(trx, trackerId, pending.ids)
  return counts
}

async function hasLiveNotSeen(trx: Transaction<Database>, trackerId: string): Promise<boolean> {
  const row = await trx
    .selectFrom('alert_events')
    .select('id')
    .where('tracker_id', '=', trackerId)
    .where('kind', '=', 'not_seen')
    .where('cancelled_at', 'is', null)
    .executeTakeFirst()
  return row !== undefined
}

/**
 * Fires not-seen alerts whose quiet time has passed: once per episode (an episode is keyed by the
 * last sighting, so a new report re-arms the rule), under the tracker's evaluation lock. The last
 * sighting is the newest stored report, not only trackers.last_seen_at, which an import moves
 * after its inserts: a report already stored is never reported as not seen.
 */
export async function evaluateNotSeen(db: Kysely<Database>, now: Date): Promise<EvaluationCounts> {
  const counts = emptyCounts()
  const due = await sql<{ rule_id: string; tracker_id: string }>`
    SELECT r.id AS rule_id, t.id AS tracker_id
      FROM alert_rules r
      JOIN trackers t ON r.tracker_ids IS NULL OR t.id = ANY(r.tracker_ids)
     WHERE r.kind = 'not_seen' AND r.enabled AND t.is_active AND t.last_seen_at IS NOT NULL
       AND t.last_seen_at + make_interval(secs => r.not_seen_seconds) <= ${now}
       AND NOT EXISTS (SELECT 1 FROM alert_events e
                        WHERE e.rule_id = r.id AND e.tracker_id = t.id AND e.kind = 'not_seen'
                          AND e.occurred_after >= t.last_seen_at)`.execute(db)
  for (const { rule_id, tracker_id } of due.rows) {
    const fired = await db.transaction().execute(async (trx) => {
      if (!(await lockTrackerForEvaluation(trx, tracker_id))) return emptyCounts()
      const rule = (await applicableRules(trx, tracker_id)).find((r) => r.id === rule_id)
      if (!rule?.notSeenSeconds) return emptyCounts()
      return fireNotSeen(trx, rule, tracker_id, now)
    })
    counts.created += fired.created
    counts.queued += fired.queued
  }
  return counts
}

async function fireNotSeen(
  trx: Transaction<Database>,
  rule: ApplicableRule,
  trackerId: string,
  now: Date,
): Promise<EvaluationCounts> {
  const counts = emptyCounts()
  const tracker = await trx
    .selectFrom('trackers')
    .select(['id', 'name', 'last_seen_at', 'last_latitude', 'last_longitude'])
    .where('id', '=', trackerId)
    .executeTakeFirstOrThrow()
  if (!tracker.last_seen_at) return counts
  const newer = await sql<{ timestamp: Date; latitude: number; longitude: number }>`
    SELECT "timestamp", latitude, longitude FROM location_reports
     WHERE tracker_id = ${trackerId} AND "timestamp" > ${tracker.last_seen_at}
     ORDER BY "timestamp" DESC LIMIT 1`.execute(trx)
  const last = newer.rows[0] ?? {
    timestamp: tracker.last_seen_at,
    latitude: tracker.last_latitude,
    longitude: tracker.last_longitude,
  }
  const quietUntil = new Date(last.timestamp.getTime() + rule.notSeenSeconds! * 1000)
  if (quietUntil > now) return counts
  if (await hasNotSeenEvent(trx, { ruleId: rule.id, trackerId, lastSeenAt: last.timestamp })) return counts
  const event = await insertEvent(trx, {
    ruleId: rule.id,
    trackerId,
    kind: 'not_seen',
    occurredAfter: last.timestamp,
    occurredBefore: quietUntil,
    confirmedAt: quietUntil,
    latitude: last.latitude,
    longitude: last.longitude,
    detail: { lastSeenAt: last.timestamp.toISOString(), notSeenSeconds: rule.notSeenSeconds },
  })
  if (!event) return counts
  counts.created++
  if (!rule.muted)
    counts.queued += await enqueueDeliveries(
      trx,
      'fired',
      event,
      rule.channelIds,
      payloadContext(rule, tracker),
    )
  return counts
}
