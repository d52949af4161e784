import { graphql } from './client.ts'
import type { Battery } from './queries.ts'

export type AlertKind = 'ENTER' | 'LEAVE' | 'NOT_SEEN' | 'BATTERY'

export interface Place {
  id: string
  name: string
  shape: 'CIRCLE' | 'POLYGON'
  center: { latitude: number; longitude: number } | null
  radiusM: number | null
  /** GeoJSON Polygon coordinates: rings of [longitude, latitude]. */
  polygon: number[][][] | null
  trackerIds: string[] | null
}

export interface AlertDelivery {
  id: string
  channelName: string
  channelKind: 'WEBHOOK' | 'NTFY' | 'MQTT'
  action: 'FIRED' | 'CANCELLED'
  status: 'PENDING' | 'DELIVERED' | 'FAILED'
  gaveUp: boolean
  attempts: number
  lastError: string | null
  nextAttemptAt: string | null
  deliveredAt: string | null
}

export interface Alert {
  id: string
  kind: AlertKind
  rule: { id: string; name: string; notSeenSeconds: number | null; batteryAtOrBelow: Battery | null }
  tracker: { id: string; name: string }
  place: { id: string; name: string } | null
  occurredAfter: string | null
  occurredBefore: string
  detectedAt: string
  lateBySeconds: number
  location: { latitude: number; longitude: number } | null
  refined: boolean
  cancelled: boolean
  cancelReason: string | null
  deliveries: AlertDelivery[]
}

export interface AlertPage {
  alerts: Alert[]
  hasNextPage: boolean
  endCursor: string | null
}

const PLACE_FIELDS = 'id name shape center { latitude longitude } radiusM polygon trackerIds'

/** Every place the session may see, following the API's pages. */
export async function listPlaces(): Promise<Place[]> {
  const all: Place[] = []
  let after: string | null = null
  do {
    const {
      data,
    }: {
      data: { places: { nodes: Place[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } }
    } = await graphql(
      `query Places($after: String) { places(first: 100, after: $after) {
          nodes { ${PLACE_FIELDS} } pageInfo { hasNextPage endCursor } } }`,
      { after },
    )
    all.push(...data.places.nodes)
    after = data.places.pageInfo.hasNextPage ? data.places.pageInfo.endCursor : null
  } while (after)
  return all
}

/** Alerts shown per page. A literal in the query: the API's cost rule counts a variable at its maximum. */
export const ALERTS_PER_PAGE = 50

/** The alert history, newest first (by when it happened). */
export async function listAlerts(options: {
  trackerId: string | null
  includeCancelled: boolean
  after: string | null
}): Promise<AlertPage> {
  const { data } = await graphql<{
    alerts: { nodes: Alert[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } }
  }>(
    `query Alerts($trackerId: ID, $includeCancelled: Boolean, $after: String) {
      alerts(trackerId: $trackerId, includeCancelled: $includeCancelled, first: ${ALERTS_PER_PAGE}, after: $after) {
        nodes {
          id kind rule { id name notSeenSeconds batteryAtOrBelow } tracker { id name } place { id name }
          occurredAfter occurredBefore detectedAt lateBySeconds location { latitude longitude }
          refined cancelled cancelReason
          deliveries { id channelName channelKind action status gaveUp attempts lastError nextAttemptAt deliveredAt }
        }
        pageInfo { hasNextPage endCursor }
      }
    }`,
    options,
  )
  return {
    alerts: data.alerts.nodes,
    hasNextPage: data.alerts.pageInfo.hasNextPage,
    endCursor: data.alerts.pageInfo.endCursor,
  }
}

/** A circle place (write scope; a token limited to trackers must name its own). */
export async function createCirclePlace(input: {
  name: string
  latitude: number
  longitude: number
  radiusM: number
  trackerIds: string[] | null
}): Promise<Place> {
  const { data } = await graphql<{ createPlace: Place }>(
    `mutation CreatePlace($input: CreatePlaceInput!) { createPlace(input: $input) { ${PLACE_FIELDS} } }`,
    {
      input: {
        name: input.name,
        circle: { latitude: input.latitude, longitude: input.longitude, radiusM: input.radiusM },
        trackerIds: input.trackerIds,
      },
    },
  )
  return data.createPlace
}
