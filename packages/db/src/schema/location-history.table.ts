import type { Selectable } from 'kysely'

/**
 * One bucket of a tracker's history. The position is one the tracker actually reported in the
 * bucket (its latest report there), never an average of coordinates.
 */
export interface LocationBucketColumns {
  tracker_id: string
  bucket: Date
  latitude: number
  longitude: number
  nearest_city: string | null
  /** Accuracy of the report whose position the bucket shows. */
  horizontal_accuracy: number | null
  best_accuracy: number | null
  report_count: number
  first_report_at: Date
  last_report_at: Date
}

/** Continuous aggregate, 1-hour buckets, real-time aggregation on. */
export type LocationHistoryHourlyView = LocationBucketColumns
/** Continuous aggregate, 1-day buckets, real-time aggregation on. */
export type LocationHistoryDailyView = LocationBucketColumns

export type BucketSize = '1 hour' | '1 day'

/** Hourly buckets for the last 24 hours, daily buckets before: one shape for both tiers. */
export interface LocationHistoryViewRow {
  tracker_id: string
  timestamp: Date
  bucket_size: BucketSize
  latitude: number
  longitude: number
  nearest_city: string | null
  horizontal_accuracy: number | null
  best_accuracy: number | null
  report_count: number
  first_report_at: Date
  last_report_at: Date
}

export type LocationHistoryView = LocationHistoryViewRow
/** Materialized view over location_history_view, refreshed by the refresher. */
export type LocationHistoryMaterialized = LocationHistoryViewRow
export type LocationHistoryRow = Selectable<LocationHistoryMaterialized>
