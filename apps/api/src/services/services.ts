import type { Database, KeySealer, Logger, TrackerDatabase } from '@tracker/db'
import { type HistoryEngine, RefreshRequester } from '@tracker/history'
import type { Kysely } from 'kysely'
import type { CacheLookup, ChangeFeedCache } from '../cache/change-feed-cache.ts'
import type { ApiConfig } from '../env.ts'
import { createAlertChannelService } from './alert-channel.service.ts'
import { createAlertHistoryService } from './alert-history.service.ts'
import { createAlertRuleService } from './alert-rule.service.ts'
import { createApiTokenService } from './api-token.service.ts'
import { TokenAuthenticator } from './api-tokens.ts'
import { createCoverageService } from './coverage.service.ts'
import { createEndpointHealthService } from './endpoint-health.service.ts'
import { createExportService } from './export.service.ts'
import { createHistoryService, type HistoryPage } from './history.service.ts'
import { createImportRunService } from './import-run.service.ts'
import { LastUseRecorder } from './last-use-recorder.ts'
import { createPlaceService } from './place.service.ts'
import { createPollingService } from './polling.service.ts'
import { createRefreshService } from './refresh.service.ts'
import { createReportService } from './report.service.ts'
import { createSessionService } from './session.service.ts'
import { createTrackerService } from './tracker.service.ts'
import { createTrackerDeletionService } from './tracker-deletion.service.ts'

export interface ServiceDeps {
  database: TrackerDatabase
  /** The history engine (its retention is the configuration made as strict as the database's). */
  history: HistoryEngine
  config: ApiConfig
  /** Seals the keys that arrive through mutations; it cannot open them (the API holds no private key). */
  sealer: KeySealer
  logger: Logger
  shutdown: AbortSignal
  /** History pages kept between requests; the app drives it from its change feed. */
  historyCache: ChangeFeedCache<HistoryPage>
  /** Each history cache lookup's outcome, for the metrics. */
  onHistoryCacheLookup?: (result: CacheLookup) => void
  /**
   * After this replica's refresh mutation refreshed, before it returns: every cache of history
   * answers drops them at once (its own notification may arrive after the client's next query).
   */
  onHistoryRefreshed?: () => void
}

/** Everything the resolvers call; the services call the repositories. */
export function createServices(deps: ServiceDeps) {
  const { config } = deps
  const db: Kysely<Database> = deps.database.db
  const { historyCache } = deps
  // When tokens and sessions were last used: noted by requests, written by a timer (and at close).
  const lastUse = new LastUseRecorder({
    db,
    logger: deps.logger,
    flushEveryMs: config.auth.lastUseFlushEveryMs,
  })
  const tokens = new TokenAuthenticator(db, {
    ttlMs: config.auth.tokenCacheTtlMs,
    maxEntries: config.auth.tokenCacheMaxEntries,
    maxUnknownEntries: config.auth.unknownTokenCacheMaxEntries,
    uses: lastUse,
  })
  // The refresh mutation's line to the refresher: one LISTEN for answers, opened at the first request.
  const refreshRequester = new RefreshRequester({
    database: deps.database,
    logger: deps.logger,
    acceptTimeoutMs: config.refresh.acceptTimeoutMs,
    timeoutMs: config.refresh.timeoutMs,
  })
  return {
    history: createHistoryService(db, config.history, {
      cache: historyCache,
      ...(deps.onHistoryCacheLookup ? { onLookup: deps.onHistoryCacheLookup } : {}),
    }),
    historyCache,
    historyEngine: deps.history,
    trackers: createTrackerService(db, {
      sealer: deps.sealer,
      pagination: config.pagination,
      maxKeysPerMutation: config.limits.maxKeysPerMutation,
      status: config.status,
      logger: deps.logger,
    }),
    reports: createReportService(db, {
      rawRetentionMs: deps.history.retention.rawRetentionMs,
      pagination: config.pagination,
    }),
    importRuns: createImportRunService(db, { pagination: config.pagination }),
    exports: createExportService(deps.database, {
      maxRangeHourlyMs: config.history.maxRangeHourlyMs,
      maxRangeDailyMs: config.history.maxRangeDailyMs,
      rawRetentionMs: deps.history.retention.rawRetentionMs,
    }),
    endpointHealth: createEndpointHealthService(db),
    coverage: createCoverageService(db),
    polling: createPollingService(db),
    refresh: createRefreshService({
      requester: refreshRequester,
      db,
      maxWindowMs: config.refresh.maxWindowMs,
      lockWaitMs: config.refresh.lockWaitMs,
      logger: deps.logger,
      shutdown: deps.shutdown,
      ...(deps.onHistoryRefreshed ? { onRefreshed: deps.onHistoryRefreshed } : {}),
    }),
    refreshRequester,
    tokens,
    lastUse,
    apiTokens: createApiTokenService(db, tokens),
    sessions: createSessionService(db, { ttlMs: config.web.sessionTtlMs, tokens, uses: lastUse }),
    deletions: createTrackerDeletionService(db, {
      pagination: config.pagination,
      ...(deps.onHistoryRefreshed ? { onDeleted: deps.onHistoryRefreshed } : {}),
    }),
    status: config.status,
    places: createPlaceService(db, { pagination: config.pagination }),
    alertRules: createAlertRuleService(db, { pagination: config.pagination }),
    alertChannels: createAlertChannelService(db, { pagination: config.pagination }),
    alerts: createAlertHistoryService(db, { pagination: config.pagination }),
  }
}

export type Services = ReturnType<typeof createServices>
