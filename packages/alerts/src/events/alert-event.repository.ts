import { type AlertEvent, type AlertRuleKind, type Database, sql, type Transaction } from '@tracker/db'

/** The alert_events table's writes and the evaluator's reads. */

export interface NewEvent {
  ruleId: string
  trackerId: string
  kind: AlertRuleKind
  occurredAfter: Date | null
  occurredBefore: Date
  confirmedAt: Date
  latitude: number | null
  longitude: number | null
  detail: Record<string, unknown>
}

/**
 * Live (not cancelled) events of one rule, tracker and kind confirmed at or after `confirmedFrom`,
 * oldest first: the ones a re-evaluation from that time may confirm, move or cancel.
 */
export function liveEvents(
  trx: Transaction<Database>,
  key: { ruleId: string; trackerId: string; kind: AlertRuleKind; confirmedFrom: Date },
): Promise<AlertEvent[]> {
  return trx
    .selectFrom('alert_events')
    .selectAll()
    .where('rule_id', '=', key.ruleId)
    .where('tracker_id', '=', key.trackerId)
    .where('kind', '=', key.kind)
    .where('cancelled_at', 'is', null)
    .where('confirmed_at', '>=', key.confirmedFrom)
    .orderBy('occurred_before')
    .execute()
}

/**
 * Records a transition; null when a live event for the same transition exists already (the partial
 * unique index decides, so two evaluators can never both record it).
 */
export async function insertEvent(trx: Transaction<Database>, event: NewEvent): Promise<AlertEvent | null> {
  const { rows } = await sql<AlertEvent>`
    INSERT INTO alert_events
      (rule_id, tracker_id, kind, occurred_after, occurred_before, confirmed_at, latitude, longitude, detail)
    VALUES (${event.ruleId}, ${event.trackerId}, ${event.kind}, ${event.occurredAfter}, ${event.occurredBefore},
            ${event.confirmedAt}, ${event.latitude}, ${event.longitude}, ${JSON.stringify(event.detail)}::jsonb)
    ON CONFLICT (rule_id, tracker_id, kind, occurred_before) WHERE cancelled_at IS NULL DO NOTHING
    RETURNING *`.execute(trx)
  return rows[0] ?? null
}

/** A late report moved where a known transition happened: its interval follows, nothing is re-sent. */
export async function refineEvent(
  trx: Transaction<Database>,
  id: string,
  interval: Pick<
    NewEvent,
    'occurredAfter' | 'occurredBefore' | 'confirmedAt' | 'latitude' | 'longitude' | 'detail'
  >,
): Promise<void> {
  await trx
    .updateTable('alert_events')
    .set({
      occurred_after: interval.occurredAfter,
      occurred_before: interval.occurredBefore,
      confirmed_at: interval.confirmedAt,
      latitude: interval.latitude,
      longitude: interval.longitude,
      detail: JSON.stringify(interval.detail),
      refined_at: sql<Date>`now()`,
    })
    .where('id', '=', id)
    .execute()
}

/** A late report showed the transition did not happen. Returns the event as cancelled. */
export async function cancelEvent(
  trx: Transaction<Database>,
  id: string,
  reason: string,
): Promise<AlertEvent> {
  return trx
    .updateTable('alert_events')
    .set({ cancelled_at: sql<Date>`now()`, cancel_reason: reason })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow()
}

/** Live not-seen events of a tracker whose quiet span ends after `since`. */
export function liveNotSeenEvents(
  trx: Transaction<Database>,
  trackerId: string,
  since: Date,
): Promise<AlertEvent[]> {
  return trx
    .selectFrom('alert_events')
    .selectAll()
    .where('tracker_id', '=', trackerId)
    .where('kind', '=', 'not_seen')
    .where('cancelled_at', 'is', null)
    .where('occurred_before', '>', since)
    .execute()
}

/** Whether a not-seen episode starting at the tracker's last sighting has an event (live or cancelled). */
export async function hasNotSeenEvent(
  trx: Transaction<Database>,
  key: { ruleId: string; trackerId: string; lastSeenAt: Date },
): Promise<boolean> {
  const row = await trx
    .selectFrom('alert_events')
    .select('id')
    .where('rule_id', '=', key.ruleId)
    .where('tracker_id', '=', key.trackerId)
    .where('kind', '=', 'not_seen')
    .where('occurred_after', '=', key.lastSeenAt)
    .executeTakeFirst()
  return row !== undefined
}
