import type { AlertChannelView, AlertDeliveryRow, AlertHistoryRow } from '@tracker/alerts'
import type { AlertDeliveryAttempt, AlertPlace, AlertRule } from '@tracker/db'
import type {
  AlertDeliveryModel,
  AlertKindModel,
  AlertModel,
  AlertRuleModel,
  BatteryLevelModel,
  PlaceModel,
} from '../graphql/models.ts'
import type {
  AlertChannel as AlertChannelType,
  AlertDeliveryAttempt as AlertDeliveryAttemptType,
} from '../graphql/schema.generated.ts'

const upper = <T extends string>(value: string) => value.toUpperCase() as T

export function toPlaceModel(row: AlertPlace): PlaceModel {
  return {
    id: row.id,
    name: row.name,
    shape: upper(row.shape),
    center:
      row.center_latitude !== null && row.center_longitude !== null
        ? { latitude: row.center_latitude, longitude: row.center_longitude }
        : null,
    radiusM: row.radius_m,
    polygon: row.polygon,
    trackerIds: row.tracker_ids,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

export function toAlertRuleModel(row: AlertRule): AlertRuleModel {
  const watchesPlace = row.kind === 'enter' || row.kind === 'leave'
  return {
    id: row.id,
    name: row.name,
    kind: upper<AlertKindModel>(row.kind),
    placeId: row.place_id,
    // The table keeps its defaults for every kind; they mean something only for a place's rules.
    hysteresisM: watchesPlace ? row.hysteresis_m : null,
    confirmations: watchesPlace ? row.confirmations : null,
    notSeenSeconds: row.not_seen_seconds,
    batteryAtOrBelow: row.battery_at_or_below ? upper<BatteryLevelModel>(row.battery_at_or_below) : null,
    trackerIds: row.tracker_ids,
    channelIds: row.channel_ids,
    enabled: row.enabled,
    muted: row.muted,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

export function toAlertChannel(row: AlertChannelView): AlertChannelType {
  return {
    id: row.id,
    name: row.name,
    kind: upper(row.kind),
    url: row.url,
    topic: row.topic,
    hasSecret: row.has_secret,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

export function toAlertModel(row: AlertHistoryRow): AlertModel {
  return {
    id: row.id,
    kind: upper<AlertKindModel>(row.kind),
    ruleId: row.rule_id,
    trackerId: row.tracker_id,
    placeId: row.place_id,
    occurredAfter: row.occurred_after,
    occurredBefore: row.occurred_before,
    confirmedAt: row.confirmed_at,
    detectedAt: row.detected_at,
    // As the delivered payload says it (alert-payload.ts): whole seconds, never negative.
    lateBySeconds: Math.max(
      0,
      Math.floor((row.detected_at.getTime() - row.occurred_before.getTime()) / 1000),
    ),
    location:
      row.latitude !== null && row.longitude !== null
        ? { latitude: row.latitude, longitude: row.longitude }
        : null,
    detail: JSON.stringify(row.detail ?? {}),
    refined: row.refined_at !== null,
    refinedAt: row.refined_at,
    cancelled: row.cancelled_at !== null,
    cancelledAt: row.cancelled_at,
    cancelReason: row.cancel_reason,
  }
}

export function toAlertDeliveryModel(row: AlertDeliveryRow): AlertDeliveryModel {
  return {
    id: row.id,
    channelId: row.channel_id,
    channelName: row.channel_name,
    channelKind: upper(row.channel_kind),
    action: upper(row.action),
    status: upper(row.status),
    gaveUp: row.status === 'failed',
    attempts: row.attempts,
    lastError: row.last_error,
    lastAttemptAt: row.last_attempt_at,
    lastStatusCode: row.last_status_code,
    nextAttemptAt: row.status === 'pending' ? row.next_attempt_at : null,
    deliveredAt: row.delivered_at,
    createdAt: row.created_at,
  }
}

export function toAlertDeliveryAttempt(row: AlertDeliveryAttempt): AlertDeliveryAttemptType {
  return {
    attempt: row.attempt,
    attemptedAt: row.attempted_at,
    durationMs: row.duration_ms,
    ok: row.ok,
    statusCode: row.status_code,
    error: row.error,
  }
}
