import { type Kysely, sql } from 'kysely'

// Frozen in time: migrations never import application code.

export async function up(db: Kysely<any>): Promise<void> {
  // Hourly buckets for the last 24 hours, daily buckets before (the seed). A daily bucket that
  // starts before the hourly tier and ends inside it is kept: dropping it would lose the hours of
  // that day that the hourly tier no longer holds.
  await sql`
    CREATE VIEW location_history_view AS
    SELECT tracker_id, bucket AS "timestamp", '1 hour'::text AS bucket_size,
           latitude, longitude, nearest_city, horizontal_accuracy, best_accuracy,
           report_count, first_report_at, last_report_at
      FROM location_history_hourly
     WHERE bucket >= time_bucket(INTERVAL '1 hour', now() - INTERVAL '24 hours')
    UNION ALL
    SELECT tracker_id, bucket AS "timestamp", '1 day'::text AS bucket_size,
           latitude, longitude, nearest_city, horizontal_accuracy, best_accuracy,
           report_count, first_report_at, last_report_at
      FROM location_history_daily
     WHERE bucket < time_bucket(INTERVAL '1 hour', now() - INTERVAL '24 hours')`.execute(db)

  await sql`CREATE MATERIALIZED VIEW location_history AS SELECT * FROM location_history_view`.execute(db)
  // REFRESH MATERIALIZED VIEW CONCURRENTLY needs a unique index on plain columns, without WHERE.
  await sql`CREATE UNIQUE INDEX location_history_key ON location_history (tracker_id, bucket_size, "timestamp")`.execute(
    db,
  )
  await sql`CREATE INDEX location_history_time ON location_history ("timestamp" DESC)`.execute(db)

  // "Consistency across all layers": change the raw reports, then tell the refresher which window
  // to refresh (a refresh cannot run inside this function's transaction).
  await sql`
    CREATE FUNCTION update_nearest_city(p_hashed_adv_key text, p_from timestamptz, p_to timestamptz, p_nearest_city text)
    RETURNS integer LANGUAGE plpgsql AS $$
    DECLARE
      changed integer;
      lo timestamptz;
      hi timestamptz;
    BEGIN
      WITH updated AS (
        UPDATE location_reports SET nearest_city = p_nearest_city
         WHERE hashed_adv_key = p_hashed_adv_key
           AND "timestamp" BETWEEN p_from AND p_to
           AND nearest_city IS DISTINCT FROM p_nearest_city
        RETURNING "timestamp")
      SELECT count(*), min("timestamp"), max("timestamp") INTO changed, lo, hi FROM updated;
      IF changed > 0 THEN
        PERFORM pg_notify('refresh_location_history', json_build_object(
          'from', time_bucket(INTERVAL '1 hour', lo),
          'to', time_bucket(INTERVAL '1 hour', hi) + INTERVAL '1 hour',
          'reason', 'nearest_city')::text);
      END IF;
      RETURN changed;
    END $$`.execute(db)
  await sql`
    CREATE FUNCTION update_nearest_city(p_hashed_adv_key text, p_timestamp timestamptz, p_nearest_city text)
    RETURNS integer LANGUAGE sql AS $$
      SELECT update_nearest_city(p_hashed_adv_key, p_timestamp, p_timestamp, p_nearest_city)
    $$`.execute(db)

  // Fills nearest_city where it is missing from a geocoded report at the same place (positions
  // rounded to 0.01 degree, about 1 km); the importer's geocoder fills the rest.
  await sql`
    CREATE FUNCTION migrate_nearest_city_data() RETURNS integer LANGUAGE plpgsql AS $$
    DECLARE
      changed integer;
      lo timestamptz;
      hi timestamptz;
    BEGIN
      WITH known AS (
        SELECT DISTINCT ON (round(latitude::numeric, 2), round(longitude::numeric, 2))
               round(latitude::numeric, 2) AS lat, round(longitude::numeric, 2) AS lon, nearest_city
          FROM location_reports
         WHERE nearest_city IS NOT NULL
         ORDER BY round(latitude::numeric, 2), round(longitude::numeric, 2), "timestamp" DESC),
      updated AS (
        UPDATE location_reports r SET nearest_city = k.nearest_city
          FROM known k
         WHERE r.nearest_city IS NULL
           AND round(r.latitude::numeric, 2) = k.lat AND round(r.longitude::numeric, 2) = k.lon
        RETURNING r."timestamp")
      SELECT count(*), min("timestamp"), max("timestamp") INTO changed, lo, hi FROM updated;
      IF changed > 0 THEN
        PERFORM pg_notify('refresh_location_history', json_build_object(
          'from', time_bucket(INTERVAL '1 hour', lo),
          'to', time_bucket(INTERVAL '1 hour', hi) + INTERVAL '1 hour',
          'reason', 'nearest_city')::text);
      END IF;
      RETURN changed;
    END $$`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION migrate_nearest_city_data()`.execute(db)
  await sql`DROP FUNCTION update_nearest_city(text, timestamptz, text)`.execute(db)
  await sql`DROP FUNCTION update_nearest_city(text, timestamptz, timestamptz, text)`.execute(db)
  await sql`DROP MATERIALIZED VIEW location_history`.execute(db)
  await sql`DROP VIEW location_history_view`.execute(db)
}
