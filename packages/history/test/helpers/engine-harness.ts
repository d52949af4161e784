import { randomBytes } from 'node:crypto'
import {
  DEFAULT_RETENTION,
  REFRESH_REQUEST_CHANNEL,
  silentLogger,
  sql,
  type TrackerDatabase,
} from '@tracker/db'
import { ChangeSet, HistoryEngine, parseHistoryChange, type RunContext } from '../../src/index.ts'

export const HOUR_MS = 3_600_000
export const DAY_MS = 86_400_000
export const hourStart = (ms: number) => Math.floor(ms / HOUR_MS) * HOUR_MS
export const dayStart = (ms: number) => Math.floor(ms / DAY_MS) * DAY_MS

export const context = (trigger: RunContext['trigger'] = 'manual'): RunContext => ({
  trigger,
  runId: randomBytes(4).toString('hex'),
  signal: new AbortController().signal,
})

/** A clock the test moves; starts at the real time (the database's now() is the real time too). */
export class TestClock {
  #offsetMs = 0
  now = (): Date => new Date(Date.now() + this.#offsetMs)
  advance(ms: number): void {
    this.#offsetMs += ms
  }
}

export async function openEngine(database: TrackerDatabase, clock = new TestClock()) {
  const engine = await HistoryEngine.open({
    database,
    retention: DEFAULT_RETENTION,
    logger: silentLogger,
    clock: clock.now,
  })
  return { engine, clock }
}

/**
 * The refresher's path without the refresher: collects what refresh_location_history announces and
 * hands it to the engine as one batch.
 */
export async function notificationFeed(database: TrackerDatabase) {
  const payloads: string[] = []
  const listener = await database.listen(REFRESH_REQUEST_CHANNEL, { onNotification: (p) => payloads.push(p) })
  return {
    payloads,
    /** Everything announced so far as one change set (emptied). */
    take(): ChangeSet {
      const changes = new ChangeSet()
      for (const payload of payloads.splice(0)) {
        const change = parseHistoryChange(payload)
        if (change) changes.add(change)
      }
      return changes
    },
    close: () => listener.close(),
  }
}

/** Waits until the notifications of statements already committed have arrived (a round trip to the listener). */
export async function settle(database: TrackerDatabase, feed: { payloads: string[] }): Promise<void> {
  const marker = `settle-${randomBytes(4).toString('hex')}`
  await sql`SELECT pg_notify(${REFRESH_REQUEST_CHANNEL}, ${marker})`.execute(database.db)
  const deadline = Date.now() + 30_000
  while (!feed.payloads.includes(marker)) {
    if (Date.now() > deadline) throw new Error('notifications did not arrive within 30 s')
    await new Promise((r) => setTimeout(r, 5))
  }
  feed.payloads.splice(feed.payloads.indexOf(marker), 1)
}

/** xmin of each of a tracker's location_history rows: changes when a row is rewritten. */
export async function rowVersions(
  database: TrackerDatabase,
  trackerId: string,
): Promise<Map<string, string>> {
  const { rows } = await sql<{ key: string; version: string }>`
    SELECT bucket_size || ' ' || "timestamp"::text AS key, xmin::text AS version
      FROM location_history WHERE tracker_id = ${trackerId}::uuid`.execute(database.db)
  return new Map(rows.map((r) => [r.key, r.version]))
}

/** A tracker's location_history rows, oldest first. */
export function historyRows(database: TrackerDatabase, trackerId: string) {
  return database.db
    .selectFrom('location_history')
    .selectAll()
    .where('tracker_id', '=', trackerId)
    .orderBy('timestamp')
    .execute()
}
