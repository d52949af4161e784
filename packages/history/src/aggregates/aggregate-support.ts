import { DAILY_AGGREGATE, HOURLY_AGGREGATE, sql, type TrackerDatabase } from '@tracker/db'

export type AggregateSupport =
  | { enabled: true; timescaledbVersion: string }
  | { enabled: false; reason: string; timescaledbVersion: string | null }

/**
 * Whether the continuous aggregates can be refreshed here. A database without TimescaleDB (a
 * misconfigured deployment, or the plain PostgreSQL of the refresher's wire tests, where plain views
 * stand in for the aggregates) still gets location_history kept; the aggregate refreshes are turned
 * off and the reason logged once.
 */
export async function detectAggregateSupport(database: TrackerDatabase): Promise<AggregateSupport> {
  const { rows } = await sql<{ extversion: string }>`
    SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'`.execute(database.db)
  const version = rows[0]?.extversion ?? null
  if (!version) {
    return {
      enabled: false,
      reason: 'the timescaledb extension is not installed in this database',
      timescaledbVersion: null,
    }
  }
  const { rows: aggregates } = await sql<{ view_name: string }>`
    SELECT view_name FROM timescaledb_information.continuous_aggregates
     WHERE view_name IN (${HOURLY_AGGREGATE}, ${DAILY_AGGREGATE})`.execute(database.db)
  const found = new Set(aggregates.map((a) => a.view_name))
  const missing = [HOURLY_AGGREGATE, DAILY_AGGREGATE].filter((name) => !found.has(name))
  if (missing.length > 0) {
    return {
      enabled: false,
      reason: `continuous aggregate(s) ${missing.join(', ')} not found: are the migrations applied?`,
      timescaledbVersion: version,
    }
  }
  return { enabled: true, timescaledbVersion: version }
}
