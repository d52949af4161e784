import { availableParallelism, hostname } from 'node:os'
import { EvaluatorLoop } from '@tracker/alerts'
import {
  endpointRequestsSince,
  listImportableKeys,
  listSealedKeys,
  logEndpointRequests,
  openStoredKeys,
  recordKeyReadability,
  sql,
  type TrackerDatabase,
  type UnreadableKey,
} from '@tracker/db'
import {
  decryptReports,
  type EndpointReport,
  p224Backend,
  ReportDecryptionPool,
  ReportEndpointClient,
  type ReportEndpointClientOptions,
} from '@tracker/findmy'
import { createOfflineGeocoder, type Geocoder } from '@tracker/geocoder'
import { resolveDatabaseRetention } from '@tracker/history'
import type { LockService } from '@tracker/locks'
import { Cron } from 'croner'
import type { Logger } from 'pino'
import { EndpointHealth } from './endpoint/endpoint-health.ts'
import { describeConfig, type ImporterConfig, ImporterConfigError } from './env.ts'
import {
  type HealthCheck,
  type HealthCheckResult,
  type RunningHealthServer,
  startHealthServer,
} from './http/health-server.ts'
import { ImporterMetrics } from './http/importer-metrics.ts'
import { prepareKeyOpener } from './keys/key-opening.ts'
import { AdaptivePoller } from './polling/adaptive-poller.ts'
import { pollTrackersWith } from './polling/poll-trackers.ts'
import { RequestBudget } from './polling/request-budget.ts'
import { keysWithReportsSince } from './run/report-writer.ts'
import {
  type ImportDependencies,
  type ImportResult,
  processOwner,
  type ReportSource,
  resultWithoutRun,
  runImport,
} from './run/run-import.ts'

type Trigger = 'manual' | 'once' | 'schedule' | 'startup' | 'poll'

/** Retries of a run that could not start double from IMPORT_RETRY_BACKOFF up to this. */
const MAX_RETRY_DELAY_MS = 10 * 60_000

export interface ImporterDependencies {
  database: TrackerDatabase
  locks: LockService
  logger: Logger
  config: ImporterConfig
  /** Defaults to the report endpoint client built from the configuration. */
  source?: ReportSource
  /** Defaults to the offline geocoder (or none with GEOCODER=off). */
  geocoder?: Geocoder | null
  /** Serve /health and /metrics (default true). */
  http?: boolean
  /** Run on the cron schedule (default true); false leaves runs to runNow(). */
  schedule?: boolean
  /** Worker threads for decryption (default: one per core; 0 decrypts inline). */
  decryptThreads?: number
}

export interface RunningImporter {
  /**
   * One run now. Never rejects: whatever goes wrong is logged, counted and in the result. A scheduled
   * or start-up run that could not start (lock backend unreachable) is retried with backoff until
   * the next scheduled time.
   */
  runNow(trigger?: Trigger, options?: { waitForLockMs?: number }): Promise<ImportResult>
  /** The run at start (IMPORT_ON_START), while and after it runs; null when there is none. */
  readonly startupRun: Promise<ImportResult> | null
  readonly httpPort: number | null
  readonly metrics: ImporterMetrics
  /** The run in flight finishes its current batch, then everything is closed (not the database). */
  stop(): Promise<void>
}

