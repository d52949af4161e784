import { setTimeout as sleep } from 'node:timers/promises'
import { buildApp, createApiToken, parseApiEnv } from '@tracker/api'
import { KeyOpener, sql } from '@tracker/db'
import { ChangeSet, type HistoryEngine, type RefreshEvent } from '@tracker/history'
import { insertReports } from '@tracker/importer'
import { InProcessLockService } from '@tracker/locks'
import {
  MemoryLastRefreshStore,
  parseRefresherEnv,
  type RunningRefresher,
  startRefresher,
} from '@tracker/refresher'
import type { FastifyInstance } from 'fastify'
import { type BenchDatabase, openBenchDatabase } from '../bench-database.ts'
import type { BenchContext } from '../context.ts'
import {
  benchRun,
  DAY_MS,
  dayStart,
  type FullRefreshResult,
  HOUR_MS,
  hourStart,
  openHistoryEngine,
  refreshSeededHistory,
  type SeededTracker,
  seedHistory,
} from '../history-seed.ts'
import { percentile, round } from '../stats.ts'

/** A year of daily history and a day of hourly history, as the issue asks. */
export const HISTORY_DAYS = 365
export const HISTORY_HOURS = 24
const POLL_MS = 20

export type SampleKind = 'recent' | 'late'
export type SamplePath = 'refresher' | 'direct'

/** One statement of the history engine, as the JSON keeps it. */
export interface EngineStatement {
  object: string
  trigger: string
  outcome: string
  durationMs: number
}

export const statementOf = (event: RefreshEvent): EngineStatement => ({
  object: event.object,
  trigger: event.trigger,
  outcome: event.outcome,
  durationMs: round(event.durationMs),
})

export interface FreshnessSample {
  kind: SampleKind
  path: SamplePath
  /** From the insert's commit to the first answer of locationHistoryAggregated that shows the report. */
  latencyMs: number
  timedOut: boolean
  insertMs: number
  polls: number
  /** The resolution the report's point was answered at ('1 hour', or '1 day' before the hourly tier). */
  bucketSize: string | null
  /** The engine statements that ran meanwhile (the refresher's, or the direct path's own). */
  refreshes: EngineStatement[]
}

export interface FreshnessStats {
  n: number
  p50Ms: number
  p95Ms: number
  maxMs: number
  timedOut: number
}

export interface HistoryStage {
  bench: BenchDatabase
  trackers: number
  reports: number
  locationHistoryRows: number
  now: Date
  /** The tracker the freshness samples write to. */
  subject: SeededTracker
  /** Every seeded tracker (the subject first). */
  seeded: SeededTracker[]
  /** The bench's own history engine (the direct path), its statements collected in `events`. */
  engine: HistoryEngine
  events: RefreshEvent[]
  app: FastifyInstance
  token: string
  setup: { seedMs: number } & FullRefreshResult
  close(): Promise<void>
}

/**
 * A fresh database (embedded: in memory, or on disk where the history is large or sizes must
 * compare) with `trackers` trackers, each with a year of daily and a day of hourly history,
 * the aggregates materialized and location_history built once by the history engine (before any
 * retention job), and the API built on it (answering through inject).
 */
