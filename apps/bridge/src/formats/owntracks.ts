import type { TrackerState } from '../trackers/tracker-state.ts'
import { batteryPercent } from './battery.ts'

/**
 * OwnTracks' tid (the two letters Frontend and the apps draw on the map): the initials of the first
 * two words of the name, else its first two letters or digits, upper case; "TR" for a name with none.
 */
export function ownTracksTid(name: string): string {
  const words = name.match(/[\p{L}\p{N}]+/gu) ?? []
  const letters =
    words.length >= 2
      ? `${[...words[0]!][0]}${[...words[1]!][0]}`
      : [...(words[0] ?? '')].slice(0, 2).join('')
  return (letters || 'TR').toUpperCase()
}

/**
 * An OwnTracks `_type: location` message (the OwnTracks JSON format): lat/lon in degrees, tst the
 * report's time in epoch seconds, acc the accuracy in whole metres and batt a percentage, both only
 * when known (both optional in the format), tid for the map.
 */
export function ownTracksLocation(
  tracker: TrackerState & { lastSeenAt: Date; latitude: number; longitude: number },
): Record<string, unknown> {
  const battery = batteryPercent(tracker.batteryLevel)
  return {
    _type: 'location',
    tid: ownTracksTid(tracker.name),
    lat: tracker.latitude,
    lon: tracker.longitude,
    tst: Math.floor(tracker.lastSeenAt.getTime() / 1000),
    ...(tracker.accuracy !== null ? { acc: Math.round(tracker.accuracy) } : {}),
    ...(battery !== null ? { batt: battery } : {}),
  }
}

/** An OwnTracks card: the name Recorder and Frontend show for the device. */
export function ownTracksCard(tracker: TrackerState): Record<string, unknown> {
  return { _type: 'card', name: tracker.name }
}
