import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely'

type CreatedAt = ColumnType<Date, Date | string | undefined, never>
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>
/** uuid[] columns: read as string arrays, written as arrays. */
type UuidArray = ColumnType<string[] | null, string[] | null | undefined, string[] | null>

export type PlaceShape = 'circle' | 'polygon'
/** A GeoJSON Polygon's coordinates: rings of [longitude, latitude], the outer ring first, closed. */
export type PolygonCoordinates = [number, number][][]

/** A named circle or polygon that enter / leave rules watch. */
export interface AlertPlaceTable {
  id: Generated<string>
  name: string
  shape: PlaceShape
  center_latitude: number | null
  center_longitude: number | null
  radius_m: number | null
  polygon: ColumnType<PolygonCoordinates | null, string | null, string | null>
  /** NULL: every tracker. */
  tracker_ids: UuidArray
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export type AlertChannelKind = 'webhook' | 'ntfy' | 'mqtt'

/** Where alerts are delivered. */
export interface AlertChannelTable {
  id: Generated<string>
  name: string
  kind: AlertChannelKind
  /** webhook: the receiver's URL; ntfy: the server's base URL. */
  url: string | null
  /** ntfy: the topic; mqtt: the topic on the bridge's broker. */
  topic: string | null
  /** webhook: the signing secret (whsec_…); ntfy: an optional access token. Never read back by the API. */
  secret: string | null
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export type AlertRuleKind = 'enter' | 'leave' | 'not_seen' | 'battery'
export type BatteryThreshold = 'medium' | 'low' | 'critical'

export interface AlertRuleTable {
  id: Generated<string>
  name: string
  kind: AlertRuleKind
  place_id: string | null
  hysteresis_m: Generated<number>
  confirmations: Generated<number>
  not_seen_seconds: number | null
  battery_at_or_below: BatteryThreshold | null
  /** NULL: every tracker. */
  tracker_ids: UuidArray
  channel_ids: ColumnType<string[], string[] | undefined, string[]>
  enabled: Generated<boolean>
  muted: Generated<boolean>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

/** A transition in report time, and what became of it. */
export interface AlertEventTable {
  id: Generated<string>
  rule_id: string
  tracker_id: string
  kind: AlertRuleKind
  /** The last report in the old state (null: none known). */
  occurred_after: Date | null
  /** The first report in the new state (not_seen: last seen + the rule's duration). */
  occurred_before: Date
  /** The report that confirmed the change (not_seen: the same as occurred_before). */
  confirmed_at: Date
  latitude: number | null
  longitude: number | null
  detail: ColumnType<Record<string, unknown>, string | undefined, string>
  detected_at: CreatedAt
  refined_at: Date | null
  cancelled_at: Date | null
  cancel_reason: string | null
}

export type OutboxAction = 'fired' | 'cancelled'
export type OutboxStatus = 'pending' | 'delivered' | 'failed'

/** One delivery to make: an event's firing or cancellation, to one channel. Its id is the idempotency key. */
export interface AlertOutboxTable {
  id: Generated<string>
  event_id: string
  channel_id: string
  action: OutboxAction
  payload: ColumnType<Record<string, unknown>, string, never>
  status: Generated<OutboxStatus>
  attempts: Generated<number>
  next_attempt_at: ColumnType<Date, Date | string | undefined, Date | string>
  leased_until: Date | null
  last_error: string | null
  delivered_at: Date | null
  created_at: CreatedAt
}

export interface AlertDeliveryAttemptTable {
  id: Generated<string>
  outbox_id: string
  attempt: number
  attempted_at: CreatedAt
  duration_ms: number
  ok: boolean
  status_code: number | null
  error: string | null
}

/** New reports' report-time span per tracker, queued with the reports for the evaluator. */
export interface AlertPendingTable {
  id: Generated<string>
  tracker_id: string
  from_ts: ColumnType<Date, Date | string, never>
  to_ts: ColumnType<Date, Date | string, never>
  queued_at: CreatedAt
}

/** The row an evaluator locks while it evaluates a tracker. */
export interface AlertTrackerStateTable {
  tracker_id: string
  evaluated_at: Date | null
}

export type AlertPlace = Selectable<AlertPlaceTable>
export type NewAlertPlace = Insertable<AlertPlaceTable>
export type AlertPlaceUpdate = Updateable<AlertPlaceTable>
export type AlertChannel = Selectable<AlertChannelTable>
export type NewAlertChannel = Insertable<AlertChannelTable>
export type AlertRule = Selectable<AlertRuleTable>
export type NewAlertRule = Insertable<AlertRuleTable>
export type AlertRuleUpdate = Updateable<AlertRuleTable>
export type AlertEvent = Selectable<AlertEventTable>
export type AlertOutboxRow = Selectable<AlertOutboxTable>
export type AlertDeliveryAttempt = Selectable<AlertDeliveryAttemptTable>
