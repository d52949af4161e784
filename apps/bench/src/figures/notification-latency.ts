import { TRACKER_CHANGED_CHANNEL, type TrackerDatabase } from '@tracker/db'
import pg from 'pg'
import { duration } from '../format.ts'
import { percentile, round } from '../stats.ts'

/** What the live and mqtt figures share: latency percentiles, and the bare LISTEN both measure beside. */
export interface LatencyStats {
  n: number
  p50Ms: number
  p95Ms: number
  timedOut: number
}

/** p50 and p95 of the samples that arrived; null samples count as timed out. */
export function latencyStats(values: (number | null)[]): LatencyStats {
  const seen = values.filter((v): v is number => v !== null)
  return {
    n: seen.length,
    p50Ms: round(percentile(seen, 50), 2),
    p95Ms: round(percentile(seen, 95), 2),
    timedOut: values.length - seen.length,
  }
}

export const latencyText = (s: LatencyStats) =>
  `p50 ${duration(s.p50Ms)}, p95 ${duration(s.p95Ms)} (n=${s.n}${s.timedOut ? `, ${s.timedOut} timed out` : ''})`

/** A bare LISTEN on tracker_changed: a pg client of its own on a server, the engine's LISTEN embedded. */
export async function bareListen(
  database: TrackerDatabase,
  url: string | undefined,
  applicationName: string,
  onPayload: (payload: string) => void,
): Promise<() => Promise<void>> {
  if (url) {
    const client = new pg.Client({ connectionString: url, application_name: applicationName })
    await client.connect()
    client.on('notification', (n) => onPayload(n.payload ?? ''))
    await client.query(`LISTEN ${TRACKER_CHANGED_CHANNEL}`)
    return () => client.end()
  }
  const listener = await database.listen(TRACKER_CHANGED_CHANNEL, { onNotification: onPayload })
  return () => listener.close()
}
