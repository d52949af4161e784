import type { BucketSize } from '@tracker/db'
import type { HistoryRow } from '@tracker/history'
import type { HistoryPointModel } from '../graphql/models.ts'

/** Stable for a tracker, resolution and bucket, so clients can key points across calls. */
export function historyPointId(trackerId: string, bucketSize: BucketSize, timestamp: Date): string {
  return Buffer.from(`${trackerId}|${bucketSize}|${timestamp.toISOString()}`).toString('base64url')
}

export function toHistoryPoint(trackerId: string, row: HistoryRow): HistoryPointModel {
  return {
    id: historyPointId(trackerId, row.bucket_size, row.timestamp),
    trackerId,
    timestamp: row.timestamp,
    bucketSize: row.bucket_size,
    resolution: row.bucket_size === '1 hour' ? 'HOUR' : 'DAY',
    location: { latitude: row.latitude, longitude: row.longitude },
    nearestCity: row.nearest_city,
    accuracy: row.horizontal_accuracy,
    bestAccuracy: row.best_accuracy,
    reportCount: row.report_count,
    firstReportAt: row.first_report_at,
    lastReportAt: row.last_report_at,
    source: row.source === 'location_history' ? 'LOCATION_HISTORY' : 'CONTINUOUS_AGGREGATE',
  }
}
