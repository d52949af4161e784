import { type HistoryPoint, type HistoryRequest, historyPage } from '../api/queries.ts'

/** At most this many points per tracker are fetched for one range: the page never asks for more than it can show. */
export const MAX_POINTS_PER_TRACKER = 5_000
/** Requests in flight at once (the browser's own limit per origin over HTTP/1.1). */
const CONCURRENCY = 6

export interface TrackerHistory {
  trackerId: string
  /** Oldest first, as the API orders them. */
  points: HistoryPoint[]
  /** True when the range held more than MAX_POINTS_PER_TRACKER points: the oldest are kept, the rest not fetched. */
  cut: boolean
}

/** Every page of one request, until the range is exhausted or the tracker's allowance is spent. */
async function fetchAll(request: HistoryRequest, allowance: number) {
  const points: HistoryPoint[] = []
  let after: string | null = null
  for (;;) {
    const page = await historyPage({ ...request, after })
    points.push(...page.points)
    if (!page.truncated || !page.pageInfo.endCursor) return { points, cut: false }
    if (points.length >= allowance) return { points: points.slice(0, allowance), cut: true }
    after = page.pageInfo.endCursor
  }
}

async function runPooled<T>(tasks: (() => Promise<T>)[], concurrency: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length)
  let next = 0
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++
      results[index] = await tasks[index]!()
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, tasks.length) }, worker))
  return results
}

/** The history of several trackers, each request paged through, a few requests at a time. */
export async function loadHistories(requests: Map<string, HistoryRequest[]>): Promise<TrackerHistory[]> {
  const entries = [...requests]
  const flat = entries.flatMap(([trackerId, list]) => list.map((request) => ({ trackerId, request })))
  const results = await runPooled(
    flat.map(
      ({ request }) =>
        () =>
          fetchAll(request, MAX_POINTS_PER_TRACKER),
    ),
    CONCURRENCY,
  )
  return entries.map(([trackerId]) => {
    const seen = new Set<string>()
    const points: HistoryPoint[] = []
    let cut = false
    flat.forEach((entry, index) => {
      if (entry.trackerId !== trackerId) return
      const result = results[index]!
      cut ||= result.cut
      for (const point of result.points) {
        if (seen.has(point.id)) continue
        seen.add(point.id)
        points.push(point)
      }
    })
    points.sort((a, b) => a.timestamp.localeCompare(b.timestamp))
    if (points.length > MAX_POINTS_PER_TRACKER) {
      points.length = MAX_POINTS_PER_TRACKER
      cut = true
    }
    return { trackerId, points, cut }
  })
}
