import type { Migration, MigrationProvider } from 'kysely'
import * as trackersAndKeys from './20261121060000_trackers_and_keys.ts'
import * as locationReports from './20261121060100_location_reports.ts'
import * as locationHistoryAggregates from './20261121060200_location_history_aggregates.ts'
import * as locationHistory from './20261121060300_location_history.ts'
import * as importRuns from './20261121060400_import_runs.ts'
import * as apiTokens from './20261121060500_api_tokens.ts'
import * as locationHistoryTable from './20261129060000_location_history_table.ts'
import * as nearestCityBySegment from './20261129060100_nearest_city_by_segment.ts'
import * as importRunsNotStarted from './20261201060000_import_runs_not_started.ts'
import * as trackerOperations from './20261212060000_tracker_operations.ts'
import * as keyEncryptionCheck from './20261213060000_key_encryption_check.ts'
import * as importRunsUnreadableKeys from './20261213060100_import_runs_unreadable_keys.ts'
import * as endpointRequestHealth from './20261214060000_endpoint_request_health.ts'
import * as coverageGaps from './20261214061000_coverage_gaps.ts'
import * as trackerPolling from './20261214062000_tracker_polling.ts'
import * as webSessions from './20261215060000_web_sessions.ts'
import * as trackerChangeNotifications from './20261216060000_tracker_change_notifications.ts'
import * as alerts from './20261217060000_alerts.ts'
import * as keySealing from './20261218060000_key_sealing.ts'

/**
 * Every migration, by its timestamped name. Listed statically (not read from the file system) so
 * that a built or deployed app carries its migrations with it.
 */
export const migrations: Record<string, Migration> = {
  '20261121060000_trackers_and_keys': trackersAndKeys,
  '20261121060100_location_reports': locationReports,
  '20261121060200_location_history_aggregates': locationHistoryAggregates,
  '20261121060300_location_history': locationHistory,
  '20261121060400_import_runs': importRuns,
  '20261121060500_api_tokens': apiTokens,
  '20261129060000_location_history_table': locationHistoryTable,
  '20261129060100_nearest_city_by_segment': nearestCityBySegment,
  '20261201060000_import_runs_not_started': importRunsNotStarted,
  '20261212060000_tracker_operations': trackerOperations,
  '20261213060000_key_encryption_check': keyEncryptionCheck,
  '20261213060100_import_runs_unreadable_keys': importRunsUnreadableKeys,
  '20261214060000_endpoint_request_health': endpointRequestHealth,
  '20261214061000_coverage_gaps': coverageGaps,
  '20261214062000_tracker_polling': trackerPolling,
  '20261215060000_web_sessions': webSessions,
  '20261216060000_tracker_change_notifications': trackerChangeNotifications,
  '20261217060000_alerts': alerts,
  '20261218060000_key_sealing': keySealing,
}

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
}