export async function prepareHistoryStage(
  ctx: BenchContext,
  trackers: number,
  storage: 'memory' | 'disk',
): Promise<HistoryStage> {
  const bench = await openBenchDatabase(ctx.env, { storage })
  try {
    const { database } = bench
    const now = new Date()
    const seeded = await seedHistory(database.db, {
      trackers,
      dailyDays: HISTORY_DAYS,
      hourlyHours: HISTORY_HOURS,
      now,
      prefix: 'tracker',
    })
    ctx.progress(
      `  seeded ${seeded.reports.toLocaleString('en-US')} reports in ${Math.round(seeded.durationMs / 1000)} s; materializing`,
    )
    const refreshed = await refreshSeededHistory(database, now, HISTORY_DAYS, (step) =>
      ctx.progress(`  materializing: ${step}`),
    )
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM location_history`.execute(
      database.db,
    )
    const events: RefreshEvent[] = []
    const engine = await openHistoryEngine(database, {
      logger: ctx.logger.child({ app: 'bench-engine' }),
      observers: [{ onRefresh: (event) => events.push(event) }],
    })
    const token = (await createApiToken(database.db, { name: 'bench', scope: 'read' })).token
    const app = await buildApp({
      database,
      locks: new InProcessLockService(),
      logger: ctx.logger.child({ app: 'api' }),
      config: parseApiEnv({
        KEY_SEALING_PUBLIC_KEY: KeyOpener.generate().publicKey,
        API_RATE_LIMIT_MAX: '1000000000',
        LOG_LEVEL: ctx.env.logLevel,
      }),
    })
    return {
      bench,
      trackers,
      reports: seeded.reports,
      locationHistoryRows: Number(rows[0]?.n ?? 0),
      now,
      subject: seeded.trackers[0]!,
      seeded: seeded.trackers,
      engine,
      events,
      app,
      token,
      setup: { seedMs: round(seeded.durationMs), ...refreshed },
      async close() {
        await app.close()
        await bench.close()
      },
    }
  } catch (error) {
    await bench.close().catch(() => {})
    throw error
  }
}

/** One report of `tracker` at `timestamp`, inserted as the importer inserts (the insert trigger notifies). */
export async function insertOneReport(
  stage: HistoryStage,
  tracker: SeededTracker,
  timestamp: number,
): Promise<number> {
  const t0 = performance.now()
  await insertReports(stage.bench.database.db, [
    {
      hashedAdvKey: tracker.hashedAdvKey,
      trackerId: tracker.id,
      timestamp: new Date(timestamp),
      latitude: 48.8566,
      longitude: 2.3522,
      horizontalAccuracy: 10,
      confidence: 2,
      status: 0,
      nearestCity: 'Paris, FR',
      publishedAt: new Date(),
    },
  ])
  return performance.now() - t0
}

/** What the insert trigger announces for one report: its hour, its tracker. */
export function reportChange(trackerId: string, timestamp: number): ChangeSet {
  const changes = new ChangeSet()
  const hour = hourStart(timestamp)
  changes.add({ window: { from: new Date(hour), to: new Date(hour + HOUR_MS) }, trackers: [trackerId] })
  return changes
}

/**
 * Where late reports go: 13:00 UTC of the day holding now - 36 h, about 34 to 46 hours old, below
 * both aggregates' watermarks (the seed materialized up to its start) and within the 48 hours the
 * hourly aggregate is refreshed over. Depending on the time of day that hour is in the hourly tier
 * (answered as an hourly point) or the day before it (one daily point): location_history holds it
 * either way.
 */
export const lateHour = (now: number): number => dayStart(now - 36 * HOUR_MS) + 13 * HOUR_MS

export interface FreshnessRun {
  direct: Record<SampleKind, FreshnessSample[]>
  refresher: Record<SampleKind, FreshnessSample[]>
  /** REFRESH_MIN_INTERVAL of the refresher measured (its default). */
  refresherMinIntervalMs: number
  /** The refresher's start-up catch-up (every tracker, the days a late report may still reach). */
  catchUp: EngineStatement[]
}

/**
 * Inserts single reports into the subject tracker and polls locationHistoryAggregated (every 20 ms,
 * through the API, bucketSize "1 hour" over the report's hour) until the point holding the report
 * shows it:
 * - recent: now, in the current hour, whose row location_history already holds (so the answer
 *   changes only when location_history is kept);
 * - late: about 36 hours ago, below both aggregates' watermarks (location_history computes its hour
 *   or day from the tracker's raw reports; the aggregates get it at the periodic refresh).
 * Direct path first (the baseline: the bench applies the change the trigger announces with its own
 * engine, `engine.applyChanges`, no notification, no queue), then the real refresher (startRefresher,
 * its default REFRESH_MIN_INTERVAL).
 */
export async function measureFreshness(
  ctx: BenchContext,
  stage: HistoryStage,
  samples: number,
): Promise<FreshnessRun> {
  const { database } = stage.bench
  const subject = stage.subject
  const config = parseRefresherEnv({
    REFRESHER_HTTP_PORT: '0',
    REFRESHER_HTTP_HOST: '127.0.0.1',
    LOG_LEVEL: ctx.env.logLevel,
  })
  const run: FreshnessRun = {
    direct: { recent: [], late: [] },
    refresher: { recent: [], late: [] },
    refresherMinIntervalMs: config.minIntervalMs,
    catchUp: [],
  }
  // Late reports land in one hour below the watermarks, one second apart.
  const late = lateHour(stage.now.getTime())
  let lateSeq = 0
  let lastRecent = 0
  let timeoutMs = 30_000
  const longest = (events: readonly RefreshEvent[]) => {
    for (const e of events) timeoutMs = Math.max(timeoutMs, 5 * e.durationMs)
  }

  /** The point holding `timestamp` (its hour, or its day before the hourly tier), if it shows it. */
  const visible = async (timestamp: number): Promise<string | null> => {
    const hour = hourStart(timestamp)
    const response = await stage.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { authorization: `Bearer ${stage.token}`, 'content-type': 'application/json' },
      payload: {
        query: `query($id: ID!, $s: DateTime!, $e: DateTime!) {
          locationHistoryAggregated(trackerId: $id, startTime: $s, endTime: $e, bucketSize: "1 hour") { timestamp bucketSize lastReportAt } }`,
        variables: {
          id: subject.id,
          s: new Date(hour).toISOString(),
          e: new Date(hour + HOUR_MS - 1).toISOString(),
        },
      },
    })
    const body = response.json() as {
      data?: { locationHistoryAggregated?: { timestamp: string; bucketSize: string; lastReportAt: string }[] }
      errors?: unknown[]
    }
    if (body.errors)
      throw new Error(`locationHistoryAggregated failed: ${JSON.stringify(body.errors).slice(0, 300)}`)
    const point = body.data?.locationHistoryAggregated?.find(
      (p) =>
        Date.parse(p.timestamp) <= timestamp &&
        timestamp < Date.parse(p.timestamp) + (p.bucketSize === '1 day' ? DAY_MS : HOUR_MS),
    )
    return point && Date.parse(point.lastReportAt) >= timestamp ? point.bucketSize : null
  }

  const hasHourRow = async (hour: number) => {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM location_history
       WHERE tracker_id = ${subject.id}::uuid AND bucket_size = '1 hour' AND "timestamp" = ${new Date(hour).toISOString()}::timestamptz`.execute(
      database.db,
    )
    return Number(rows[0]?.n ?? 0) > 0
  }

  /** The direct path: the change the insert trigger announces, applied at once by the bench's engine. */
  const applyDirectly = async (timestamp: number) => {
    const seen = stage.events.length
    await stage.engine.applyChanges(reportChange(subject.id, timestamp), benchRun('notification'))
    const events = stage.events.slice(seen)
    longest(events)
    return events
  }

  /** A recent sample needs its hour in location_history already: otherwise it shows at once (real-time aggregate). */
  const primeCurrentHour = async (refresher: RunningRefresher | null) => {
    for (;;) {
      const hour = hourStart(Date.now())
      if (await hasHourRow(hour)) return
      lastRecent = Math.max(lastRecent + 1, Date.now() - 5, hour)
      await insertOneReport(stage, subject, lastRecent)
      if (refresher) {
        const deadline = Date.now() + timeoutMs
        while (!(await hasHourRow(hour)) && Date.now() < deadline) await sleep(POLL_MS)
        await idle(refresher, run.refresherMinIntervalMs)
      } else {
        await applyDirectly(lastRecent)
      }
    }
  }

  const sample = async (
    kind: SampleKind,
    path: SamplePath,
    refresher: RunningRefresher | null,
    events: RefreshEvent[],
  ): Promise<FreshnessSample> => {
    if (kind === 'recent') await primeCurrentHour(refresher)
    if (refresher) await idle(refresher, run.refresherMinIntervalMs)
    const timestamp = kind === 'recent' ? Math.max(lastRecent + 1, Date.now()) : late + ++lateSeq * 1000
    if (kind === 'recent') lastRecent = timestamp
    const seen = events.length
    const insertMs = await insertOneReport(stage, subject, timestamp)
    const t0 = performance.now()
    if (path === 'direct') await applyDirectly(timestamp)
    let polls = 0
    let timedOut = false
    let bucketSize: string | null = null
    for (;;) {
      polls++
      bucketSize = await visible(timestamp)
      if (bucketSize) break
      if (performance.now() - t0 > timeoutMs) {
        timedOut = true
        break
      }
      await sleep(POLL_MS)
    }
    const latencyMs = performance.now() - t0
    const ran = events.slice(seen)
    longest(ran)
    return {
      kind,
      path,
      latencyMs: round(latencyMs),
      timedOut,
      insertMs: round(insertMs),
      polls,
      bucketSize,
      refreshes: ran.map(statementOf),
    }
  }

  const kinds = (i: number): SampleKind[] => (i % 2 === 0 ? ['recent', 'late'] : ['late', 'recent'])
  ctx.progress(`  freshness, direct path: ${samples} recent and ${samples} late samples`)
  for (let i = 0; i < samples; i++) {
    for (const kind of kinds(i)) run.direct[kind].push(await sample(kind, 'direct', null, stage.events))
  }

  ctx.progress(`  freshness, refresher: ${samples} recent and ${samples} late samples`)
  const events: RefreshEvent[] = []
  const refresher = await startMeasuredRefresher(ctx, database, config, events)
  try {
    // The start-up catch-up first: samples measure a refresher at rest.
    await caughtUp(refresher, events, 10 * timeoutMs)
    run.catchUp = events.map(statementOf)
    longest(events)
    for (let i = 0; i < samples; i++) {
      for (const kind of kinds(i))
        run.refresher[kind].push(await sample(kind, 'refresher', refresher, events))
    }
  } finally {
    await refresher.stop()
  }
  return run
}

