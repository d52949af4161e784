import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTrackerWithKeys, KeyOpener, type TrackerDatabase } from '@tracker/db'
import { simulatedTrackers } from '@tracker/findmy'
import { createOfflineGeocoder } from '@tracker/geocoder'
import {
  type ImportResult,
  insertReports,
  parseImporterEnv,
  type StorableReport,
  startImporter,
} from '@tracker/importer'
import { InProcessLockService } from '@tracker/locks'
import { openBenchDatabase } from '../bench-database.ts'
import type { GroundTruthFile } from '../child/simulator-child.ts'
import type { BenchContext } from '../context.ts'
import { duration, formatNumber, mb, rate } from '../format.ts'
import type { FigureResult, FigureRow } from '../results.ts'
import { RssSampler, type RssSummary } from '../rss-sampler.ts'
import type { ScaleSettings } from '../scales.ts'
import { startSimulatorProcess } from '../simulator-process.ts'
import { median, ratio, round } from '../stats.ts'
import { removeNow, removeOnExit } from '../temp-files.ts'
import { measureRefresherShare, NEW_HOURS, type RefresherShare } from './refresher-share.ts'

const SEED = 8
const DAYS = 7
/** Ids per endpoint request: the importer's default REPORT_ENDPOINT_BATCH_SIZE. */
const REQUEST_IDS = 5
/** "Flat memory": the importer's RSS may grow at most this much more than the bare insert's over a run. */
const FLAT_MEMORY_MB = 64
const TARGET = 0.5

export interface ImportRun {
  reports: number
  durationMs: number
  reportsPerS: number
  rss: RssSummary
}

export interface ImportRound {
  groundTruth: number
  simulatorGenerationMs: number
  first: ImportRun & {
    inserted: number
    duplicates: number
    rejected: Record<string, number>
    outcome: string
  }
  steady: ImportRun & { inserted: number; duplicates: number; outcome: string }
  /** Steady-state runs with and without the refresher (its share of the run). */
  refresher: RefresherShare
  bare: ImportRun & { statements: number }
}

/**
 * Figure 1. The real importer (startImporter, the simulator in its own process as the report
 * endpoint, decryption on the worker pool, the offline geocoder, insertReports) against a bare
 * `unnest` insert of the same rows, already decrypted and geocoded, in statements of the same size,
 * into a fresh database with the same trackers. Then the same import again (steady state: every
 * report is already stored and skipped before decryption) against the same baseline.
 */
