import type { BatteryLevel } from '@tracker/db'

/**
 * The status byte's battery level (bits 7-6, when bit 5 says the firmware reports it) carries four
 * steps, not a percentage. Home Assistant's battery_level and OwnTracks' batt want a percentage, so
 * each step is given one: full 100, medium 50, low 25, critical 10 (the upper part of each step's
 * range, so that "low" and "critical" still trigger the usual "below 30 %" and "below 15 %"
 * automations). Unknown (no battery bits) is left out of both messages.
 */
export const BATTERY_PERCENT: Record<BatteryLevel, number> = {
  ok: 100,
  medium: 50,
  low: 25,
  critical: 10,
}

export function batteryPercent(level: BatteryLevel | null): number | null {
  return level === null ? null : BATTERY_PERCENT[level]
}
