import type {
  AlertChannelKind,
  AlertDeliveryAttempt,
  AlertEvent,
  AlertOutboxRow,
  Database,
  Kysely,
} from '@tracker/db'
import { exactTime, type KeysetPosition } from '@tracker/db'

/**
 * The alert history as the API reads it: alert_events with their rule, and each event's deliveries
 * (alert_outbox with its channel and latest attempt, alert_delivery_attempts). Read-only; the
 * evaluator's writes live in events/alert-event.repository.ts, the deliverer's in the outbox's.
 */

export interface AlertHistoryQuery {
  /** Only these trackers' alerts (a trackerId argument, a token limited to trackers); null: all. */
  trackerIds: readonly string[] | null
  /** occurred_before at or after this. */
  from?: Date
  /** occurred_before before this. */
  to?: Date
  includeCancelled: boolean
  /** Continue after this (occurred_before, id) position, newest first. */
  after?: KeysetPosition
  limit: number
}

export type AlertHistoryRow = AlertEvent & {
  rule_name: string
  /** The place of the event's rule (enter / leave). */
  place_id: string | null
  cursor_time: string
}

/** Alerts newest first by when they happened (occurred_before), then id. */
export async function selectAlertHistoryPage(
  db: Kysely<Database>,
  q: AlertHistoryQuery,
): Promise<AlertHistoryRow[]> {
  let query = db
    .selectFrom('alert_events as e')
    .innerJoin('alert_rules as r', 'r.id', 'e.rule_id')
    .selectAll('e')
    .select(['r.name as rule_name', 'r.place_id', exactTime('e.occurred_before').as('cursor_time')])
    .orderBy('e.occurred_before', 'desc')
    .orderBy('e.id', 'desc')
    .limit(q.limit)
  if (q.trackerIds) {
    if (q.trackerIds.length === 0) return []
    query = query.where('e.tracker_id', 'in', [...q.trackerIds])
  }
  if (q.from) query = query.where('e.occurred_before', '>=', q.from)
  if (q.to) query = query.where('e.occurred_before', '<', q.to)
  if (!q.includeCancelled) query = query.where('e.cancelled_at', 'is', null)
  const after = q.after
  if (after) {
    query = query.where((eb) =>
      eb(
        eb.refTuple('e.occurred_before', 'e.id'),
        '<',
        eb.tuple(eb.val(after.time).$castTo<Date>(), eb.val(after.id)),
      ),
    )
  }
  return query.execute()
}

export type AlertDeliveryRow = Omit<AlertOutboxRow, 'payload' | 'leased_until'> & {
  channel_name: string
  channel_kind: AlertChannelKind
  last_attempt_at: Date | null
  last_status_code: number | null
}

/** Each event's deliveries (one per channel and action), in input order; one query for the batch. */
export async function deliveriesOfEvents(
  db: Kysely<Database>,
  eventIds: readonly string[],
): Promise<AlertDeliveryRow[][]> {
  if (eventIds.length === 0) return []
  const rows = await db
    .selectFrom('alert_outbox as o')
    .innerJoin('alert_channels as c', 'c.id', 'o.channel_id')
    .leftJoinLateral(
      (eb) =>
        eb
          .selectFrom('alert_delivery_attempts as a')
          .select(['a.attempted_at', 'a.status_code'])
          .whereRef('a.outbox_id', '=', 'o.id')
          .orderBy('a.attempt', 'desc')
          .orderBy('a.id', 'desc')
          .limit(1)
          .as('last'),
      (join) => join.onTrue(),
    )
    .select([
      'o.id',
      'o.event_id',
      'o.channel_id',
      'o.action',
      'o.status',
      'o.attempts',
      'o.next_attempt_at',
      'o.last_error',
      'o.delivered_at',
      'o.created_at',
      'c.name as channel_name',
      'c.kind as channel_kind',
      'last.attempted_at as last_attempt_at',
      'last.status_code as last_status_code',
    ])
    .where('o.event_id', 'in', [...new Set(eventIds)])
    .orderBy('o.created_at')
    .orderBy('c.name')
    .orderBy('o.action', 'desc')
    .execute()
  const byEvent = new Map<string, AlertDeliveryRow[]>()
  for (const row of rows) {
    const list = byEvent.get(row.event_id)
    if (list) list.push(row)
    else byEvent.set(row.event_id, [row])
  }
  return eventIds.map((id) => byEvent.get(id) ?? [])
}

/** Each delivery's attempts, first to last, in input order; one query for the batch. */
export async function attemptsOfDeliveries(
  db: Kysely<Database>,
  outboxIds: readonly string[],
): Promise<AlertDeliveryAttempt[][]> {
  if (outboxIds.length === 0) return []
  const rows = await db
    .selectFrom('alert_delivery_attempts')
    .selectAll()
    .where('outbox_id', 'in', [...new Set(outboxIds)])
    .orderBy('attempt')
    .orderBy('id')
    .execute()
  const byOutbox = new Map<string, AlertDeliveryAttempt[]>()
  for (const row of rows) {
    const list = byOutbox.get(row.outbox_id)
    if (list) list.push(row)
    else byOutbox.set(row.outbox_id, [row])
  }
  return outboxIds.map((id) => byOutbox.get(id) ?? [])
}