export async function importFigure(
  ctx: BenchContext,
  settings: ScaleSettings['import'],
): Promise<FigureResult> {
  const started = performance.now()
  const rounds: ImportRound[] = []
  for (let round = 1; round <= settings.rounds; round++) {
    ctx.progress(`import: round ${round}/${settings.rounds}, ${settings.trackers} trackers`)
    rounds.push(await importRound(ctx, settings))
  }
  const first = median(rounds.map((r) => r.first.reportsPerS))
  const steady = median(rounds.map((r) => r.steady.reportsPerS))
  const bare = median(rounds.map((r) => r.bare.reportsPerS))
  const growth = median(rounds.map((r) => r.first.rss.growthMb))
  const bareGrowth = median(rounds.map((r) => r.bare.rss.growthMb))
  const laterGrowth = median(rounds.map((r) => r.first.rss.laterGrowthMb))
  const peak = median(rounds.map((r) => r.first.rss.peakMb))
  const barePeak = median(rounds.map((r) => r.bare.rss.peakMb))
  const reports = rounds[0]!.groundTruth
  const consistent = rounds.every((r) => r.first.inserted === r.groundTruth)
  const bareBaseline = {
    label: 'bare unnest insert of the same rows',
    value: bare,
    unit: 'reports/s',
    text: rate(bare, 'reports/s'),
  }
  const firstRatio = ratio(first, bare)
  const steadyRatio = ratio(steady, bare)
  const flat = growth - Math.max(0, bareGrowth) <= FLAT_MEMORY_MB
  const rows: FigureRow[] = [
    {
      id: 'import.first',
      label: `import, first run (fetch + decrypt + geocode + insert), ${formatNumber(reports)} reports`,
      measured: { value: first, unit: 'reports/s', text: rate(first, 'reports/s') },
      baseline: bareBaseline,
      ratio: firstRatio,
      target: `>= ${TARGET} of bare`,
      verdict: firstRatio !== null && firstRatio >= TARGET ? 'met' : 'not met',
      note:
        firstRatio !== null && firstRatio < TARGET
          ? 'decryption bound: one P-224 ECDH (~0.3 ms of CPU) per new report; see the decrypt figure'
          : undefined,
    },
    {
      id: 'import.steady',
      label: 'import, steady state (same reports again: skipped before decryption)',
      measured: { value: steady, unit: 'reports/s', text: rate(steady, 'reports/s') },
      baseline: bareBaseline,
      ratio: steadyRatio,
      target: `>= ${TARGET} of bare`,
      verdict: steadyRatio !== null && steadyRatio >= TARGET ? 'met' : 'not met',
    },
    {
      id: 'import.memory',
      label: 'import, RSS growth first -> last quarter of the first run (peak)',
      measured: {
        value: growth,
        unit: 'MB',
        text: `${mb(growth)} (2nd->4th quarter ${mb(laterGrowth)}; peak ${mb(peak)})`,
      },
      baseline: {
        label: 'the bare insert run',
        value: bareGrowth,
        unit: 'MB',
        text: `${mb(bareGrowth)} (peak ${mb(barePeak)})`,
      },
      ratio: ratio(peak, barePeak),
      target: `flat: growth <= bare's + ${FLAT_MEMORY_MB} MB`,
      verdict: flat ? 'met' : 'not met',
      note: `ratio: peak RSS over the bare run's peak; both include the geocoder index and the database engine when embedded, the importer also its decrypt workers${flat ? '' : ', whose garbage is collected lazily (their RSS rises, then falls back): a run this short cannot tell that from a leak; --scale large (1M reports) can, and the JSON has the RSS curve'}`,
    },
  ]
  rows.push(...refresherRows(rounds.map((r) => r.refresher)))
  const notes = [
    `${formatNumber(reports)} genuinely encrypted reports of ${settings.trackers} simulated trackers over ${DAYS} days (${settings.reportsPerDay} a day, with gaps), served by the simulator in a separate process, ${REQUEST_IDS} ids per request, REPORT_ENDPOINT_PAUSE 10 ms; statements of ${settings.insertBatchSize} rows.`,
    `The refresher rows: the importer's database (every report stored) gets its history materialized once as the periodic refresh would (aggregates over 48 h and 7 days, location_history built); then the newest ${NEW_HOURS} hours of reports are deleted before each of four steady-state runs (without, with, with, without the refresher; medians), so each run stores them again as a 6-hourly poll does: its inserts notify per tracker and hour, and at the end the importer announces its window with the trackers it touched (a notification per 150 trackers). The refresher (startRefresher, default settings, its periodic refresh not due) is started before the run and has finished its start-up catch-up. Statement time = the sum of the refresher's RefreshEvent durations (aggregate refreshes and location_history upkeeps) from the import's start until the refresher is idle, over the import's wall time. On the embedded engine those statements run in the same single database session as the importer's, in this process: while one runs the importer's next statement waits, so the share is time the import shared the engine, not CPU of another core. Process CPU (process.cpuUsage, every thread of this process: importer, decrypt workers, engine, refresher) is measured with the refresher until it is idle, without it until the import returns; their difference is the refresher's cost, noise included.`,
  ]
  if (!consistent)
    notes.push(
      `the importer stored ${rounds.map((r) => r.first.inserted).join('/')} reports where the simulator's ground truth has ${rounds.map((r) => r.groundTruth).join('/')}`,
    )
  return {
    name: 'import',
    title: 'Import',
    status: 'measured',
    durationS: (performance.now() - started) / 1000,
    rows,
    raw: { settings, rounds, consistent },
    notes,
  }
}

