import { randomUUID } from 'node:crypto'
import {
  type ImportRun,
  type ImportRunTrigger,
  listImportableKeys,
  openTrackerKey,
  type PrivateKeyCipher,
  type RejectedCounts,
  type RetentionConfig,
  recordTrackerSighting,
  type SourceError,
  safeLateHorizonMs,
  type TrackerDatabase,
} from '@tracker/db'
import type { BatchResult, DecryptedReport, DecryptReportsResult, EndpointReport } from '@tracker/findmy'
import { decryptReports, peekPayload } from '@tracker/findmy'
import type { Geocoder } from '@tracker/geocoder'
import { LOCK_NAMES, type LockService } from '@tracker/locks'
import type { Logger } from 'pino'
import {
  finishRun,
  markInterruptedRuns,
  type RunTotals,
  recordProgress,
  startRun,
} from './import-run.repository.ts'
import { validateReport } from './report-validation.ts'
import { insertReports, knownReports, type StorableReport, signalRefresh } from './report-writer.ts'

/** Where reports come from: the report endpoint client (or anything speaking its protocol). */
export interface ReportSource {
  fetchBatches(ids: readonly string[], days: number, signal?: AbortSignal): AsyncIterable<BatchResult>
}

export interface ImportSettings {
  lookbackDays: number
  insertBatchSize: number
  clockSkewMs: number
  lockTtlMs: number
  retention: RetentionConfig
}

/** Decrypts a batch; the worker-thread pool in production, decryptReports inline by default. */
export type Decrypt = (
  privateKeys: ReadonlyMap<string, Buffer>,
  reports: readonly EndpointReport[],
) => Promise<DecryptReportsResult>

export interface ImportDependencies {
  database: TrackerDatabase
  decrypt?: Decrypt
  locks: LockService
  cipher: PrivateKeyCipher
  source: ReportSource
  geocoder: Geocoder | null
  logger: Logger
  settings: ImportSettings
  /** host:pid of this process, recorded in the ledger. */
  owner: string
  now?: () => Date
}

export type ImportOutcome = 'succeeded' | 'partial' | 'failed' | 'interrupted' | 'skipped_locked'

export interface ImportResult {
  outcome: ImportOutcome
  runId: string | null
  run: ImportRun | null
  totals: RunTotals | null
  durationMs: number
}

const emptyTotals = (): RunTotals => ({
  trackers: 0,
  keys: 0,
  reportsFetched: 0,
  reportsInserted: 0,
  reportsDuplicate: 0,
  rejected: {},
  sourceErrors: [],
  windowFrom: null,
  windowTo: null,
})

const count = (counts: RejectedCounts, reason: string, n = 1) => {
  counts[reason] = (counts[reason] ?? 0) + n
}

/**
 * One import: lock, fetch every active key's reports batch by batch, decrypt, validate, geocode,
 * insert idempotently, signal the refresher, move trackers' last-seen state, and keep the ledger.
 * Work is streamed batch by batch so memory stays flat however many reports a run brings.
 * `signal` asks for a graceful stop: the current batch is finished, the run is recorded interrupted.
 */
export async function runImport(
  deps: ImportDependencies,
  options: { trigger: ImportRunTrigger; signal?: AbortSignal },
): Promise<ImportResult> {
  const started = performance.now()
  const lock = await deps.locks.tryAcquire(LOCK_NAMES.import, deps.settings.lockTtlMs)
  if (!lock) {
    deps.logger.info({ lock: LOCK_NAMES.import }, 'another import run holds the lock; skipping this one')
    return {
      outcome: 'skipped_locked',
      runId: null,
      run: null,
      totals: null,
      durationMs: performance.now() - started,
    }
  }
  try {
    return await runLocked(deps, options, lock.signal, started)
  } finally {
    await lock.release()
  }
}

