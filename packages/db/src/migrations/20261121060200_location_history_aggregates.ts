import { type Kysely, sql } from 'kysely'

// Frozen in time: migrations never import application code.
// Both aggregates read location_reports directly (not daily-on-hourly): the hourly tier's 24-hour
// retention would otherwise invalidate and erase the daily tier (../shared/timescaledb.md).
// A bucket's position is the latest report in it (`last(..., "timestamp")`), never an average.

function aggregateQuery(bucket: string) {
  return sql`
    SELECT
      tracker_id,
      time_bucket(INTERVAL ${sql.lit(bucket)}, "timestamp") AS bucket,
      last(latitude, "timestamp") AS latitude,
      last(longitude, "timestamp") AS longitude,
      last(nearest_city, "timestamp") AS nearest_city,
      last(horizontal_accuracy, "timestamp") AS horizontal_accuracy,
      min(horizontal_accuracy) AS best_accuracy,
      count(*) AS report_count,
      min("timestamp") AS first_report_at,
      max("timestamp") AS last_report_at
    FROM location_reports
    GROUP BY tracker_id, time_bucket(INTERVAL ${sql.lit(bucket)}, "timestamp")`
}

export async function up(db: Kysely<any>): Promise<void> {
  // WITH NO DATA: a continuous aggregate cannot be filled inside the migration's transaction.
  await sql`
    CREATE MATERIALIZED VIEW location_history_hourly
    WITH (timescaledb.continuous, timescaledb.materialized_only = false, timescaledb.chunk_interval = '2 hours')
    AS ${aggregateQuery('1 hour')}
    WITH NO DATA`.execute(db)
  await sql`
    CREATE MATERIALIZED VIEW location_history_daily
    WITH (timescaledb.continuous, timescaledb.materialized_only = false, timescaledb.chunk_interval = '7 days')
    AS ${aggregateQuery('1 day')}
    WITH NO DATA`.execute(db)
  await sql`CREATE INDEX location_history_hourly_tracker ON location_history_hourly (tracker_id, bucket DESC)`.execute(
    db,
  )
  await sql`CREATE INDEX location_history_daily_tracker ON location_history_daily (tracker_id, bucket DESC)`.execute(
    db,
  )

  // The seed: hourly refreshed every hour with a 1-hour lag, daily every day with a 1-day lag.
  await sql`
    SELECT add_continuous_aggregate_policy('location_history_hourly',
      start_offset => INTERVAL '48 hours', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour')`.execute(
    db,
  )
  await sql`
    SELECT add_continuous_aggregate_policy('location_history_daily',
      start_offset => INTERVAL '7 days', end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 day')`.execute(
    db,
  )
  await sql`SELECT add_retention_policy('location_history_hourly', INTERVAL '24 hours')`.execute(db)
  await sql`SELECT add_retention_policy('location_history_daily', INTERVAL '365 days')`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP MATERIALIZED VIEW location_history_daily`.execute(db)
  await sql`DROP MATERIALIZED VIEW location_history_hourly`.execute(db)
}
