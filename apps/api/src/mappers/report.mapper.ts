import type { LocationReport } from '@tracker/db'
import { batteryLevelFromStatus } from '@tracker/findmy'
import type { LocationReportModel } from '../graphql/models.ts'
import { toBatteryLevel } from './tracker.mapper.ts'

export function toLocationReport(row: LocationReport): LocationReportModel {
  return {
    trackerId: row.tracker_id,
    timestamp: row.timestamp,
    hashedAdvKey: row.hashed_adv_key,
    location: { latitude: row.latitude, longitude: row.longitude },
    accuracy: row.horizontal_accuracy,
    confidence: row.confidence,
    status: row.status,
    battery: row.status === null ? null : toBatteryLevel(batteryLevelFromStatus(row.status)),
    nearestCity: row.nearest_city,
    publishedAt: row.published_at,
    insertedAt: row.inserted_at,
  }
}
