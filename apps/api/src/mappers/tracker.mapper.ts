import type {
  BatteryLevel,
  KeyReadability,
  StoredKeyReadability,
  Tracker,
  TrackerKey,
  UnreadableKey,
} from '@tracker/db'
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
export type TrackerKeyRow = Pick<
  TrackerKey,
  'tracker_id' | 'hashed_adv_key' | 'is_active' | 'created_at' | 'readability'
>

export function toTrackerKeyStatus(readability: KeyReadability | StoredKeyReadability): TrackerKeyStatus {
  return readability.toUpperCase() as TrackerKeyStatus
}

/** Its status is whether the importer could open it, as the importer recorded (never the key itself). */
export function toTrackerKey(row: TrackerKeyRow): TrackerKeyType {
  return {
    hashedAdvKey: row.hashed_adv_key,
    isActive: row.is_active,
    createdAt: row.created_at,
    status: toTrackerKeyStatus(row.readability),
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