/**
 * The real refresher on the bench's database, its statements collected in `events`. Its periodic
 * refresh is not due (it would otherwise start at once and share the engine); its start-up catch-up
 * runs as in production.
 */
export async function startMeasuredRefresher(
  ctx: BenchContext,
  database: BenchDatabase['database'],
  config: ReturnType<typeof parseRefresherEnv>,
  events: RefreshEvent[],
): Promise<RunningRefresher> {
  const lastRefresh = new MemoryLastRefreshStore()
  await lastRefresh.set(Date.now())
  return startRefresher({
    database,
    locks: new InProcessLockService(),
    logger: ctx.logger.child({ app: 'refresher' }),
    config,
    lastRefreshStore: lastRefresh,
    hooks: { onRefresh: (event) => events.push(event) },
  })
}

/** Until the refresher's start-up catch-up has kept location_history and nothing more is queued. */
export async function caughtUp(
  refresher: RunningRefresher,
  events: readonly RefreshEvent[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!events.some((e) => e.object === 'location_history' && e.trigger === 'catch_up')) {
    if (Date.now() > deadline)
      throw new Error(`the refresher's catch-up did not finish within ${timeoutMs} ms`)
    await sleep(POLL_MS)
  }
  await idle(refresher, 0)
}

/** Until the refresher has nothing running or queued, and its minimum interval has passed. */
export async function idle(refresher: RunningRefresher, minIntervalMs: number): Promise<void> {
  while (refresher.health().refreshing) await sleep(5)
  await sleep(minIntervalMs + 10)
}

export function freshnessStats(samples: readonly FreshnessSample[]): FreshnessStats {
  const latencies = samples.map((s) => s.latencyMs)
  return {
    n: samples.length,
    p50Ms: round(percentile(latencies, 50)),
    p95Ms: round(percentile(latencies, 95)),
    maxMs: round(latencies.reduce((m, l) => Math.max(m, l), 0)),
    timedOut: samples.filter((s) => s.timedOut).length,
  }
}
