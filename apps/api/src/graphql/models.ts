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

export type AlertKindModel = 'ENTER' | 'LEAVE' | 'NOT_SEEN' | 'BATTERY'

/** A place; trackerIds as stored (the Place.trackerIds resolver hides others' from a limited token). */
export interface PlaceModel {
  id: string
  name: string
  shape: 'CIRCLE' | 'POLYGON'
  center: LocationModel | null
  radiusM: number | null
  polygon: number[][][] | null
  trackerIds: string[] | null
  createdAt: Date
  updatedAt: Date
}

/** A rule; its place is a relation (loader). */
export interface AlertRuleModel {
  id: string
  name: string
  kind: AlertKindModel
  placeId: string | null
  hysteresisM: number | null
  confirmations: number | null
  notSeenSeconds: number | null
  batteryAtOrBelow: BatteryLevelModel | null
  trackerIds: string[] | null
  channelIds: string[]
  enabled: boolean
  muted: boolean
  createdAt: Date
  updatedAt: Date
}

/** An alert (alert_events); its rule, tracker, place and deliveries are relations (loaders). */
export interface AlertModel {
  id: string
  kind: AlertKindModel
  ruleId: string
  trackerId: string
  placeId: string | null
  occurredAfter: Date | null
  occurredBefore: Date
  confirmedAt: Date
  detectedAt: Date
  lateBySeconds: number
  location: LocationModel | null
  detail: string
  refined: boolean
  refinedAt: Date | null
  cancelled: boolean
  cancelledAt: Date | null
  cancelReason: string | null
}

/** One outbox row; its attempts are a relation (loader). */
export interface AlertDeliveryModel {
  id: string
  channelId: string
  channelName: string
  channelKind: 'WEBHOOK' | 'NTFY' | 'MQTT'
  action: 'FIRED' | 'CANCELLED'
  status: 'PENDING' | 'DELIVERED' | 'FAILED'
  gaveUp: boolean
  attempts: number
  lastError: string | null
  lastAttemptAt: Date | null
  lastStatusCode: number | null
  nextAttemptAt: Date | null
  deliveredAt: Date | null
  createdAt: Date
}
