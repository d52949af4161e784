import { setTimeout as sleep } from 'node:timers/promises'
import { buildApp, createApiToken, parseApiEnv } from '@tracker/api'
import {
  type AggregateName,
  clipRefreshWindow,
  DAILY_AGGREGATE,
  DEFAULT_RETENTION,
  HOURLY_AGGREGATE,
  PrivateKeyCipher,
  refreshContinuousAggregate,
  refreshLocationHistory,
  sql,
} from '@tracker/db'
import { insertReports } from '@tracker/importer'
import { InProcessLockService } from '@tracker/locks'
import {
  MemoryLastRefreshStore,
  parseRefresherEnv,
  type RefreshEvent,
  type RunningRefresher,
  startRefresher,
} from '@tracker/refresher'
import type { FastifyInstance } from 'fastify'
import { type BenchDatabase, openBenchDatabase } from '../bench-database.ts'
import type { BenchContext } from '../context.ts'
import {
  DAY_MS,
  dayStart,
  type FullRefreshResult,
  HOUR_MS,
  hourStart,
  refreshSeededHistory,
  type SeededTracker,
  seedHistory,
} from '../history-seed.ts'
import { percentile, round } from '../stats.ts'

/** A year of daily history and a day of hourly history, as the issue asks. */
export const HISTORY_DAYS = 365
export const HISTORY_HOURS = 24
/** The refresher's least time between two refreshes, small for the benchmark (production: 2 s). */
export const REFRESH_MIN_INTERVAL_MS = 100
const POLL_MS = 20

export type SampleKind = 'recent' | 'late'
export type SamplePath = 'refresher' | 'direct'

export interface FreshnessSample {
  kind: SampleKind
  path: SamplePath
  /** From the insert's commit to the first answer of locationHistoryAggregated that shows the report. */
  latencyMs: number
  timedOut: boolean
  insertMs: number
  polls: number
  /** The refreshes that ran meanwhile (the refresher's, or the direct path's own). */
  refreshes: { object: string; trigger: string; durationMs: number }[]
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
  subject: SeededTracker
  app: FastifyInstance
  token: string
  setup: { seedMs: number } & FullRefreshResult
  close(): Promise<void>
}

/**
 * A fresh database with `trackers` trackers, each with a year of daily and a day of hourly history,
 * materialized once (before any retention job), and the API built on it (answering through inject).
 */
