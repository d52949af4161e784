import { type Kysely, sql } from 'kysely'
import type { Database } from '../schema/database.ts'
import type { TrackerPolling } from '../schema/tracker-polling.table.ts'
import { NotFoundError } from './errors.ts'

/** An active tracker with active keys, as the adaptive poller sees it (never polled: due now). */
export interface PollingState {
  trackerId: string
  keys: number
  intervalSeconds: number | null
  nextPollAt: Date | null
  lastPollAt: Date | null
  overrideSeconds: number | null
}

export async function listPollingStates(db: Kysely<Database>): Promise<PollingState[]> {
  const { rows } = await sql<{
    tracker_id: string
    keys: number
    interval_seconds: number | null
    next_poll_at: Date | null
    last_poll_at: Date | null
    override_seconds: number | null
  }>`
    SELECT t.id AS tracker_id, count(k.hashed_adv_key)::int AS keys,
           p.interval_seconds, p.next_poll_at, p.last_poll_at, p.override_seconds
      FROM trackers t
      JOIN tracker_keys k ON k.tracker_id = t.id AND k.is_active
      LEFT JOIN tracker_polling p ON p.tracker_id = t.id
     WHERE t.is_active
     GROUP BY t.id, p.tracker_id
     ORDER BY t.id`.execute(db)
  return rows.map((r) => ({
    trackerId: r.tracker_id,
    keys: r.keys,
    intervalSeconds: r.interval_seconds,
    nextPollAt: r.next_poll_at,
    lastPollAt: r.last_poll_at,
    overrideSeconds: r.override_seconds,
  }))
}

/** After a poll: the tracker's new interval and next poll time. */
export async function recordPoll(
  db: Kysely<Database>,
  poll: { trackerId: string; intervalSeconds: number; polledAt: Date; nextPollAt: Date },
): Promise<void> {
  await db
    .insertInto('tracker_polling')
    .values({
      tracker_id: poll.trackerId,
      interval_seconds: poll.intervalSeconds,
      next_poll_at: poll.nextPollAt,
      last_poll_at: poll.polledAt,
    })
    .onConflict((oc) =>
      oc.column('tracker_id').doUpdateSet({
        interval_seconds: poll.intervalSeconds,
        next_poll_at: poll.nextPollAt,
        last_poll_at: poll.polledAt,
        updated_at: new Date(),
      }),
    )
    .execute()
}

/**
 * A fixed interval for one tracker (null: adaptive again). The next poll comes no later than one
 * such interval from now. Throws NotFoundError for a tracker that does not exist.
 */
export async function setPollOverride(
  db: Kysely<Database>,
  trackerId: string,
  overrideSeconds: number | null,
  defaultIntervalSeconds: number,
): Promise<TrackerPolling> {
  const exists = await db.selectFrom('trackers').select('id').where('id', '=', trackerId).executeTakeFirst()
  if (!exists) throw new NotFoundError('tracker', trackerId)
  const interval = overrideSeconds ?? defaultIntervalSeconds
  const next = new Date(Date.now() + interval * 1000)
  return db
    .insertInto('tracker_polling')
    .values({
      tracker_id: trackerId,
      interval_seconds: interval,
      next_poll_at: next,
      override_seconds: overrideSeconds,
    })
    .onConflict((oc) =>
      oc.column('tracker_id').doUpdateSet({
        override_seconds: overrideSeconds,
        next_poll_at: sql`least(tracker_polling.next_poll_at, ${next.toISOString()}::timestamptz)`,
        updated_at: new Date(),
      }),
    )
    .returningAll()
    .executeTakeFirstOrThrow()
}

export function pollingStateOf(db: Kysely<Database>, trackerId: string): Promise<TrackerPolling | undefined> {
  return db.selectFrom('tracker_polling').selectAll().where('tracker_id', '=', trackerId).executeTakeFirst()
}

/** Records requests made to the endpoint, and forgets those older than an hour. */
export async function logEndpointRequests(db: Kysely<Database>, times: readonly Date[]): Promise<void> {
  if (times.length === 0) return
  await db
    .insertInto('endpoint_request_log')
    .values(times.map((at) => ({ at })))
    .execute()
  await db
    .deleteFrom('endpoint_request_log')
    .where('at', '<', new Date(Date.now() - 3_600_000))
    .execute()
}

/** The requests made in the hour before `now` (the budget's memory across restarts). */
export async function endpointRequestsSince(db: Kysely<Database>, since: Date): Promise<Date[]> {
  const rows = await db
    .selectFrom('endpoint_request_log')
    .select('at')
    .where('at', '>', since)
    .orderBy('at')
    .execute()
  return rows.map((r) => r.at)
}
