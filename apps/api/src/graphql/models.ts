import type { BucketSize } from '@tracker/db'

/**
 * The API's view of the data, as the mappers produce it from database rows. GraphQL fields with
 * the same name resolve from these directly; relations (a point's tracker, a tracker's keys) and
 * computed fields (a tracker's status) have their own resolvers or loaders.
 */
export type BatteryLevelModel = 'OK' | 'MEDIUM' | 'LOW' | 'CRITICAL'

export interface LocationModel {
  latitude: number
  longitude: number
}

export interface TrackerModel {
  id: string
  name: string
  isActive: boolean
  createdAt: Date
  updatedAt: Date
  deactivatedAt: Date | null
  lastSeenAt: Date | null
  lastLocation: LocationModel | null
  lastNearestCity: string | null
  battery: BatteryLevelModel | null
}

export type ResolutionModel = 'HOUR' | 'DAY'
export type HistorySourceModel = 'LOCATION_HISTORY' | 'CONTINUOUS_AGGREGATE'

export interface HistoryPointModel {
  id: string
  trackerId: string
  timestamp: Date
  bucketSize: BucketSize
  resolution: ResolutionModel
  location: LocationModel
  nearestCity: string | null
  accuracy: number | null
  bestAccuracy: number | null
  reportCount: number
  firstReportAt: Date
  lastReportAt: Date
  source: HistorySourceModel
}

export interface LocationReportModel {
  trackerId: string
  timestamp: Date
  hashedAdvKey: string
  location: LocationModel
  accuracy: number | null
  confidence: number | null
  status: number | null
  battery: BatteryLevelModel | null
  nearestCity: string | null
  publishedAt: Date | null
  insertedAt: Date
}

export interface PageInfoModel {
  hasNextPage: boolean
  endCursor: string | null
}

export interface Page<T> {
  nodes: T[]
  pageInfo: PageInfoModel
}