export async function prepareHistoryStage(ctx: BenchContext, trackers: number): Promise<HistoryStage> {
  const bench = await openBenchDatabase(ctx.env, { storage: trackers >= 1_000 ? 'disk' : 'memory' })
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
    const token = (await createApiToken(database.db, { name: 'bench', scope: 'read' })).token
    const app = await buildApp({
      database,
      locks: new InProcessLockService(),
      logger: ctx.logger.child({ app: 'api' }),
      config: parseApiEnv({
        KEY_ENCRYPTION_KEY: PrivateKeyCipher.generateSecret(),
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

export interface FreshnessRun {
  direct: Record<SampleKind, FreshnessSample[]>
  refresher: Record<SampleKind, FreshnessSample[]>
  /** Every REFRESH MATERIALIZED VIEW CONCURRENTLY location_history the direct path timed. */
  locationHistoryRefreshMs: number[]
}

/**
 * Inserts single reports into the subject tracker and polls locationHistoryAggregated (every 20 ms,
 * through the API) until the point of the report's bucket shows it:
 * - recent: now, in the current hour, whose bucket location_history already holds (so the answer
 *   changes only when location_history is refreshed);
 * - late: about 36 hours ago, below both aggregates' watermarks (so the aggregates must be refreshed
 *   over its hour and day first).
 * Direct path first (the baseline: the test itself refreshes what the refresher would, no
 * notification, no queue), then the real refresher (startRefresher, REFRESH_MIN_INTERVAL 100 ms).
 */
export async function measureFreshness(
  ctx: BenchContext,
  stage: HistoryStage,
  samples: number,
): Promise<FreshnessRun> {
  const { database } = stage.bench
  const subject = stage.subject
  const run: FreshnessRun = {
    direct: { recent: [], late: [] },
    refresher: { recent: [], late: [] },
    locationHistoryRefreshMs: [],
  }
  // Late reports land in one day bucket below the watermarks, one second apart.
  const lateDay = dayStart(stage.now.getTime() - 36 * HOUR_MS)
  let lateSeq = 0
  let lastRecent = 0
  let timeoutMs = 30_000

  const insert = async (timestamp: number) => {
    const t0 = performance.now()
    await insertReports(database.db, [
      {
        hashedAdvKey: subject.hashedAdvKey,
        trackerId: subject.id,
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

  const visible = async (kind: SampleKind, timestamp: number): Promise<boolean> => {
    const bucket = kind === 'recent' ? hourStart(timestamp) : dayStart(timestamp)
    const response = await stage.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { authorization: `Bearer ${stage.token}`, 'content-type': 'application/json' },
      payload: {
        query: `query($id: ID!, $s: DateTime!, $e: DateTime!, $b: String!) {
          locationHistoryAggregated(trackerId: $id, startTime: $s, endTime: $e, bucketSize: $b) { timestamp lastReportAt } }`,
        variables: {
          id: subject.id,
          s: new Date(bucket).toISOString(),
          e: new Date(bucket + (kind === 'recent' ? HOUR_MS : DAY_MS) - 1).toISOString(),
          b: kind === 'recent' ? '1 hour' : '1 day',
        },
      },
    })
    const body = response.json() as {
      data?: { locationHistoryAggregated?: { timestamp: string; lastReportAt: string }[] }
      errors?: unknown[]
    }
    if (body.errors)
      throw new Error(`locationHistoryAggregated failed: ${JSON.stringify(body.errors).slice(0, 300)}`)
    const point = body.data?.locationHistoryAggregated?.find((p) => Date.parse(p.timestamp) === bucket)
    return point !== undefined && Date.parse(point.lastReportAt) >= timestamp
  }

  const hasHourRow = async (hour: number) => {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM location_history
       WHERE tracker_id = ${subject.id}::uuid AND bucket_size = '1 hour' AND "timestamp" = ${new Date(hour).toISOString()}::timestamptz`.execute(
      database.db,
    )
    return Number(rows[0]?.n ?? 0) > 0
  }

  const timedRefreshLocationHistory = async () => {
    const t0 = performance.now()
    await database.withSession((session) => refreshLocationHistory(session))
    const ms = performance.now() - t0
    run.locationHistoryRefreshMs.push(round(ms))
    timeoutMs = Math.max(timeoutMs, 5 * ms)
    return ms
  }

  const refreshAggregate = async (aggregate: AggregateName, timestamp: number) => {
    const window = clipRefreshWindow(
      DEFAULT_RETENTION,
      aggregate,
      { from: new Date(hourStart(timestamp)), to: new Date(hourStart(timestamp) + HOUR_MS) },
      new Date(),
    )
    if (!window) return null
    const t0 = performance.now()
    await database.withSession((session) => refreshContinuousAggregate(session, aggregate, window))
    return performance.now() - t0
  }

  /** A recent sample needs its hour in location_history already: otherwise it shows at once (real-time aggregate). */
  const primeCurrentHour = async (refresher: RunningRefresher | null) => {
    for (;;) {
      const hour = hourStart(Date.now())
      if (await hasHourRow(hour)) return
      lastRecent = Math.max(lastRecent + 1, Date.now() - 5, hour)
      await insert(lastRecent)
      if (refresher) {
        const deadline = Date.now() + timeoutMs
        while (!(await hasHourRow(hour)) && Date.now() < deadline) await sleep(POLL_MS)
        await idle(refresher)
      } else {
        await timedRefreshLocationHistory()
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
    if (refresher) await idle(refresher)
    const timestamp =
      kind === 'recent' ? Math.max(lastRecent + 1, Date.now()) : lateDay + 13 * HOUR_MS + ++lateSeq * 1000
    if (kind === 'recent') lastRecent = timestamp
    const seen = events.length
    const refreshes: FreshnessSample['refreshes'] = []
    const insertMs = await insert(timestamp)
    const t0 = performance.now()
    if (path === 'direct') {
      // What the refresher would do for this notification, done here without it.
      if (kind === 'late') {
        for (const aggregate of [HOURLY_AGGREGATE, DAILY_AGGREGATE] as const) {
          const ms = await refreshAggregate(aggregate, timestamp)
          if (ms !== null) refreshes.push({ object: aggregate, trigger: 'direct', durationMs: round(ms) })
        }
      }
      refreshes.push({
        object: 'location_history',
        trigger: 'direct',
        durationMs: round(await timedRefreshLocationHistory()),
      })
    }
    let polls = 0
    let timedOut = false
    for (;;) {
      polls++
      if (await visible(kind, timestamp)) break
      if (performance.now() - t0 > timeoutMs) {
        timedOut = true
        break
      }
      await sleep(POLL_MS)
    }
    const latencyMs = performance.now() - t0
    for (const event of events.slice(seen)) {
      refreshes.push({ object: event.object, trigger: event.trigger, durationMs: round(event.durationMs) })
      if (event.object === 'location_history') timeoutMs = Math.max(timeoutMs, 5 * event.durationMs)
    }
    return { kind, path, latencyMs: round(latencyMs), timedOut, insertMs: round(insertMs), polls, refreshes }
  }

  const kinds = (i: number): SampleKind[] => (i % 2 === 0 ? ['recent', 'late'] : ['late', 'recent'])
  ctx.progress(`  freshness, direct path: ${samples} recent and ${samples} late samples`)
  for (let i = 0; i < samples; i++) {
    for (const kind of kinds(i)) run.direct[kind].push(await sample(kind, 'direct', null, []))
  }

  ctx.progress(`  freshness, refresher: ${samples} recent and ${samples} late samples`)
  const events: RefreshEvent[] = []
  // Not due: the periodic refresh (hourly) would otherwise start at once and share the engine.
  const lastRefresh = new MemoryLastRefreshStore()
  await lastRefresh.set(Date.now())
  const refresher = await startRefresher({
    database,
    locks: new InProcessLockService(),
    logger: ctx.logger.child({ app: 'refresher' }),
    config: parseRefresherEnv({
      REFRESH_MIN_INTERVAL: `${REFRESH_MIN_INTERVAL_MS} ms`,
      REFRESHER_HTTP_PORT: '0',
      REFRESHER_HTTP_HOST: '127.0.0.1',
      LOG_LEVEL: ctx.env.logLevel,
    }),
    lastRefreshStore: lastRefresh,
    hooks: { onRefresh: (event) => events.push(event) },
  })
  try {
    // The start-up catch-up refresh first: samples measure a refresher at rest.
    const deadline = Date.now() + 10 * timeoutMs
    while (
      !events.some((e) => e.object === 'location_history' && e.trigger === 'catch_up') &&
      Date.now() < deadline
    )
      await sleep(POLL_MS)
    for (let i = 0; i < samples; i++) {
      for (const kind of kinds(i))
        run.refresher[kind].push(await sample(kind, 'refresher', refresher, events))
    }
  } finally {
    await refresher.stop()
  }
  return run
}

/** Until the refresher has nothing running or queued, and its minimum interval has passed. */
async function idle(refresher: RunningRefresher): Promise<void> {
  while (refresher.health().refreshing) await sleep(5)
  await sleep(REFRESH_MIN_INTERVAL_MS + 10)
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
