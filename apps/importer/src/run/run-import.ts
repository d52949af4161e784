import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  type ImportRun,
  type ImportRunTrigger,
  type KeyOpener,
  listImportableKeys,
  openStoredKeys,
  type RetentionConfig,
  recentMaxReportsPerKey,
  recordKeyReadability,
  recordTrackerSighting,
  type SourceError,
  safeLateHorizonMs,
  type TrackerDatabase,
  type UnreadableKey,
} from '@tracker/db'
import type { BatchResult } from '@tracker/findmy'
import type { Geocoder } from '@tracker/geocoder'
import { type HeldLock, LOCK_NAMES, type LockService } from '@tracker/locks'
import type { Logger } from 'pino'
import { type EndpointLimit, EndpointLimitTracker } from './coverage-gaps.ts'
import {
  finishRun,
  markInterruptedRuns,
  type RunTotals,
  recordNotStarted,
  recordProgress,
  startRun,
} from './import-run.repository.ts'
import { lookAhead } from './look-ahead.ts'
import {
  commitBatch,
  countRequests,
  type Decrypt,
  type KeyInfo,
  type PrepareContext,
  prepareBatch,
  type Sighting,
} from './report-batch.ts'
import { signalRefresh } from './report-writer.ts'

export type { Decrypt }

/**
 * Endpoint batches fetched and prepared (checked, decrypted, geocoded) ahead of the one being
 * inserted: while batch N is inserted, N+1 is decrypted and N+2 fetched and checked, its decryption
 * queued behind N+1's, so the workers are not left idle between batches nor at a batch's last chunk.
 * On 2 cores one batch ahead measured the same (the process is already CPU-bound then); two keep
 * more workers fed on bigger machines and absorb a slow request. Memory: at most three batches.
 */
const LOOK_AHEAD_BATCHES = 2

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
  /** How many reports per key the endpoint gives at most ('auto': learnt from its answers). */
  endpointReportsPerKey: EndpointLimit
}

export interface ImportDependencies {
  database: TrackerDatabase
  decrypt?: Decrypt
  locks: LockService
  /** Opens the sealed keys: the importer's private key (and, until `keys reseal`, KEY_ENCRYPTION_KEY). */
  opener: KeyOpener
  source: ReportSource
  geocoder: Geocoder | null
  logger: Logger
  settings: ImportSettings
  /** host:pid of this process, recorded in the ledger. */
  owner: string
  /**
   * The keys this run cannot open (called every run, with none too). Default: each is logged; the
   * importer logs a key once while it stays unreadable.
   */
  onUnreadableKeys?: (keys: UnreadableKey[]) => void
  /** Only these trackers' keys (the adaptive poller's due trackers); default: every active tracker. */
  onlyTrackers?: readonly string[]
  now?: () => Date
}

/**
 * skipped_locked: another run holds the import lock (nothing recorded: that run is the one working).
 * not_started: the lock backend could not be reached, so no run could start (recorded, with the reason).
 */
export type ImportOutcome =
  | 'succeeded'
  | 'partial'
  | 'failed'
  | 'interrupted'
  | 'skipped_locked'
  | 'not_started'

export interface ImportResult {
  outcome: ImportOutcome
  runId: string | null
  run: ImportRun | null
  totals: RunTotals | null
  durationMs: number
  /** Why the run failed or could not start. */
  error?: string
  /** What the run found per tracker it stored or heard from (the adaptive poller's feedback). */
  activity?: ReadonlyMap<string, TrackerActivity>
}

/** Per tracker, what one run found: reports new to the database, and whether an answer was full. */
export interface TrackerActivity {
  newReports: number
  /** The most new reports one of its keys brought. */
  maxNewPerKey: number
  /** Some key's answer was as full as the endpoint gives (see coverage gaps). */
  fullAnswer: boolean
  /** The most reports per key the endpoint gives, as the run knew it (below 2: unknown). */
  limit: number
}

export interface ImportRunOptions {
  trigger: ImportRunTrigger
  signal?: AbortSignal
  /**
   * How long to keep trying for the import lock while it is held or its backend unreachable (e.g.
   * `--once` right after a dead run, whose lock lasts until its TTL). Default 0: one attempt.
   */
  waitForLockMs?: number
}

/** Lock attempts while waiting: the first retry after this, doubling up to the cap. */
const LOCK_WAIT_FIRST_DELAY_MS = 250
const LOCK_WAIT_MAX_DELAY_MS = 5_000

const emptyTotals = (): RunTotals => ({
  trackers: 0,
  keys: 0,
  reportsFetched: 0,
  reportsInserted: 0,
  reportsDuplicate: 0,
  rejected: {},
  sourceErrors: [],
  unreadableKeys: [],
  windowFrom: null,
  windowTo: null,
  endpointRequests: {},
  multiIdRetries: 0,
  multiIdRecoveredReports: 0,
  coverageGaps: 0,
  coverageGapMs: 0,
  maxReportsPerKey: 0,
})