async function runLocked(
  deps: ImportDependencies,
  options: { trigger: ImportRunTrigger; signal?: AbortSignal },
  lockSignal: AbortSignal,
  started: number,
): Promise<ImportResult> {
  const { db } = deps.database
  const now = deps.now ?? (() => new Date())
  const run = await startRun(db, {
    owner: deps.owner,
    trigger: options.trigger,
    lookbackDays: deps.settings.lookbackDays,
  })
  const log = deps.logger.child({ runId: run.id })
  const interrupted = await markInterruptedRuns(db, run.id)
  if (interrupted.length > 0)
    log.warn({ interruptedRuns: interrupted }, 'earlier runs died half way; this run completes their work')
  log.info({ trigger: options.trigger, lookbackDays: deps.settings.lookbackDays }, 'import run started')

  const totals = emptyTotals()
  let stopReason: string | null = null
  let batchesOk = 0
  let batchesFailed = 0
  try {
    const keys = await loadKeys(deps, totals, log)
    const latestByTracker = new Map<string, DecryptedReport & { nearestCity: string | null }>()
    const abort = new AbortController()
    const stop = (reason: string) => {
      stopReason ??= reason
      abort.abort()
    }
    options.signal?.addEventListener('abort', () => stop('stopped by shutdown'), { once: true })
    lockSignal.addEventListener('abort', () => stop('lost the import lock'), { once: true })
    if (options.signal?.aborted) stop('stopped by shutdown')

    const ids = [...keys.keys()]
    if (ids.length > 0 && !stopReason) {
      for await (const batch of deps.source.fetchBatches(ids, deps.settings.lookbackDays, abort.signal)) {
        if (!batch.ok) {
          batchesFailed++
          const error: SourceError = {
            source: `batch ${batch.index + 1} (${batch.ids.length} keys)`,
            message: batch.error.message,
            ...(batch.error.status !== undefined ? { status: batch.error.status } : {}),
            at: new Date().toISOString(),
          }
          totals.sourceErrors.push(error)
          log.warn(
            { batch: batch.index + 1, keys: batch.ids.length, err: batch.error, attempts: batch.attempts },
            'report batch failed',
          )
        } else {
          batchesOk++
          await importBatch(deps, keys, batch, totals, latestByTracker, now(), log)
        }
        await recordProgress(db, run.id, totals)
        // A graceful stop lets the batch in hand finish, then ends the run.
        if (stopReason) break
      }
    }

    if (totals.reportsInserted > 0 && totals.windowFrom && totals.windowTo) {
      await signalRefresh(db, { from: totals.windowFrom, to: totals.windowTo }, run.id)
    }
    for (const report of latestByTracker.values()) {
      const trackerId = keys.get(report.hashedAdvKey)!.trackerId
      await recordTrackerSighting(db, {
        trackerId,
        seenAt: report.timestamp,
        latitude: report.latitude,
        longitude: report.longitude,
        nearestCity: report.nearestCity,
        batteryLevel: report.batteryLevel,
      })
    }

    const outcome: Exclude<ImportOutcome, 'skipped_locked'> = stopReason
      ? 'interrupted'
      : batchesFailed === 0
        ? 'succeeded'
        : batchesOk > 0
          ? 'partial'
          : 'failed'
    const finished = await finishRun(
      db,
      run.id,
      outcome,
      totals,
      stopReason ?? (batchesFailed > 0 ? `${batchesFailed} batch(es) failed` : null),
    )
    const durationMs = performance.now() - started
    log.info(
      {
        outcome,
        durationMs: Math.round(durationMs),
        trackers: totals.trackers,
        keys: totals.keys,
        fetched: totals.reportsFetched,
        inserted: totals.reportsInserted,
        duplicates: totals.reportsDuplicate,
        rejected: totals.rejected,
        sourceErrors: totals.sourceErrors.length,
      },
      'import run finished',
    )
    return { outcome, runId: run.id, run: finished, totals, durationMs }
  } catch (error) {
    log.error({ err: error }, 'import run failed')
    const finished = await finishRun(db, run.id, 'failed', totals, (error as Error).message).catch(() => null)
    return {
      outcome: 'failed',
      runId: run.id,
      run: finished,
      totals,
      durationMs: performance.now() - started,
    }
  }
}

interface KeyInfo {
  trackerId: string
  privateKey: Buffer
}

/** The active keys of active trackers, opened. A key that cannot be opened is a source error, not a silent skip. */
async function loadKeys(
  deps: ImportDependencies,
  totals: RunTotals,
  log: Logger,
): Promise<Map<string, KeyInfo>> {
  const keys = new Map<string, KeyInfo>()
  for (const stored of await listImportableKeys(deps.database.db)) {
    try {
      const opened = openTrackerKey(deps.cipher, stored)
      keys.set(opened.hashedAdvKey, { trackerId: opened.trackerId, privateKey: opened.privateKey })
    } catch (error) {
      totals.sourceErrors.push({
        source: `key ${stored.hashed_adv_key}`,
        message: (error as Error).message,
        at: new Date().toISOString(),
      })
      log.error({ hashedAdvKey: stored.hashed_adv_key, err: error }, 'cannot open a stored private key')
    }
  }
  totals.keys = keys.size
  totals.trackers = new Set([...keys.values()].map((k) => k.trackerId)).size
  return keys
}

