import type { AlertChannelKind, Database, Kysely, OutboxAction, OutboxStatus } from '@tracker/db'
import { sql } from '@tracker/db'
import type { AlertPayload } from './alert-payload.ts'

/**
 * The outbox and its delivery attempts: every query the deliverer makes on alert_outbox and
 * alert_delivery_attempts (the evaluator writes the rows: enqueue-deliveries.ts).
 */

/** Where a delivery goes, as stored (the secret is for the sender only: never logged). */
export interface DeliveryChannel {
  id: string
  name: string
  kind: AlertChannelKind
  url: string | null
  topic: string | null
  secret: string | null
}

/** An outbox row this deliverer holds a lease on, with its channel. */
export interface LeasedDelivery {
  /** The idempotency key: the same on every attempt. */
  id: string
  eventId: string
  action: OutboxAction
  payload: AlertPayload
  /** Attempts recorded before this one. */
  attempts: number
  createdAt: Date
  leasedUntil: Date
  /** leased_until exactly as stored (microseconds): recording releases the lease only if it is still this one. */
  leaseToken: string
  channel: DeliveryChannel
}

/**
 * The notification channel a deliverer listens on: an insert of outbox rows that sends it (see
 * notifyOutbox) wakes deliverers at once instead of at their next poll.
 */
export const ALERT_OUTBOX_CHANNEL = 'alert_outbox'

/** Inside the transaction that inserts outbox rows: deliverers are woken when it commits. */
export async function notifyOutbox(db: Kysely<Database>): Promise<void> {
  await sql`SELECT pg_notify(${ALERT_OUTBOX_CHANNEL}, '')`.execute(db)
}

/**
 * Leases up to `limit` due rows, at most one per channel, in one statement (its own short
 * transaction): a row is due when pending, its next attempt has come and nobody holds a live lease
 * on it. Rows are locked FOR UPDATE SKIP LOCKED, so two deliverers leasing at once never get the
 * same row, and the lease (leased_until) keeps it from others after the commit while it is sent;
 * no transaction stays open during the send. A lease that runs out (its holder died) makes the row
 * due again: it is sent again with the same id.
 *
 * Order: each channel's oldest due row first, and a channel has one row in flight at a time
 * across all deliverers (a channel with a live lease is skipped), so a channel receives its rows
 * in the order they were written. A row waiting for its retry does not hold back newer rows of its
 * channel, except that a cancellation waits for its firing on the same channel to be settled
 * (delivered or failed): it is never sent before the firing it cancels.
 */
export async function leaseDueDeliveries(
  db: Kysely<Database>,
  options: { leaseMs: number; limit: number },
): Promise<LeasedDelivery[]> {
  const { rows } = await sql<{
    id: string
    event_id: string
    action: OutboxAction
    payload: AlertPayload
    attempts: number
    created_at: Date
    leased_until: Date
    lease_token: string
    channel_id: string
    channel_name: string
    kind: AlertChannelKind
    url: string | null
    topic: string | null
    secret: string | null
  }>`
    WITH candidates AS (
      SELECT DISTINCT ON (o.channel_id) o.id
        FROM alert_outbox o
       WHERE o.status = 'pending'
         AND o.next_attempt_at <= now()
         AND (o.leased_until IS NULL OR o.leased_until < now())
         AND NOT EXISTS (
               SELECT 1 FROM alert_outbox busy
                WHERE busy.channel_id = o.channel_id
                  AND busy.status = 'pending'
                  AND busy.leased_until >= now())
         AND NOT (o.action = 'cancelled' AND EXISTS (
               SELECT 1 FROM alert_outbox fired
                WHERE fired.event_id = o.event_id
                  AND fired.channel_id = o.channel_id
                  AND fired.action = 'fired'
                  AND fired.status = 'pending'))
       ORDER BY o.channel_id, o.created_at, o.id
    ),
    due AS (
      -- The conditions on the row itself again: a row another deliverer leased after this
      -- statement's snapshot is rechecked on its new version once locked, and left out.
      SELECT o.id
        FROM alert_outbox o
       WHERE o.id IN (SELECT id FROM candidates)
         AND o.status = 'pending'
         AND (o.leased_until IS NULL OR o.leased_until < now())
       ORDER BY o.created_at, o.id
       LIMIT ${options.limit}
         FOR UPDATE SKIP LOCKED
    )
    UPDATE alert_outbox o
       SET leased_until = now() + make_interval(secs => ${options.leaseMs / 1000})
      FROM due, alert_channels c
     WHERE o.id = due.id AND c.id = o.channel_id
    RETURNING o.id, o.event_id, o.action, o.payload, o.attempts, o.created_at, o.leased_until,
              o.leased_until::text AS lease_token, c.id AS channel_id, c.name AS channel_name, c.kind, c.url, c.topic, c.secret`.execute(
    db,
  )
  return rows
    .map((r) => ({
      id: r.id,
      eventId: r.event_id,
      action: r.action,
      payload: r.payload,
      attempts: r.attempts,
      createdAt: r.created_at,
      leasedUntil: r.leased_until,
      leaseToken: r.lease_token,
      channel: {
        id: r.channel_id,
        name: r.channel_name,
        kind: r.kind,
        url: r.url,
        topic: r.topic,
        secret: r.secret,
      },
    }))
    .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id))
}