/**
 * One import: lock, fetch every active key's reports batch by batch, decrypt, validate, geocode,
 * insert idempotently, signal the refresher, move trackers' last-seen state, and keep the ledger.
 * Work is streamed batch by batch so memory stays flat however many reports a run brings; the next
 * batches are fetched and decrypted while one is inserted (a bounded look-ahead), but nothing is
 * counted before it is committed. `signal` asks for a graceful stop: the batch being inserted is
 * finished, batches prepared ahead are dropped, the run is recorded interrupted.
 */
export async function runImport(deps: ImportDependencies, options: ImportRunOptions): Promise<ImportResult> {
  const started = performance.now()
  const lock = await acquireImportLock(deps, options)
  if (lock === null) {
    deps.logger.info({ lock: LOCK_NAMES.import }, 'another import run holds the lock; skipping this one')
    return resultWithoutRun('skipped_locked', started)
  }
  if (lock instanceof Error) return notStarted(deps, options, lock, started)
  try {
    return await runLocked(deps, options, lock.signal, started)
  } finally {
    await lock.release()
  }
}

/** The result of a run that never got as far as its ledger row (`started`: its performance.now()). */
export function resultWithoutRun(outcome: ImportOutcome, started: number, error?: string): ImportResult {
  return {
    outcome,
    runId: null,
    run: null,
    totals: null,
    durationMs: performance.now() - started,
    ...(error !== undefined ? { error } : {}),
  }
}

/**
 * The import lock, null when another run holds it, or the error that kept it from being asked for
 * (the backend unreachable: a LockUnavailableError). With `waitForLockMs`, both are tried again with
 * backoff until that time has passed or the run is stopped.
 */
async function acquireImportLock(
  deps: ImportDependencies,
  options: ImportRunOptions,
): Promise<HeldLock | Error | null> {
  const deadline = Date.now() + (options.waitForLockMs ?? 0)
  let delay = LOCK_WAIT_FIRST_DELAY_MS
  for (let attempt = 1; ; attempt++) {
    let outcome: HeldLock | Error | null
    try {
      outcome = await deps.locks.tryAcquire(LOCK_NAMES.import, deps.settings.lockTtlMs)
    } catch (error) {
      // Whatever the backend threw, this run cannot start; the process must not die of it.
      outcome = error instanceof Error ? error : new Error(String(error))
    }
    if (outcome !== null && !(outcome instanceof Error)) return outcome
    if (options.signal?.aborted || Date.now() + delay > deadline) return outcome
    if (attempt === 1) {
      deps.logger.info(
        {
          lock: LOCK_NAMES.import,
          reason: outcome ? outcome.message : 'held by another run',
          waitMs: deadline - Date.now(),
        },
        'waiting for the import lock',
      )
    }
    await sleep(delay, undefined, options.signal ? { signal: options.signal } : {}).catch(() => {})
    delay = Math.min(delay * 2, LOCK_WAIT_MAX_DELAY_MS)
  }
}

/** The lock backend is unreachable: logged and recorded (if the database answers), never thrown. */
async function notStarted(
  deps: ImportDependencies,
  options: ImportRunOptions,
  error: Error,
  started: number,
): Promise<ImportResult> {
  const reason = `could not start: ${error.message}`
  deps.logger.error(
    { err: error, lock: LOCK_NAMES.import, trigger: options.trigger },
    'import run could not start: the lock backend is unreachable',
  )
  const run = await recordNotStarted(deps.database.db, {
    owner: deps.owner,
    trigger: options.trigger,
    lookbackDays: deps.settings.lookbackDays,
    reason,
  }).catch((ledgerError: unknown) => {
    deps.logger.error({ err: ledgerError }, 'could not record the run that could not start in import_runs')
    return null
  })
  return { ...resultWithoutRun('not_started', started, reason), runId: run?.id ?? null, run }
}