async function importBatch(
  deps: ImportDependencies,
  keys: Map<string, KeyInfo>,
  batch: Extract<BatchResult, { ok: true }>,
  totals: RunTotals,
  latestByTracker: Map<string, DecryptedReport & { nearestCity: string | null }>,
  now: Date,
  log: Logger,
): Promise<void> {
  totals.reportsFetched += batch.reports.length
  // Every poll hands out the whole lookback again. A report whose (key, clear-text timestamp) is
  // already stored would be a duplicate anyway, so it is counted as one without paying for its
  // decryption (a P-224 ECDH, ~0.3 ms): steady-state runs decrypt only what is new.
  const peeked = batch.reports.map((report) => ({ report, peek: peekPayload(report.payload) }))
  const candidates = peeked.flatMap(({ report, peek }) => {
    const info = keys.get(report.id)
    return info && peek
      ? [{ trackerId: info.trackerId, hashedAdvKey: report.id, timestamp: peek.timestamp }]
      : []
  })
  const known = await knownReports(deps.database.db, candidates)
  const fresh: EndpointReport[] = []
  for (const { report, peek } of peeked) {
    if (peek && known.has(`${report.id}|${peek.timestamp.getTime()}`)) totals.reportsDuplicate++
    else fresh.push(report)
  }
  const batchKeys = new Map<string, Buffer>()
  for (const id of batch.ids) {
    const info = keys.get(id)
    if (info) batchKeys.set(id, info.privateKey)
  }
  const decrypt: Decrypt = deps.decrypt ?? (async (k, r) => decryptReports(k, r))
  const { reports, rejected } = await decrypt(batchKeys, fresh)
  for (const rejection of rejected) count(totals.rejected, rejection.reason)
  if (rejected.length > 0)
    log.debug(
      { rejected: rejected.slice(0, 5).map((r) => ({ reason: r.reason, message: r.message })) },
      'reports rejected',
    )

  const limits = {
    now,
    clockSkewMs: deps.settings.clockSkewMs,
    safeLateHorizonMs: safeLateHorizonMs(deps.settings.retention),
  }
  const valid: DecryptedReport[] = []
  for (const report of reports) {
    const rejection = validateReport(report, limits)
    if (rejection) count(totals.rejected, rejection)
    else valid.push(report)
  }

  const places = deps.geocoder ? await deps.geocoder.lookupMany(valid) : valid.map(() => null)
  const storable: StorableReport[] = valid.map((report, i) => ({
    hashedAdvKey: report.hashedAdvKey,
    trackerId: keys.get(report.hashedAdvKey)!.trackerId,
    timestamp: report.timestamp,
    latitude: report.latitude,
    longitude: report.longitude,
    horizontalAccuracy: report.horizontalAccuracy,
    confidence: report.confidence,
    status: report.status,
    nearestCity: places[i]?.label ?? null,
    publishedAt: report.publishedAt,
  }))

  for (let i = 0; i < storable.length; i += deps.settings.insertBatchSize) {
    const chunk = storable.slice(i, i + deps.settings.insertBatchSize)
    const inserted = await insertReports(deps.database.db, chunk)
    totals.reportsInserted += inserted
    totals.reportsDuplicate += chunk.length - inserted
    if (inserted > 0) widenWindow(totals, chunk)
    log.debug({ batch: batch.index + 1, rows: chunk.length, inserted }, 'report batch inserted')
  }

  storable.forEach((report, i) => {
    const latest = latestByTracker.get(report.trackerId)
    if (!latest || latest.timestamp < report.timestamp)
      latestByTracker.set(report.trackerId, { ...valid[i]!, nearestCity: report.nearestCity })
  })
}

function widenWindow(totals: RunTotals, reports: readonly StorableReport[]): void {
  for (const report of reports) {
    if (!totals.windowFrom || report.timestamp < totals.windowFrom) totals.windowFrom = report.timestamp
    if (!totals.windowTo || report.timestamp > totals.windowTo) totals.windowTo = report.timestamp
  }
}

export function processOwner(hostname: string): string {
  return `${hostname}:${process.pid}:${randomUUID().slice(0, 8)}`
}
