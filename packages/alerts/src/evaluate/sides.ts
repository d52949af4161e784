import type { BatteryThreshold } from '@tracker/db'
import { batteryLevelFromStatus } from '@tracker/findmy'
import { type PlaceGeometry, signedDistanceToPlace } from './place-distance.ts'

/**
 * Which side of a rule's line a report is on: 'in' (inside the place; battery at or below the
 * level), 'out', or null when it cannot tell (inside the hysteresis band, battery not reported):
 * a null report neither confirms nor breaks a change.
 */
export type Side = 'in' | 'out'

/**
 * Inside: on or within the boundary. Outside: farther than the boundary plus the margin. Between the
 * two the report says nothing, so a tracker sitting on the boundary, whose reports scatter by tens
 * of metres, does not flap in and out.
 */
export function placeSide(place: PlaceGeometry, hysteresisM: number) {
  return (report: { latitude: number; longitude: number }): Side | null => {
    const distance = signedDistanceToPlace(place, report.latitude, report.longitude)
    if (distance <= 0) return 'in'
    return distance > hysteresisM ? 'out' : null
  }
}

const BATTERY_RANK = { ok: 0, medium: 1, low: 2, critical: 3 } as const

/** 'in': the status byte reports a battery at or below `threshold`; null: no level reported. */
export function batterySide(threshold: BatteryThreshold) {
  return (report: { status: number | null }): Side | null => {
    const level = report.status === null ? null : batteryLevelFromStatus(report.status)
    if (level === null) return null
    return BATTERY_RANK[level] >= BATTERY_RANK[threshold] ? 'in' : 'out'
  }
}