async function importRound(ctx: BenchContext, settings: ScaleSettings['import']): Promise<ImportRound> {
  const trackers = simulatedTrackers({ seed: SEED, trackers: settings.trackers })
  const groundTruthFile = removeOnExit(
    join(tmpdir(), `tracker-bench-truth-${process.pid}-${Date.now()}.json`),
  )
  // Whole seconds: the payload's timestamps are, and the ground truth must match what is served.
  const nowMs = Math.floor(Date.now() / 1000) * 1000
  const simulator = await startSimulatorProcess({
    seed: SEED,
    trackers: settings.trackers,
    reportsPerDay: settings.reportsPerDay,
    nowMs,
    days: DAYS,
    batchSize: REQUEST_IDS,
    groundTruthFile,
  })
  try {
    ctx.progress(
      `import: simulator ready (${formatNumber(simulator.reports)} reports generated in ${duration(simulator.generationMs)})`,
    )
    const secret = KeyOpener.generate().privateKey
    const opener = KeyOpener.fromPrivateKey(secret)
    const createTrackers = async (database: TrackerDatabase) => {
      const ids = new Map<string, string>()
      for (const tracker of trackers) {
        const row = await createTrackerWithKeys(database.db, opener, {
          name: tracker.name,
          keys: tracker.keys.map((k) => ({ hashedAdvKey: k.hashedAdvKey, privateKey: k.privateKey })),
        })
        for (const key of tracker.keys) ids.set(key.hashedAdvKey, row.id)
      }
      return ids
    }

    // The importer, exactly as its container runs it (minus the HTTP server and the schedule).
    const importerDb = await openBenchDatabase(ctx.env, { storage: 'disk' })
    let first: ImportResult
    let steady: ImportResult
    let firstRss: RssSummary
    let steadyRss: RssSummary
    let refresher: RefresherShare
    try {
      await createTrackers(importerDb.database)
      const config = parseImporterEnv({
        KEY_SEALING_PRIVATE_KEY: secret,
        REPORT_ENDPOINT_URL: simulator.url,
        REPORT_ENDPOINT_BATCH_SIZE: String(REQUEST_IDS),
        REPORT_ENDPOINT_PAUSE: '10 ms',
        IMPORT_LOOKBACK_DAYS: String(DAYS),
        IMPORT_ON_START: 'false',
        IMPORT_INSERT_BATCH_SIZE: String(settings.insertBatchSize),
        IMPORTER_HTTP_PORT: '0',
        LOG_LEVEL: ctx.env.logLevel,
      })
      const importer = await startImporter({
        database: importerDb.database,
        locks: new InProcessLockService(),
        logger: ctx.logger.child({ app: 'importer' }),
        config,
        http: false,
        schedule: false,
      })
      try {
        ctx.progress('import: first run')
        let sampler = await RssSampler.start()
        first = await importer.runNow('manual')
        firstRss = await sampler.stop()
        ctx.progress(`import: first run ${first.outcome} in ${duration(first.durationMs)}; steady-state run`)
        sampler = await RssSampler.start()
        steady = await importer.runNow('manual')
        steadyRss = await sampler.stop()
        refresher = await measureRefresherShare(
          ctx,
          importerDb.database,
          () => importer.runNow('manual'),
          nowMs,
        )
      } finally {
        await importer.stop()
      }
    } finally {
      await importerDb.close()
    }
    if (first.outcome !== 'succeeded') throw new Error(`the first import run ended ${first.outcome}`)
    if (steady.outcome !== 'succeeded') throw new Error(`the steady-state import run ended ${steady.outcome}`)

    // The baseline: the same rows, decrypted and geocoded beforehand, inserted bare.
    ctx.progress('import: bare insert of the ground truth')
    const truth = JSON.parse(readFileSync(groundTruthFile, 'utf8')) as GroundTruthFile
    const bareDb = await openBenchDatabase(ctx.env, { storage: 'disk' })
    let bare: ImportRound['bare']
    try {
      const trackerIds = await createTrackers(bareDb.database)
      const statements = await baselineStatements(truth, trackerIds, settings.insertBatchSize)
      const sampler = await RssSampler.start()
      const t0 = performance.now()
      let inserted = 0
      for (const statement of statements) inserted += await insertReports(bareDb.database.db, statement)
      const durationMs = performance.now() - t0
      const rss = await sampler.stop()
      if (inserted !== truth.key.length)
        throw new Error(`the bare insert stored ${inserted} of ${truth.key.length} rows`)
      bare = {
        reports: inserted,
        durationMs,
        reportsPerS: (inserted / durationMs) * 1000,
        rss,
        statements: statements.length,
      }
    } finally {
      await bareDb.close()
    }

    const totals = (result: ImportResult) => result.totals!
    return {
      groundTruth: truth.key.length,
      simulatorGenerationMs: round(simulator.generationMs),
      first: {
        reports: totals(first).reportsInserted,
        durationMs: round(first.durationMs),
        reportsPerS: round((totals(first).reportsInserted / first.durationMs) * 1000),
        inserted: totals(first).reportsInserted,
        duplicates: totals(first).reportsDuplicate,
        rejected: totals(first).rejected,
        outcome: first.outcome,
        rss: firstRss,
      },
      steady: {
        reports: totals(steady).reportsFetched,
        durationMs: round(steady.durationMs),
        reportsPerS: round((totals(steady).reportsFetched / steady.durationMs) * 1000),
        inserted: totals(steady).reportsInserted,
        duplicates: totals(steady).reportsDuplicate,
        outcome: steady.outcome,
        rss: steadyRss,
      },
      refresher,
      bare: { ...bare, durationMs: round(bare.durationMs), reportsPerS: round(bare.reportsPerS) },
    }
  } finally {
    await simulator.stop()
    removeNow(groundTruthFile)
  }
}

/**
 * The ground truth as the importer would store it, in the statements it would send: reports grouped
 * by endpoint request (REQUEST_IDS trackers each), each group cut into statements of `batchSize`.
 */
