import { randomBytes } from 'node:crypto'
import {
  type Database,
  DEFAULT_RETENTION,
  type Kysely,
  type Logger,
  silentLogger,
  sql,
  type TrackerDatabase,
} from '@tracker/db'
import {
  HistoryEngine,
  type HistoryObserver,
  type RefreshTrigger,
  type RunContext,
  refreshContinuousAggregate,
} from '@tracker/history'

export const HOUR_MS = 3_600_000
export const DAY_MS = 86_400_000
export const hourStart = (ms: number): number => Math.floor(ms / HOUR_MS) * HOUR_MS
export const dayStart = (ms: number): number => Math.floor(ms / DAY_MS) * DAY_MS

export interface SeededTracker {
  id: string
  hashedAdvKey: string
}

export interface SeedOptions {
  trackers: number
  /** One report a day, at about noon, for each of the `dailyDays` days before today. */
  dailyDays: number
  /**
   * One report an hour, 7 minutes past, for each of the `hourlyHours` hours before the current one,
   * and (when not 0) one in the current hour, so location_history holds the hour a recent report lands in.
   */
  hourlyHours: number
  now: Date
  /** Names (and so keys) are `${prefix} ${n}`: several seeds can share a database. */
  prefix: string
  /** Trackers per INSERT statement. */
  batch?: number
}

export interface SeedResult {
  trackers: SeededTracker[]
  reports: number
  durationMs: number
}

/**
 * History generated in SQL, a batch of trackers per statement: trackers, their keys (a 44-character
 * hashed key, placeholder sealed bytes) and one `INSERT ... SELECT generate_series` of raw reports.
 * The insert triggers run as for any insert. Daily reports fall on half seconds, hourly ones on
 * whole minutes, so the two series never share a (tracker, key, timestamp).
 */
export async function seedHistory(db: Kysely<Database>, options: SeedOptions): Promise<SeedResult> {
  const started = performance.now()
  const batch = options.batch ?? 250
  const now = options.now.toISOString()
  let reports = 0
  for (let from = 1; from <= options.trackers; from += batch) {
    const to = Math.min(options.trackers, from + batch - 1)
    const names = sql`SELECT ${options.prefix} || ' ' || i AS name FROM generate_series(${from}::int, ${to}::int) AS i`
    await sql`
      WITH t AS (INSERT INTO trackers (name) ${names} RETURNING id, name)
      INSERT INTO tracker_keys (tracker_id, hashed_adv_key, private_key_encrypted)
      SELECT id, encode(sha256(convert_to(name, 'UTF8')), 'base64'), '\\x00'::bytea FROM t`.execute(db)
    const result = await sql`
      INSERT INTO location_reports
        (hashed_adv_key, "timestamp", tracker_id, latitude, longitude, horizontal_accuracy, confidence, status, nearest_city)
      SELECT k.hashed_adv_key, s.ts, k.tracker_id,
             40 + (abs(hashtext(tr.name)) % 1500) / 100.0 + random() * 0.05,
             -5 + (abs(hashtext(tr.name || 'lon')) % 2500) / 100.0 + random() * 0.05,
             10 + (abs(hashtext(tr.name)) % 50), 2, 0, 'Bench City, EU'
        FROM trackers tr
        JOIN tracker_keys k ON k.tracker_id = tr.id
       CROSS JOIN LATERAL (
             SELECT date_trunc('day', ${now}::timestamptz) - d * INTERVAL '1 day' + INTERVAL '12 hours'
                    + (abs(hashtext(tr.name)) % 3000) * INTERVAL '1 second' + INTERVAL '500 milliseconds' AS ts
               FROM generate_series(1, ${options.dailyDays}::int) AS d
             UNION ALL
             SELECT date_trunc('hour', ${now}::timestamptz) - h * INTERVAL '1 hour' + INTERVAL '7 minutes'
               FROM generate_series(1, ${options.hourlyHours}::int) AS h
             UNION ALL
             SELECT greatest(date_trunc('hour', ${now}::timestamptz), ${now}::timestamptz - INTERVAL '1 minute')
              WHERE ${options.hourlyHours}::int > 0) AS s
       WHERE tr.name IN (${names})
      ON CONFLICT DO NOTHING`.execute(db)
    reports += Number(result.numAffectedRows ?? 0n)
  }
  const trackers = await sql<SeededTracker>`
    SELECT t.id, k.hashed_adv_key AS "hashedAdvKey"
      FROM trackers t JOIN tracker_keys k ON k.tracker_id = t.id
     WHERE t.name LIKE ${`${options.prefix} %`}
     ORDER BY t.created_at, t.name`.execute(db)
  return { trackers: trackers.rows, reports, durationMs: performance.now() - started }
}

export interface FullRefreshResult {
  hourlyMs: number
  dailyMs: number
  /** The history engine's first build of location_history (its first upkeep, the table empty). */
  locationHistoryMs: number
}

/** Days of the daily aggregate refreshed per statement: one refresh over a year of 10 000 trackers exhausts the embedded engine. */
const DAILY_REFRESH_STEP_DAYS = 30

/** The history engine as the apps open it (default retention), with the bench's observers. */
export function openHistoryEngine(
  database: TrackerDatabase,
  options: { logger?: Logger; observers?: HistoryObserver[] } = {},
): Promise<HistoryEngine> {
  return HistoryEngine.open({
    database,
    retention: DEFAULT_RETENTION,
    logger: options.logger ?? silentLogger,
    observers: options.observers ?? [],
  })
}

/** A run context for engine calls the bench makes itself (never cancelled). */
export const benchRun = (trigger: RefreshTrigger = 'manual'): RunContext => ({
  trigger,
  runId: `bench-${randomBytes(4).toString('hex')}`,
  signal: new AbortController().signal,
})

/**
 * Materializes a freshly seeded history once, before any retention job could run: the hourly
 * aggregate over its periodic window (48 hours: as far back as the hourly tier reaches), the daily
 * one over the whole history (in 30-day windows, oldest first: the same rows as one refresh, in
 * smaller transactions; the engine would clip a year to what raw retention leaves safe, so these are
 * called directly), then location_history's first build by the history engine (its first upkeep:
 * location_history_state says the table was never built, so it builds it whole).
 */
export async function refreshSeededHistory(
  database: TrackerDatabase,
  now: Date,
  days: number,
  progress: (step: string) => void = () => {},
): Promise<FullRefreshResult> {
  const time = async (fn: (session: Kysely<Database>) => Promise<unknown>) => {
    const t0 = performance.now()
    await database.withSession(fn)
    return performance.now() - t0
  }
  progress('hourly aggregate, last 48 hours')
  const hourlyMs = await time((s) =>
    refreshContinuousAggregate(s, 'location_history_hourly', {
      from: new Date(hourStart(now.getTime()) - 48 * HOUR_MS),
      to: now,
    }),
  )
  progress(`daily aggregate, ${days} days`)
  let dailyMs = 0
  const end = now.getTime()
  for (let from = dayStart(end) - (days + 1) * DAY_MS; from < end; from += DAILY_REFRESH_STEP_DAYS * DAY_MS) {
    const to = new Date(Math.min(end, from + DAILY_REFRESH_STEP_DAYS * DAY_MS))
    dailyMs += await time((s) =>
      refreshContinuousAggregate(s, 'location_history_daily', { from: new Date(from), to }),
    )
  }
  progress('location_history, first build by the history engine')
  const engine = await openHistoryEngine(database)
  const t0 = performance.now()
  await engine.upkeep([], benchRun())
  const locationHistoryMs = performance.now() - t0
  return { hourlyMs, dailyMs, locationHistoryMs }
}