/** Builds everything a run needs and fails at start, with a clear message, when it cannot work. */
export async function startImporter(deps: ImporterDependencies): Promise<RunningImporter> {
  const { config, logger } = deps
  logger.info({ config: describeConfig(config) }, 'importer starting')
  // A wrong or missing KEY_SEALING_PRIVATE_KEY is a configuration mistake: refused here. One key that
  // cannot be opened is not: it is skipped by every run and reported (log, /health, the run's ledger,
  // tracker_keys.readability, which the API shows).
  const opener = await prepareKeyOpener(deps.database, config, logger)
  const everyKey = openStoredKeys(opener, await listSealedKeys(deps.database.db))
  for (const key of everyKey.opened) key.privateKey.fill(0)
  await recordKeyReadability(deps.database.db, everyKey.readability)
  const unreadableKeys = new UnreadableKeys(logger)
  const importable = openStoredKeys(opener, await listImportableKeys(deps.database.db))
  for (const key of importable.opened) key.privateKey.fill(0)
  unreadableKeys.update(importable.unreadable)
  // The late horizon follows the raw retention the database really has, if it is stricter.
  const { effective: retention } = await resolveDatabaseRetention(deps.database, config.retention, logger)
  const metrics = new ImporterMetrics()
  // Each decryption worker chooses its own the same way; this thread's choice is the one logged.
  const p224 = p224Backend()
  metrics.setP224Backend(p224.backend.name)
  logger.info({ backend: p224.backend.name, reason: p224.reason }, 'P-224 backend for decryption')
  const endpointHealth = new EndpointHealth({
    db: deps.database.db,
    metrics,
    logger,
    failureStreak: config.endpoint.failureStreak,
  })
  // The request budget: a hard ceiling over any sliding hour, every run included, remembered across
  // restarts (endpoint_request_log).
  const budget = config.requestBudgetPerHour > 0 ? new RequestBudget(config.requestBudgetPerHour) : null
  budget?.restore(await endpointRequestsSince(deps.database.db, new Date(Date.now() - 3_600_000)))
  const source =
    deps.source ??
    endpointClient(config, logger, {
      ...(budget
        ? {
            beforeRequest: (signal?: AbortSignal) =>
              budget.acquire({
                ...(signal ? { signal } : {}),
                onTaken: (at) => logEndpointRequests(deps.database.db, [at]),
              }),
          }
        : {}),
      onRequest: (event) => endpointHealth.record(event),
      // Keys with a report stored within the window the endpoint is asked for.
      expectedIds: (ids) =>
        keysWithReportsSince(deps.database.db, ids, new Date(Date.now() - config.lookbackDays * 86_400_000)),
    })
  const geocoder =
    deps.geocoder !== undefined
      ? deps.geocoder
      : config.geocoder === 'offline'
        ? createOfflineGeocoder({ maxDistanceKm: config.geocoderMaxDistanceKm })
        : null
  // Load the city index now, not during the first run.
  if (geocoder) await geocoder.lookup(0, 0)

  // Decryption (a P-224 ECDH per report) is the importer's CPU cost: spread it over worker threads,
  // keeping small batches inline where a round trip to a worker costs more than it saves.
  const pool =
    deps.decryptThreads === 0
      ? null
      : new ReportDecryptionPool({ threads: deps.decryptThreads ?? availableParallelism() })
  const decrypt = async (keys: ReadonlyMap<string, Buffer>, reports: readonly EndpointReport[]) =>
    pool && reports.length >= 256 ? pool.decrypt(keys, reports) : decryptReports(keys, reports)

  const owner = processOwner(hostname())
  const shutdown = new AbortController()
  const inFlight = new Set<Promise<ImportResult>>()
  let lastResult: ImportResult | null = null
  // Runs that could not start (lock backend unreachable), retried with backoff before the next
  // scheduled time; reset once a run starts.
  const retry = { attempts: 0, timer: null as NodeJS.Timeout | null, at: null as Date | null }
  const cancelRetry = () => {
    if (retry.timer) clearTimeout(retry.timer)
    retry.timer = null
    retry.at = null
  }

  // Alerts decide from what each run stored (queued with the reports), in this process.
  const alerts = new EvaluatorLoop({
    db: deps.database.db,
    logger,
    intervalMs: config.alertsEvaluateIntervalMs,
    onPass: (counts) => metrics.recordAlertEvaluation(counts),
  })
  alerts.start()

  const settle = (result: ImportResult, trigger: Trigger): ImportResult => {
    metrics.recordRun(result)
    if ((result.totals?.reportsInserted ?? 0) > 0) alerts.wake()
    if (result.outcome === 'skipped_locked') return result
    lastResult = result
    if (result.outcome !== 'not_started') retry.attempts = 0
    else if ((trigger === 'schedule' || trigger === 'startup') && !shutdown.signal.aborted)
      scheduleRetry(trigger)
    return result
  }

  const runDeps: ImportDependencies = {
    database: deps.database,
    decrypt,
    locks: deps.locks,
    opener,
    source,
    geocoder,
    logger,
    owner,
    onUnreadableKeys: (keys) => unreadableKeys.update(keys),
    settings: {
      lookbackDays: config.lookbackDays,
      insertBatchSize: config.insertBatchSize,
      clockSkewMs: config.clockSkewMs,
      lockTtlMs: config.lockTtlMs,
      endpointReportsPerKey: config.endpointReportsPerKey,
      retention,
    },
  }

  const runNow = (trigger: Trigger = 'manual', options: { waitForLockMs?: number } = {}) => {
    const started = performance.now()
    const run = runImport(runDeps, { trigger, signal: shutdown.signal, ...options })
      .catch((error: unknown): ImportResult => {
        // E.g. the database gone before the run could be recorded: a failed run, not a dead process.
        logger.error({ err: error, trigger }, 'import run failed before it was recorded')
        return resultWithoutRun('failed', started, (error as Error).message)
      })
      .then((result) => settle(result, trigger))
    inFlight.add(run)
    void run.finally(() => inFlight.delete(run))
    return run
  }

  const scheduleRetry = (trigger: 'schedule' | 'startup') => {
    cancelRetry()
    const delayMs = Math.min(config.retryBackoffMs * 2 ** retry.attempts, MAX_RETRY_DELAY_MS)
    const at = new Date(Date.now() + delayMs)
    const next = cron?.nextRun()
    if (next && at >= next) {
      logger.info({ next: next.toISOString() }, 'the next scheduled import run will try again')
      return
    }
    retry.attempts++
    retry.at = at
    logger.warn(
      { attempt: retry.attempts, delayMs, at: at.toISOString() },
      'import run could not start; retrying',
    )
    retry.timer = setTimeout(() => {
      retry.timer = null
      retry.at = null
      void runNow(trigger)
    }, delayMs)
  }

  // The adaptive mode polls each tracker on its own cadence (at least every IMPORT_MAX_POLL_INTERVAL)
  // instead of the schedule's full runs.
  const poller =
    config.mode === 'adaptive' && budget
      ? new AdaptivePoller({
          db: deps.database.db,
          budget,
          bounds: { minMs: config.pollIntervalMs.min, maxMs: config.pollIntervalMs.max },
          batchSize: config.endpoint.batchSize,
          initialIntervalMs: Math.min(
            config.pollIntervalMs.max,
            Math.max(config.pollIntervalMs.min, 3_600_000),
          ),
          logger,
          poll: pollTrackersWith({ ...runDeps }, (result) => settle(result, 'poll')),
        })
      : null
  const cron =
    deps.schedule === false || poller
      ? null
      : new Cron(config.schedule, { timezone: 'UTC', protect: true }, async () => {
          cancelRetry()
          await runNow('schedule')
        })

  let http: RunningHealthServer | null = null
  if (deps.http !== false) {
    const check: HealthCheck = async () => ({
      database: await probe(() => sql`SELECT 1`.execute(deps.database.db)),
      // Runs cannot start without it, but they are retried: degraded, not down.
      lock: { ...(await probe(async () => deps.locks.ping?.())), impact: 'degraded' },
      lastRun: lastRunCheck(lastResult, retry.at),
      keys: unreadableKeys.check(),
      endpoint: await endpointHealth.check().catch((error: unknown) => ({
        ok: false,
        impact: 'degraded' as const,
        detail: `could not read the endpoint's state: ${(error as Error).message}`,
      })),
    })
    http = await startHealthServer({
      port: config.httpPort,
      host: config.httpHost,
      check,
      logger,
      metrics: async () => ({
        contentType: metrics.registry.contentType,
        body: await metrics.registry.metrics(),
      }),
    })
    logger.info({ host: config.httpHost, port: http.port }, 'importer health and metrics listening')
  }

  const startupRun = config.runOnStart && deps.schedule !== false && !poller ? runNow('startup') : null
  if (cron)
    logger.info({ schedule: config.schedule, next: cron.nextRun()?.toISOString() }, 'import scheduled')
  if (poller && deps.schedule !== false) {
    poller.start()
    logger.info(
      { budgetPerHour: config.requestBudgetPerHour, intervals: config.pollIntervalMs },
      'adaptive polling started',
    )
  }

  let stopping: Promise<void> | undefined
  return {
    runNow,
    startupRun,
    get httpPort() {
      return http?.port ?? null
    },
    metrics,
    // Once, however often it is asked (a signal and the end of a --once run may both ask).
    stop() {
      stopping ??= (async () => {
        cron?.stop()
        cancelRetry()
        shutdown.abort()
        await poller?.stop()
        await Promise.allSettled([...inFlight])
        // After the runs: what they stored is evaluated before the process ends (the queue would
        // keep it otherwise, for the next start).
        alerts.wake()
        await alerts.stop()
        // Requests made are recorded before the caller closes the database.
        await endpointHealth.flush()
        await http?.close()
        await pool?.close()
        logger.info({}, 'importer stopped')
      })()
      return stopping
    },
  }
}

