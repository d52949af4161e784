import { availableParallelism, hostname } from 'node:os'
import { PrivateKeyCipher, sql, type TrackerDatabase, verifyCipherOpensStoredKeys } from '@tracker/db'
import {
  decryptReports,
  type EndpointReport,
  ReportDecryptionPool,
  ReportEndpointClient,
} from '@tracker/findmy'
import { createOfflineGeocoder, type Geocoder } from '@tracker/geocoder'
import { type LockService, RedisLockService } from '@tracker/locks'
import { Cron } from 'croner'

import type { Logger } from 'pino'
import { describeConfig, type ImporterConfig, ImporterConfigError } from './env.ts'
import { type HealthCheck, type RunningHealthServer, startHealthServer } from './http/health-server.ts'
import { ImporterMetrics } from './http/importer-metrics.ts'
import { type ImportResult, processOwner, type ReportSource, runImport } from './run/run-import.ts'

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
  runNow(trigger?: 'manual' | 'once' | 'schedule' | 'startup'): Promise<ImportResult>
  readonly httpPort: number | null
  readonly metrics: ImporterMetrics
  /** The run in flight finishes its current batch, then everything is closed (not the database). */
  stop(): Promise<void>
}

/** Builds everything a run needs and fails at start, with a clear message, when it cannot work. */
export async function startImporter(deps: ImporterDependencies): Promise<RunningImporter> {
  const { config, logger } = deps
  logger.info({ config: describeConfig(config) }, 'importer starting')
  const cipher = PrivateKeyCipher.fromSecret(config.keyEncryptionKey)
  await verifyCipherOpensStoredKeys(deps.database.db, cipher)
  const source = deps.source ?? endpointClient(config, logger)
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

  const metrics = new ImporterMetrics()
  const owner = processOwner(hostname())
  const shutdown = new AbortController()
  const inFlight = new Set<Promise<ImportResult>>()
  let lastResult: ImportResult | null = null

  const runNow = (trigger: 'manual' | 'once' | 'schedule' | 'startup' = 'manual'): Promise<ImportResult> => {
    const run = runImport(
      {
        database: deps.database,
        decrypt,
        locks: deps.locks,
        cipher,
        source,
        geocoder,
        logger,
        owner,
        settings: {
          lookbackDays: config.lookbackDays,
          insertBatchSize: config.insertBatchSize,
          clockSkewMs: config.clockSkewMs,
          lockTtlMs: config.lockTtlMs,
          retention: config.retention,
        },
      },
      { trigger, signal: shutdown.signal },
    ).then((result) => {
      metrics.recordRun(result)
      if (result.outcome !== 'skipped_locked') lastResult = result
      return result
    })
    inFlight.add(run)
    void run.finally(() => inFlight.delete(run)).catch(() => {})
    return run
  }

  const cron =
    deps.schedule === false
      ? null
      : new Cron(config.schedule, { timezone: 'UTC', protect: true }, async () => {
          await runNow('schedule')
        })

  let http: RunningHealthServer | null = null
  if (deps.http !== false) {
    const check: HealthCheck = async () => ({
      database: await probe(() => sql`SELECT 1`.execute(deps.database.db)),
      lock: await probe(async () => {
        if (deps.locks instanceof RedisLockService) await deps.locks.redis.ping()
      }),
      lastRun: {
        ok: lastResult === null || lastResult.outcome !== 'failed',
        detail: lastResult ? { outcome: lastResult.outcome, runId: lastResult.runId } : 'no run yet',
      },
    })
    http = await startHealthServer({
      port: config.httpPort,
      check,
      logger,
      metrics: async () => ({
        contentType: metrics.registry.contentType,
        body: await metrics.registry.metrics(),
      }),
    })
    logger.info({ port: http.port }, 'importer health and metrics listening')
  }

  if (config.runOnStart && deps.schedule !== false) void runNow('startup')
  if (cron)
    logger.info({ schedule: config.schedule, next: cron.nextRun()?.toISOString() }, 'import scheduled')

  return {
    runNow,
    get httpPort() {
      return http?.port ?? null
    },
    metrics,
    async stop() {
      cron?.stop()
      shutdown.abort()
      await Promise.allSettled([...inFlight])
      await http?.close()
      await pool?.close()
      logger.info({}, 'importer stopped')
    },
  }
}

function endpointClient(config: ImporterConfig, logger: Logger): ReportSource {
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
  })
}

async function probe(fn: () => Promise<unknown>): Promise<{ ok: boolean; detail?: unknown }> {
  try {
    await fn()
    return { ok: true }
  } catch (error) {
    return { ok: false, detail: (error as Error).message }
  }
}