/** How one attempt ended, and what becomes of its row. */
export interface AttemptRecord {
  outboxId: string
  /** The lease the attempt was made under (LeasedDelivery.leaseToken). */
  leaseToken: string
  /** When the send began. */
  attemptedAt: Date
  durationMs: number
  ok: boolean
  statusCode: number | null
  error: string | null
  /** Failed: give up now whatever the attempt count (e.g. 410 Gone). */
  giveUp: boolean
  /** Failed: the attempt that reaches this many is the last (the row is given up). */
  maxAttempts: number
  /** Failed and not given up: the next attempt this long after now. */
  retryInMs: number
}

export interface RecordedAttempt {
  /** The attempt's number (1 for the first recorded). */
  attempt: number
  status: OutboxStatus
  nextAttemptAt: Date | null
}

/**
 * Records an attempt and settles its row, in one transaction: delivered (delivered_at), a retry
 * (next_attempt_at), or given up (status failed) once the attempt limit is reached or `giveUp`.
 * The lease is released, unless another deliverer holds a newer one. An attempt is recorded even on a row that was settled meanwhile (its
 * lease ran out during the send and another deliverer sent it too): a delivered row stays
 * delivered, and a success delivers a row that had been given up.
 */
export async function recordDeliveryAttempt(
  db: Kysely<Database>,
  record: AttemptRecord,
): Promise<RecordedAttempt | null> {
  const ok = sql`${record.ok}::boolean`
  const giveUp = sql`${record.giveUp}::boolean`
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ attempts: number; status: OutboxStatus; next_attempt_at: Date }>`
      UPDATE alert_outbox
         SET attempts = attempts + 1,
             status = CASE
               WHEN ${ok} THEN 'delivered'
               WHEN status <> 'pending' THEN status
               WHEN ${giveUp} OR attempts + 1 >= ${record.maxAttempts} THEN 'failed'
               ELSE 'pending' END,
             delivered_at = CASE WHEN ${ok} THEN coalesce(delivered_at, now()) ELSE delivered_at END,
             next_attempt_at = CASE
               WHEN NOT ${ok} AND status = 'pending' AND NOT (${giveUp} OR attempts + 1 >= ${record.maxAttempts})
               THEN now() + make_interval(secs => ${record.retryInMs / 1000})
               ELSE next_attempt_at END,
             last_error = CASE WHEN ${ok} THEN last_error ELSE ${record.error ?? 'failed'}::text END,
             leased_until = CASE
               WHEN leased_until = ${record.leaseToken}::timestamptz THEN NULL ELSE leased_until END
       WHERE id = ${record.outboxId}
      RETURNING attempts, status, next_attempt_at`.execute(trx)
    const row = rows[0]
    // The row is gone: its channel or event was deleted during the send (rows cascade).
    if (!row) return null
    await trx
      .insertInto('alert_delivery_attempts')
      .values({
        outbox_id: record.outboxId,
        attempt: row.attempts,
        attempted_at: record.attemptedAt,
        duration_ms: Math.max(0, Math.round(record.durationMs)),
        ok: record.ok,
        status_code: record.statusCode,
        error: record.error,
      })
      .execute()
    return {
      attempt: row.attempts,
      status: row.status,
      nextAttemptAt: row.status === 'pending' ? row.next_attempt_at : null,
    }
  })
}