/**
 * The active keys that cannot be opened, as the last look at them found (at start, then each run):
 * each is logged once while it stays unreadable, and shown by /health.
 */
class UnreadableKeys {
  #current = new Map<string, UnreadableKey>()
  readonly #logger: Logger
  constructor(logger: Logger) {
    this.#logger = logger
  }

  update(keys: readonly UnreadableKey[]): void {
    const next = new Map(keys.map((key) => [key.hashedAdvKey, key]))
    for (const key of next.values()) {
      if (this.#current.has(key.hashedAdvKey)) continue
      this.#logger.error(
        { hashedAdvKey: key.hashedAdvKey, trackerId: key.trackerId, reason: key.reason, detail: key.message },
        'a stored private key cannot be opened: its reports are skipped until it is replaced',
      )
    }
    this.#current = next
  }

  /** Unreadable keys degrade the importer (the others are imported), they do not make it unhealthy. */
  check(): HealthCheckResult {
    const unreadable = [...this.#current.values()].map(({ hashedAdvKey, trackerId, reason }) => ({
      hashedAdvKey,
      trackerId,
      reason,
    }))
    return unreadable.length === 0
      ? { ok: true, detail: { unreadable: 0 } }
      : { ok: false, impact: 'degraded', detail: { unreadable: unreadable.length, keys: unreadable } }
  }
}

