import { graphql } from './client.ts'

export type TrackerStatus = 'ACTIVE' | 'STALE' | 'LOST' | 'INACTIVE'
export type Battery = 'OK' | 'MEDIUM' | 'LOW' | 'CRITICAL'

export interface TrackerKey {
  hashedAdvKey: string
  isActive: boolean
  status: string
}

export interface Tracker {
  id: string
  name: string
  currentStatus: TrackerStatus
  isActive: boolean
  lastSeenAt: string | null
  lastLocation: { latitude: number; longitude: number } | null
  lastNearestCity: string | null
  battery: Battery | null
  keys: TrackerKey[]
}

interface TrackerPage {
  nodes: Tracker[]
  pageInfo: { hasNextPage: boolean; endCursor: string | null }
}

/** Every field the page shows of a tracker: the list's query and the live trackerUpdated ask the same. */
export const TRACKER_FIELDS = `id name currentStatus isActive lastSeenAt lastLocation { latitude longitude }
  lastNearestCity battery keys { hashedAdvKey isActive status }`

/** Every tracker, following the API's pages (it caps one page at API_PAGE_SIZE_MAX). */
export async function listTrackers(): Promise<Tracker[]> {
  const all: Tracker[] = []
  let after: string | null = null
  do {
    const { data }: { data: { trackers: TrackerPage } } = await graphql<{
      trackers: { nodes: Tracker[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } }
    }>(
      `query Trackers($after: String) { trackers(first: 100, after: $after) {
        nodes { ${TRACKER_FIELDS} } pageInfo { hasNextPage endCursor } } }`,
      { after },
    )
    all.push(...data.trackers.nodes)
    after = data.trackers.pageInfo.hasNextPage ? data.trackers.pageInfo.endCursor : null
  } while (after)
  return all
}

export interface HistoryPoint {
  id: string
  timestamp: string
  resolution: 'HOUR' | 'DAY'
  location: { latitude: number; longitude: number }
  nearestCity: string | null
  accuracy: number | null
  reportCount: number
}

export interface HistoryPage {
  points: HistoryPoint[]
  truncated: boolean
  pageInfo: { endCursor: string | null }
}

export const HISTORY_PAGE_QUERY = `query History($trackerId: ID!, $startTime: DateTime!, $endTime: DateTime!,
  $bucketSize: String!, $after: String) {
  locationHistoryPage(trackerId: $trackerId, startTime: $startTime, endTime: $endTime,
    bucketSize: $bucketSize, after: $after) {
    points { id timestamp resolution location { latitude longitude } nearestCity accuracy reportCount }
    truncated pageInfo { endCursor }
  }
}`

export interface HistoryRequest {
  trackerId: string
  startTime: string
  endTime: string
  bucketSize: '1 hour' | '1 day'
  after?: string | null
}

export async function historyPage(request: HistoryRequest): Promise<HistoryPage> {
  const { data } = await graphql<{ locationHistoryPage: HistoryPage }>(HISTORY_PAGE_QUERY, {
    ...request,
    after: request.after ?? null,
  })
  return data.locationHistoryPage
}

export async function importKeyFile(
  fileName: string,
  content: string,
  name: string | null,
): Promise<Tracker[]> {
  const { data } = await graphql<{ importKeyFile: Tracker[] }>(
    `mutation Upload($fileName: String!, $content: String!, $name: String) {
      importKeyFile(fileName: $fileName, content: $content, name: $name) { ${TRACKER_FIELDS} } }`,
    { fileName, content, name },
  )
  return data.importKeyFile
}

export async function renameTracker(id: string, name: string): Promise<Tracker> {
  const { data } = await graphql<{ renameTracker: Tracker }>(
    `mutation Rename($id: ID!, $name: String!) { renameTracker(id: $id, name: $name) { ${TRACKER_FIELDS} } }`,
    { id, name },
  )
  return data.renameTracker
}

export async function setTrackerActive(id: string, active: boolean): Promise<Tracker> {
  const field = active ? 'reactivateTracker' : 'deactivateTracker'
  const { data } = await graphql<Record<string, Tracker>>(
    `mutation Active($id: ID!) { ${field}(id: $id) { ${TRACKER_FIELDS} } }`,
    { id },
  )
  return data[field]!
}

export async function removeTrackerKey(trackerId: string, hashedAdvKey: string): Promise<Tracker> {
  const { data } = await graphql<{ removeTrackerKey: Tracker }>(
    `mutation RemoveKey($trackerId: ID!, $key: String!) {
      removeTrackerKey(trackerId: $trackerId, hashedAdvKey: $key) { ${TRACKER_FIELDS} } }`,
    { trackerId, key: hashedAdvKey },
  )
  return data.removeTrackerKey
}

export interface ImportRun {
  id: string
  status: string
  trigger: string
  startedAt: string
  finishedAt: string | null
  trackers: number
  reportsFetched: number
  reportsInserted: number
  reportsDuplicate: number
  rejected: { reason: string; count: number }[]
  sourceErrors: { source: string; message: string; status: number | null; at: string }[]
  error: string | null
}

export interface EndpointHealth {
  totals: { outcome: string; count: number }[]
  streak: { failingRequests: number; outcome: string | null; since: string | null; lastOkAt: string | null }
}

export async function importRunsAndHealth(): Promise<{ runs: ImportRun[]; health: EndpointHealth }> {
  const { data } = await graphql<{ importRuns: { nodes: ImportRun[] }; endpointHealth: EndpointHealth }>(
    `query Runs { importRuns(first: 20) { nodes { id status trigger startedAt finishedAt trackers reportsFetched
        reportsInserted reportsDuplicate rejected { reason count } sourceErrors { source message status at } error } }
      endpointHealth(hours: 24) { totals { outcome count } streak { failingRequests outcome since lastOkAt } } }`,
  )
  return { runs: data.importRuns.nodes, health: data.endpointHealth }
}
