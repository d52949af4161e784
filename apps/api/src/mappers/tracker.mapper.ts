import type { BatteryLevel, KeyReadability, Tracker, TrackerKey, UnreadableKey } from '@tracker/db'
import type { BatteryLevelModel, TrackerModel } from '../graphql/models.ts'
import type {
  TrackerKeyStatus,
  TrackerKey as TrackerKeyType,
  UnreadableKey as UnreadableKeyType,
} from '../graphql/schema.generated.ts'

export function toBatteryLevel(level: BatteryLevel | null): BatteryLevelModel | null {
  return level ? (level.toUpperCase() as BatteryLevelModel) : null
}

export function toTrackerModel(row: Tracker): TrackerModel {
  return {
    id: row.id,
    name: row.name,
    isActive: row.is_active,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deactivatedAt: row.deactivated_at,
    lastSeenAt: row.last_seen_at,
    lastLocation:
      row.last_latitude !== null && row.last_longitude !== null
        ? { latitude: row.last_latitude, longitude: row.last_longitude }
        : null,
    lastNearestCity: row.last_nearest_city,
    battery: toBatteryLevel(row.battery_level),
  }
}

/** A key without its sealed private key: the row type says what the query may select. */
export type TrackerKeyRow = Pick<TrackerKey, 'tracker_id' | 'hashed_adv_key' | 'is_active' | 'created_at'>

export function toTrackerKeyStatus(readability: KeyReadability): TrackerKeyStatus {
  return readability.toUpperCase() as TrackerKeyStatus
}

/** `readability`: whether its sealed private key opens (never the key itself). */
export function toTrackerKey(row: TrackerKeyRow, readability: KeyReadability): TrackerKeyType {
  return {
    hashedAdvKey: row.hashed_adv_key,
    isActive: row.is_active,
    createdAt: row.created_at,
    status: toTrackerKeyStatus(readability),
  }
}

export function toUnreadableKey(key: UnreadableKey): UnreadableKeyType {
  return {
    hashedAdvKey: key.hashedAdvKey,
    trackerId: key.trackerId,
    status: toTrackerKeyStatus(key.reason),
    message: key.message,
  }
}