/** The last run that got past the lock, or could not get to it. */
function lastRunCheck(result: ImportResult | null, retryAt: Date | null): HealthCheckResult {
  if (result === null) return { ok: true, detail: 'no run yet' }
  const detail = {
    outcome: result.outcome,
    runId: result.runId,
    ...(result.error ? { error: result.error } : {}),
    ...(retryAt ? { retryAt: retryAt.toISOString() } : {}),
  }
  if (result.outcome === 'not_started') return { ok: false, impact: 'degraded', detail }
  return { ok: result.outcome !== 'failed', detail }
}

function endpointClient(
  config: ImporterConfig,
  logger: Logger,
  hooks: Pick<ReportEndpointClientOptions, 'onRequest' | 'expectedIds' | 'beforeRequest'>,
): ReportSource {
  if (!config.endpoint.url) {
    throw new ImporterConfigError(
      'REPORT_ENDPOINT_URL is not set: the importer needs the report endpoint (or the simulator) to fetch from',
    )
  }
  return new ReportEndpointClient({
    url: config.endpoint.url,
    ...(config.endpoint.username !== undefined ? { username: config.endpoint.username } : {}),
    ...(config.endpoint.password !== undefined ? { password: config.endpoint.password } : {}),
    batchSize: config.endpoint.batchSize,
    timeoutMs: config.endpoint.timeoutMs,
    maxAttempts: config.endpoint.maxAttempts,
    backoffMs: config.endpoint.backoffMs,
    pauseBetweenRequestsMs: config.endpoint.pauseBetweenRequestsMs,
    logger,
    ...hooks,
  })
}

async function probe(fn: () => Promise<unknown>): Promise<HealthCheckResult> {
  try {
    await fn()
    return { ok: true }
  } catch (error) {
    return { ok: false, detail: (error as Error).message }
  }
}