/**
 * How long until a lease could take something, by the database's clock (so a skewed host clock
 * cannot make a deliverer spin): the earliest of the pending rows' retry times, and live leases'
 * ends, a cancellation waiting for its firing left out; null when nothing is pending. A deliverer
 * sleeps that long (at most its poll interval) rather than a whole poll interval.
 */
export async function msUntilNextDue(db: Kysely<Database>): Promise<number | null> {
  const { rows } = await sql<{ ms: number | null }>`
    SELECT (extract(epoch FROM min(greatest(o.next_attempt_at, o.leased_until, busy.until)) - now()) * 1000)::float8 AS ms
      FROM alert_outbox o
      LEFT JOIN LATERAL (
            SELECT max(b.leased_until) AS until FROM alert_outbox b
             WHERE b.channel_id = o.channel_id AND b.status = 'pending' AND b.leased_until >= now()
           ) busy ON true
     WHERE o.status = 'pending'
       AND NOT (o.action = 'cancelled' AND EXISTS (
             SELECT 1 FROM alert_outbox fired
              WHERE fired.event_id = o.event_id AND fired.channel_id = o.channel_id
                AND fired.action = 'fired' AND fired.status = 'pending'))`.execute(db)
  const ms = rows[0]?.ms
  return ms === null || ms === undefined ? null : Math.max(0, ms)
}

export interface OutboxBacklog {
  /** Rows still to deliver (due, waiting for a retry or in flight). */
  pending: number
  /** Rows given up. */
  failed: number
  /** The oldest pending row's creation; null when nothing is pending. */
  oldestPendingAt: Date | null
}

/** The outbox at a glance, for metrics: shared by every deliverer of the database. */
export async function outboxBacklog(db: Kysely<Database>): Promise<OutboxBacklog> {
  const { rows } = await sql<{ pending: number; failed: number; oldest: Date | null }>`
    SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending,
           count(*) FILTER (WHERE status = 'failed')::int AS failed,
           min(created_at) FILTER (WHERE status = 'pending') AS oldest
      FROM alert_outbox`.execute(db)
  const row = rows[0]
  return { pending: row?.pending ?? 0, failed: row?.failed ?? 0, oldestPendingAt: row?.oldest ?? null }
}

export interface DeliveryAttemptRow {
  attempt: number
  attemptedAt: Date
  durationMs: number
  ok: boolean
  statusCode: number | null
  error: string | null
}

/** One outbox row's attempts, first first. */
export async function listDeliveryAttempts(
  db: Kysely<Database>,
  outboxId: string,
): Promise<DeliveryAttemptRow[]> {
  const rows = await db
    .selectFrom('alert_delivery_attempts')
    .select(['attempt', 'attempted_at', 'duration_ms', 'ok', 'status_code', 'error'])
    .where('outbox_id', '=', outboxId)
    .orderBy('attempt')
    .orderBy('id')
    .execute()
  return rows.map((r) => ({
    attempt: r.attempt,
    attemptedAt: r.attempted_at,
    durationMs: r.duration_ms,
    ok: r.ok,
    statusCode: r.status_code,
    error: r.error,
  }))
}

export interface OutboxDeliveryState {
  id: string
  eventId: string
  channelId: string
  action: OutboxAction
  status: OutboxStatus
  attempts: number
  nextAttemptAt: Date
  leasedUntil: Date | null
  lastError: string | null
  deliveredAt: Date | null
  createdAt: Date
}

/** One outbox row's delivery state; null when there is none. */
export async function findOutboxDelivery(
  db: Kysely<Database>,
  outboxId: string,
): Promise<OutboxDeliveryState | null> {
  const r = await db
    .selectFrom('alert_outbox')
    .select([
      'id',
      'event_id',
      'channel_id',
      'action',
      'status',
      'attempts',
      'next_attempt_at',
      'leased_until',
      'last_error',
      'delivered_at',
      'created_at',
    ])
    .where('id', '=', outboxId)
    .executeTakeFirst()
  if (!r) return null
  return {
    id: r.id,
    eventId: r.event_id,
    channelId: r.channel_id,
    action: r.action,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    leasedUntil: r.leased_until,
    lastError: r.last_error,
    deliveredAt: r.delivered_at,
    createdAt: r.created_at,
  }
}