async function baselineStatements(
  truth: GroundTruthFile,
  trackerIds: Map<string, string>,
  batchSize: number,
): Promise<StorableReport[][]> {
  // Same geocoder and distance limit as the importer's default (GEOCODER_MAX_DISTANCE_KM=50).
  const geocoder = createOfflineGeocoder({ maxDistanceKm: 50 })
  const byRequest = new Map<number, StorableReport[]>()
  const places = await geocoder.lookupMany(
    truth.latitude.map((latitude, i) => ({ latitude, longitude: truth.longitude[i]! })),
  )
  for (let i = 0; i < truth.key.length; i++) {
    const hashedAdvKey = truth.ids[truth.key[i]!]!
    const request = Math.floor(truth.key[i]! / REQUEST_IDS)
    const rows = byRequest.get(request) ?? []
    rows.push({
      hashedAdvKey,
      trackerId: trackerIds.get(hashedAdvKey)!,
      timestamp: new Date(truth.timestampMs[i]!),
      latitude: truth.latitude[i]!,
      longitude: truth.longitude[i]!,
      horizontalAccuracy: truth.horizontalAccuracy[i]!,
      confidence: truth.confidence[i]!,
      status: truth.status[i]!,
      nearestCity: places[i]?.label ?? null,
      publishedAt: new Date(truth.publishedMs[i]!),
    })
    byRequest.set(request, rows)
  }
  const statements: StorableReport[][] = []
  for (const request of [...byRequest.keys()].sort((a, b) => a - b)) {
    const rows = byRequest.get(request)!
    for (let i = 0; i < rows.length; i += batchSize) statements.push(rows.slice(i, i + batchSize))
  }
  return statements
}

/** The refresher's share of a steady-state import: its statements' time, and process CPU with vs without it. */
function refresherRows(shares: RefresherShare[]): FigureRow[] {
  const m = (pick: (s: RefresherShare) => number) => round(median(shares.map(pick)))
  const statementsMs = m((s) => s.with.statementsMs)
  const importMs = m((s) => s.with.importMs)
  const share = m((s) => s.with.share)
  const cpuWith = m((s) => s.with.cpuMs)
  const cpuWithout = m((s) => s.without.cpuMs)
  const untilIdle = m((s) => s.with.untilIdleMs)
  const wallWithout = m((s) => s.without.importMs)
  const runs = shares.flatMap((s) => s.runs.filter((r) => r.refresher))
  const inserted = median(runs.map((r) => r.inserted))
  const notifications = median(runs.map((r) => r.notifications))
  const statements = median(runs.map((r) => r.statements.length))
  const afterImportMs = round(median(runs.map((r) => r.statementsAfterImportMs)))
  const allStored = shares[0]!.allStored
  const percent = (v: number) => `${formatNumber(v * 100)}%`
  return [
    {
      id: 'import.refresher.share',
      label: `refresher during a steady-state import (newest ${NEW_HOURS} h new again: ${formatNumber(inserted)} reports, ${formatNumber(notifications)} notifications)`,
      measured: {
        value: statementsMs,
        unit: 'ms',
        text: `${duration(statementsMs)} of statements (${formatNumber(statements)}), ${percent(share)} of the import's wall time`,
      },
      baseline: {
        label: "the import's wall time, same run",
        value: importMs,
        unit: 'ms',
        text: duration(importMs),
      },
      // The share: per run, statement time over that run's wall time (median of the runs).
      ratio: share,
      target: null,
      verdict: 'info',
      note: `${duration(afterImportMs)} of the statements ran after the import had returned (the queue draining); with every report already stored (the steady-state row above) the run inserted ${formatNumber(allStored.inserted)} reports, ${formatNumber(allStored.notifications)} notifications came, the refresher ran ${allStored.statements.length} statements (${duration(allStored.statementsMs)})`,
    },
    {
      id: 'import.refresher.cpu',
      label: 'process CPU of that import, refresher running (until idle)',
      measured: {
        value: cpuWith,
        unit: 'ms',
        text: `${duration(cpuWith)} CPU in ${duration(untilIdle)} (import ${duration(importMs)}, then the refresher until idle)`,
      },
      baseline: {
        label: 'the same import without the refresher',
        value: cpuWithout,
        unit: 'ms',
        text: `${duration(cpuWithout)} CPU in ${duration(wallWithout)}`,
      },
      ratio: ratio(cpuWith, cpuWithout),
      target: null,
      verdict: 'info',
      note: `difference ${duration(cpuWith - cpuWithout)} of CPU: the embedded engine runs both apps' statements in this process, so CPU is only separable as with vs without`,
    },
  ]
}
