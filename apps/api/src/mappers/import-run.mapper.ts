import type { ImportRun } from '@tracker/db'
import type { ImportRun as ImportRunType } from '../graphql/schema.generated.ts'
import { toOutcomeCounts } from './endpoint-health.mapper.ts'
import { toUnreadableKey } from './tracker.mapper.ts'

export function toImportRun(row: ImportRun): ImportRunType {
  return {
    id: row.id,
    status: row.status.toUpperCase() as ImportRunType['status'],
    trigger: row.trigger.toUpperCase() as ImportRunType['trigger'],
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    heartbeatAt: row.heartbeat_at,
    owner: row.owner,
    lookbackDays: row.lookback_days,
    trackers: row.trackers,
    keys: row.keys,
    reportsFetched: row.reports_fetched,
    reportsInserted: row.reports_inserted,
    reportsDuplicate: row.reports_duplicate,
    rejected: Object.entries(row.rejected ?? {})
      .map(([reason, count]) => ({ reason, count }))
      .sort((a, b) => a.reason.localeCompare(b.reason)),
    sourceErrors: (row.source_errors ?? []).map((e) => ({
      source: e.source,
      message: e.message,
      status: e.status ?? null,
      at: e.at,
    })),
    unreadableKeys: (row.unreadable_keys ?? []).map(toUnreadableKey),
    windowFrom: row.window_from,
    windowTo: row.window_to,
    error: row.error,
    requests: toOutcomeCounts(row.endpoint_requests ?? {}),
    multiIdRetries: row.multi_id_retries,
    multiIdRecoveredReports: row.multi_id_recovered_reports,
    coverageGaps: row.coverage_gaps,
    maxReportsPerKey: row.max_reports_per_key,
  }
}