async function runLocked(
  deps: ImportDependencies,
  options: ImportRunOptions,
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
    if (totals.unreadableKeys.length > 0) await recordProgress(db, run.id, totals)
    const latestByTracker = new Map<string, Sighting>()
    const activity = new Map<string, TrackerActivity>()
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
      const prepare: PrepareContext = {
        db,
        keys,
        decrypt: deps.decrypt,
        geocoder: deps.geocoder,
        limits: {
          now,
          clockSkewMs: deps.settings.clockSkewMs,
          safeLateHorizonMs: safeLateHorizonMs(deps.settings.retention),
        },
        log,
        signal: abort.signal,
        coverage: {
          limit: new EndpointLimitTracker(
            deps.settings.endpointReportsPerKey,
            await recentMaxReportsPerKey(db),
          ),
          since: () => new Date(now().getTime() - deps.settings.lookbackDays * 86_400_000),
        },
      }
      // Batches are fetched, checked and decrypted ahead while the previous one is inserted, but
      // inserted and counted strictly one after the other, each only once its turn has come.
      const batches = lookAhead(
        deps.source.fetchBatches(ids, deps.settings.lookbackDays, abort.signal),
        (batch: BatchResult) => prepareBatch(prepare, batch),
        LOOK_AHEAD_BATCHES,
      )
      try {
        for await (const prepared of batches) {
          // Fetched (and maybe decrypted) ahead but not inserted: not counted, the next run fetches it again.
          if (stopReason) break
          if (!prepared.ok) {
            batchesFailed++
            countRequests(totals, prepared.batch.requests)
            recordSourceError(prepared.batch, totals, log)
            await recordProgress(db, run.id, totals)
          } else {
            batchesOk++
            // Writes the ledger in the same transaction as each statement's rows.
            await commitBatch(
              db,
              run.id,
              prepared,
              totals,
              latestByTracker,
              deps.settings.insertBatchSize,
              log,
            )
            noteActivity(activity, prepared, keys, prepare.coverage.limit.limit)
          }
          // A graceful stop lets the batch in hand finish, then ends the run.
          if (stopReason) break
        }
      } catch (error) {
        // Stopping aborts the request in flight and the preparation of the batches ahead: that is
        // the stop itself, not a failure. Anything else (an insert, a worker) fails the run.
        if (!(abort.signal.aborted && error === abort.signal.reason)) throw error
      }
    }

    if (totals.reportsInserted > 0 && totals.windowFrom && totals.windowTo) {
      const touched = [
        ...new Set([...latestByTracker.values()].map((r) => keys.get(r.hashedAdvKey)!.trackerId)),
      ]
      await signalRefresh(db, { from: totals.windowFrom, to: totals.windowTo }, touched)
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

    const outcome: Exclude<ImportOutcome, 'skipped_locked' | 'not_started'> = stopReason
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
        unreadableKeys: totals.unreadableKeys.length,
        endpointRequests: totals.endpointRequests,
        multiIdRetries: totals.multiIdRetries,
        multiIdRecoveredReports: totals.multiIdRecoveredReports,
      },
      'import run finished',
    )
    return { outcome, runId: run.id, run: finished, totals, durationMs, activity }
  } catch (error) {
    log.error({ err: error }, 'import run failed')
    const finished = await finishRun(db, run.id, 'failed', totals, (error as Error).message).catch(() => null)
    return {
      outcome: 'failed',
      runId: run.id,
      run: finished,
      totals,
      durationMs: performance.now() - started,
      error: (error as Error).message,
    }
  }
}

/**
 * The active keys of active trackers, opened. A key that cannot be opened is skipped by this run and
 * recorded in its ledger (unreadable_keys); the others are imported.
 */
async function loadKeys(
  deps: ImportDependencies,
  totals: RunTotals,
  log: Logger,
): Promise<Map<string, KeyInfo>> {
  const only = deps.onlyTrackers ? new Set(deps.onlyTrackers) : null
  const importable = (await listImportableKeys(deps.database.db)).filter(
    (k) => !only || only.has(k.tracker_id),
  )
  const { opened, unreadable, readability } = openStoredKeys(deps.opener, importable)
  // What the API shows as each key's status (it cannot open them itself).
  await recordKeyReadability(deps.database.db, readability)
  const keys = new Map<string, KeyInfo>()
  for (const key of opened)
    keys.set(key.hashedAdvKey, { trackerId: key.trackerId, privateKey: key.privateKey })
  totals.unreadableKeys = unreadable
  if (deps.onUnreadableKeys) deps.onUnreadableKeys(unreadable)
  else {
    for (const key of unreadable)
      log.error({ hashedAdvKey: key.hashedAdvKey, detail: key.message }, 'cannot open a stored private key')
  }
  totals.keys = keys.size
  totals.trackers = new Set([...keys.values()].map((k) => k.trackerId)).size
  return keys
}

function recordSourceError(batch: Extract<BatchResult, { ok: false }>, totals: RunTotals, log: Logger): void {
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
}

export function processOwner(hostname: string): string {
  return `${hostname}:${process.pid}:${randomUUID().slice(0, 8)}`
}

/** A committed batch's reports and full answers, per tracker. */
function noteActivity(
  activity: Map<string, TrackerActivity>,
  prepared: { storable: readonly { trackerId: string; hashedAdvKey: string }[]; fullKeys: readonly string[] },
  keys: ReadonlyMap<string, KeyInfo>,
  limit: number,
): void {
  const of = (trackerId: string) => {
    const a = activity.get(trackerId) ?? { newReports: 0, maxNewPerKey: 0, fullAnswer: false, limit }
    a.limit = limit
    activity.set(trackerId, a)
    return a
  }
  const perKey = new Map<string, number>()
  for (const report of prepared.storable) {
    of(report.trackerId).newReports++
    perKey.set(report.hashedAdvKey, (perKey.get(report.hashedAdvKey) ?? 0) + 1)
  }
  for (const [key, n] of perKey) {
    const a = of(keys.get(key)!.trackerId)
    a.maxNewPerKey = Math.max(a.maxNewPerKey, n)
  }
  for (const key of prepared.fullKeys) {
    const trackerId = keys.get(key)?.trackerId
    if (trackerId) of(trackerId).fullAnswer = true
  }
}
