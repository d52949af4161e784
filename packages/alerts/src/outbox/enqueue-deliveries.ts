import { type AlertEvent, type Database, type OutboxAction, sql, type Transaction } from '@tracker/db'
import { notifyOutbox } from './alert-outbox.repository.ts'
import { buildPayload, type PayloadContext } from './build-payload.ts'

/**
 * Puts an event's firing or cancellation in the outbox, one row per channel of the rule that still
 * exists, in the caller's transaction (the evaluation's): delivered later, at least once, and never
 * queued twice for the same event, channel and action (the unique key). A cancellation goes only to
 * the channels its firing went to. Returns how many rows were queued.
 */
export async function enqueueDeliveries(
  trx: Transaction<Database>,
  action: OutboxAction,
  event: AlertEvent,
  channelIds: readonly string[],
  context: PayloadContext,
): Promise<number> {
  if (channelIds.length === 0) return 0
  const payload = JSON.stringify(buildPayload(action, event, context))
  const firedOnly =
    action === 'cancelled'
      ? sql`AND EXISTS (SELECT 1 FROM alert_outbox o
                         WHERE o.event_id = ${event.id} AND o.channel_id = c.id AND o.action = 'fired')`
      : sql``
  const result = await sql`
    INSERT INTO alert_outbox (event_id, channel_id, action, payload)
    SELECT ${event.id}, c.id, ${action}, ${payload}::jsonb
      FROM alert_channels c
     WHERE c.id = ANY(${[...channelIds]}::uuid[]) ${firedOnly}
    ON CONFLICT (event_id, channel_id, action) DO NOTHING`.execute(trx)
  const queued = Number(result.numAffectedRows ?? 0n)
  // Delivered at the commit (NOTIFY is sent then, and not at all on a rollback), not at the next poll.
  if (queued > 0) await notifyOutbox(trx)
  return queued
}
