import { randomBytes } from 'node:crypto'
import type { AlertChannelKind, Database, Kysely, OutboxAction } from '@tracker/db'
import { insertTracker } from '@tracker/db/testing'
import type { AlertPayload } from '../../src/outbox/alert-payload.ts'

/**
 * Outbox rows written directly, as the evaluator's insert will write them: a tracker, a place, a
 * rule, an event, a channel and the outbox row whose id is the idempotency key.
 */

export interface ChannelSpec {
  kind: AlertChannelKind
  url?: string | null
  topic?: string | null
  secret?: string | null
  name?: string
}

/** A Standard Webhooks secret: whsec_ and 32 random bytes in base64. */
export const newWebhookSecret = () => `whsec_${randomBytes(32).toString('base64')}`

export async function insertChannel(db: Kysely<Database>, spec: ChannelSpec): Promise<string> {
  const row = await db
    .insertInto('alert_channels')
    .values({
      name: spec.name ?? `${spec.kind} ${randomBytes(3).toString('hex')}`,
      kind: spec.kind,
      url: spec.url ?? null,
      topic: spec.topic ?? null,
      secret: spec.secret ?? null,
    })
    .returning('id')
    .executeTakeFirstOrThrow()
  return row.id
}

export interface EventFixture {
  eventId: string
  ruleId: string
  ruleName: string
  trackerId: string
  trackerName: string
  placeId: string
  placeName: string
  occurredAfter: Date
  occurredBefore: Date
  detectedAt: Date
}

let eventCounter = 0

/** A leave event of a tracker from a place, an hour of report time apart per call (one live event each). */
export async function insertEvent(
  db: Kysely<Database>,
  options: { trackerName?: string } = {},
): Promise<EventFixture> {
  const tracker = await insertTracker(db, {
    name: options.trackerName ?? `Keys ${randomBytes(2).toString('hex')}`,
  })
  const place = await db
    .insertInto('alert_places')
    .values({
      name: 'Home',
      shape: 'circle',
      center_latitude: 52.52,
      center_longitude: 13.405,
      radius_m: 150,
    })
    .returning(['id', 'name'])
    .executeTakeFirstOrThrow()
  const rule = await db
    .insertInto('alert_rules')
    .values({ name: 'Keys left home', kind: 'leave', place_id: place.id, tracker_ids: [tracker.id] })
    .returning(['id', 'name'])
    .executeTakeFirstOrThrow()
  eventCounter++
  const occurredBefore = new Date(Date.UTC(2026, 11, 17, 10, 31) + eventCounter * 3_600_000)
  const occurredAfter = new Date(occurredBefore.getTime() - 29 * 60_000)
  const detectedAt = new Date(occurredBefore.getTime() + 2 * 3_600_000)
  const event = await db
    .insertInto('alert_events')
    .values({
      rule_id: rule.id,
      tracker_id: tracker.id,
      kind: 'leave',
      occurred_after: occurredAfter,
      occurred_before: occurredBefore,
      confirmed_at: occurredBefore,
      latitude: 52.53,
      longitude: 13.41,
      detail: JSON.stringify({ distanceM: 820 }),
      detected_at: detectedAt,
    })
    .returning('id')
    .executeTakeFirstOrThrow()
  return {
    eventId: event.id,
    ruleId: rule.id,
    ruleName: rule.name,
    trackerId: tracker.id,
    trackerName: tracker.name,
    placeId: place.id,
    placeName: place.name,
    occurredAfter,
    occurredBefore,
    detectedAt,
  }
}

export function payloadOf(event: EventFixture, action: OutboxAction): AlertPayload {
  return {
    type: `alert.${action}`,
    event: {
      id: event.eventId,
      kind: 'leave',
      occurredAfter: event.occurredAfter.toISOString(),
      occurredBefore: event.occurredBefore.toISOString(),
      detectedAt: event.detectedAt.toISOString(),
      lateBySeconds: Math.round((event.detectedAt.getTime() - event.occurredBefore.getTime()) / 1000),
      latitude: 52.53,
      longitude: 13.41,
      cancelReason: action === 'cancelled' ? 'a later report put it inside the place' : null,
      detail: { distanceM: 820 },
    },
    rule: { id: event.ruleId, name: event.ruleName, kind: 'leave' },
    tracker: { id: event.trackerId, name: event.trackerName },
    place: { id: event.placeId, name: event.placeName },
  }
}

export async function insertOutboxRow(
  db: Kysely<Database>,
  row: { event: EventFixture; channelId: string; action?: OutboxAction; createdAt?: Date },
): Promise<{ id: string; payload: AlertPayload }> {
  const action = row.action ?? 'fired'
  const payload = payloadOf(row.event, action)
  const inserted = await db
    .insertInto('alert_outbox')
    .values({
      event_id: row.event.eventId,
      channel_id: row.channelId,
      action,
      payload: JSON.stringify(payload),
      ...(row.createdAt ? { created_at: row.createdAt } : {}),
    })
    .returning('id')
    .executeTakeFirstOrThrow()
  return { id: inserted.id, payload }
}

/** A fired event on a new channel: the usual single delivery of a test. */
export async function insertDelivery(
  db: Kysely<Database>,
  channel: ChannelSpec,
): Promise<{ outboxId: string; channelId: string; event: EventFixture; payload: AlertPayload }> {
  const channelId = await insertChannel(db, channel)
  const event = await insertEvent(db)
  const { id, payload } = await insertOutboxRow(db, { event, channelId })
  return { outboxId: id, channelId, event, payload }
}

/** Every alert row a test wrote, so the next test's deliverer sees only its own. */
export async function clearAlerts(db: Kysely<Database>): Promise<void> {
  await db.deleteFrom('alert_channels').execute()
  await db.deleteFrom('alert_events').execute()
  await db.deleteFrom('alert_rules').execute()
  await db.deleteFrom('alert_places').execute()
}
