import type {
  AlertChannelTable,
  AlertDeliveryAttemptTable,
  AlertEventTable,
  AlertOutboxTable,
  AlertPendingTable,
  AlertPlaceTable,
  AlertRuleTable,
  AlertTrackerStateTable,
} from './alert.table.ts'
import type { ApiSessionTable, SignInLinkTable } from './api-session.table.ts'
import type { ApiTokenTable, ApiTokenTrackerTable } from './api-token.table.ts'
import type { CoverageGapTable } from './coverage-gap.table.ts'
import type { EndpointRequestHourTable, EndpointRequestStreakTable } from './endpoint-request.table.ts'
import type { ImportRunTable } from './import-run.table.ts'
import type { KeyEncryptionCheckTable } from './key-encryption-check.table.ts'
import type { KeySealingCheckTable } from './key-sealing-check.table.ts'
import type {
  LocationHistoryDailyView,
  LocationHistoryHourlyView,
  LocationHistoryMaterialized,
  LocationHistoryView,
} from './location-history.table.ts'
import type { LocationReportTable } from './location-report.table.ts'
import type { TrackerTable } from './tracker.table.ts'
import type { TrackerDeletionTable } from './tracker-deletion.table.ts'
import type { TrackerKeyTable } from './tracker-key.table.ts'
import type { EndpointRequestLogTable, TrackerPollingTable } from './tracker-polling.table.ts'

/** Every table and view of Tracker, as Kysely sees them. */
export interface Database {
  trackers: TrackerTable
  tracker_keys: TrackerKeyTable
  location_reports: LocationReportTable
  location_history_hourly: LocationHistoryHourlyView
  location_history_daily: LocationHistoryDailyView
  location_history_view: LocationHistoryView
  location_history: LocationHistoryMaterialized
  import_runs: ImportRunTable
  api_tokens: ApiTokenTable
  key_encryption_check: KeyEncryptionCheckTable
  key_sealing_check: KeySealingCheckTable
  api_token_trackers: ApiTokenTrackerTable
  tracker_deletions: TrackerDeletionTable
  coverage_gaps: CoverageGapTable
  endpoint_request_hours: EndpointRequestHourTable
  endpoint_request_streak: EndpointRequestStreakTable
  tracker_polling: TrackerPollingTable
  endpoint_request_log: EndpointRequestLogTable
  api_sessions: ApiSessionTable
  sign_in_links: SignInLinkTable
  alert_places: AlertPlaceTable
  alert_channels: AlertChannelTable
  alert_rules: AlertRuleTable
  alert_events: AlertEventTable
  alert_outbox: AlertOutboxTable
  alert_delivery_attempts: AlertDeliveryAttemptTable
  alert_pending: AlertPendingTable
  alert_tracker_state: AlertTrackerStateTable
}
