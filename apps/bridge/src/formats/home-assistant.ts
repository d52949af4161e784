import type { TrackerState } from '../trackers/tracker-state.ts'
import { batteryPercent } from './battery.ts'
import type { BridgeTopics } from './topics.ts'

export const BRIDGE_ORIGIN = { name: 'Tracker MQTT bridge', sw_version: '0.1.0' } as const

/**
 * The discovery config of a tracker's device_tracker (Home Assistant's MQTT device tracker,
 * "Using the discovery protocol"): GPS coordinates come through `json_attributes_topic`, so there is
 * no `state_topic` (HA documents it as optional then; a state would override the zone HA derives
 * from the coordinates). `name: null` names the entity after its device (the tracker's name), as
 * HA documents for an entity that is its device's only feature. The device groups it in HA's device
 * registry; availability follows the bridge's Last Will.
 */
export function homeAssistantConfig(tracker: TrackerState, topics: BridgeTopics): Record<string, unknown> {
  return {
    name: null,
    unique_id: `tracker_${tracker.id}`,
    device: {
      identifiers: [`tracker_${tracker.id}`],
      name: tracker.name,
      model: 'Find My tracker (OpenHaystack)',
      manufacturer: 'OpenHaystack',
    },
    availability_topic: topics.status,
    payload_available: 'online',
    payload_not_available: 'offline',
    json_attributes_topic: topics.homeAssistantAttributes(tracker.id),
    source_type: 'gps',
    icon: 'mdi:map-marker-radius',
    qos: 1,
    origin: BRIDGE_ORIGIN,
  }
}

/**
 * The JSON attributes that place the entity: latitude, longitude and gps_accuracy (metres) are the
 * keys HA reads for the location; battery_level (percent, see battery.ts), last_seen (ISO 8601, the
 * report's time) and nearest_city are shown as attributes. Unknown values are left out.
 */
export function homeAssistantAttributes(
  tracker: TrackerState & { lastSeenAt: Date; latitude: number; longitude: number },
): Record<string, unknown> {
  const battery = batteryPercent(tracker.batteryLevel)
  return {
    latitude: tracker.latitude,
    longitude: tracker.longitude,
    ...(tracker.accuracy !== null ? { gps_accuracy: tracker.accuracy } : {}),
    ...(battery !== null ? { battery_level: battery } : {}),
    last_seen: tracker.lastSeenAt.toISOString(),
    ...(tracker.nearestCity !== null ? { nearest_city: tracker.nearestCity } : {}),
  }
}
