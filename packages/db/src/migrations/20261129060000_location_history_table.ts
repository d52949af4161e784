import { type Kysely, sql } from 'kysely'

// Frozen in time: migrations never import application code.
//
// location_history stops being a materialized view: REFRESH MATERIALIZED VIEW recomputes and diffs
// the whole history (117 s at 10,000 trackers with a year of history), whatever changed. It becomes
// a table with the same name and columns that the history engine (packages/history) keeps: a change
// to some trackers' reports in some window rewrites only those trackers' rows in that window.
//
// The tier rule changes too: the hourly tier starts at 00:00 UTC of the day that contains
// now - 24 hours. Every hour of the last 24 hours is hourly, every day is either wholly hourly or one
// daily point, so no report is counted twice and points come in time order (before, the day that
// straddled now - 24 h came back both as a daily point and as hourly points). packages/history's
// tiers.ts holds the same rule for the engine; a test keeps the two equal.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`DROP MATERIALIZED VIEW location_history`.execute(db)
  await sql`DROP VIEW location_history_view`.execute(db)

  await sql`
    CREATE FUNCTION location_history_tier_start(at timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT time_bucket(INTERVAL '1 day', at - INTERVAL '24 hours')
    $$`.execute(db)

  await sql`
    CREATE VIEW location_history_view AS
    SELECT tracker_id, bucket AS "timestamp", '1 hour'::text AS bucket_size,
           latitude, longitude, nearest_city, horizontal_accuracy, best_accuracy,
           report_count, first_report_at, last_report_at
      FROM location_history_hourly
     WHERE bucket >= location_history_tier_start(now())
    UNION ALL
    SELECT tracker_id, bucket AS "timestamp", '1 day'::text AS bucket_size,
           latitude, longitude, nearest_city, horizontal_accuracy, best_accuracy,
           report_count, first_report_at, last_report_at
      FROM location_history_daily
     WHERE bucket < location_history_tier_start(now())`.execute(db)

  await sql`
    CREATE TABLE location_history (
      tracker_id uuid NOT NULL,
      "timestamp" timestamptz NOT NULL,
      bucket_size text NOT NULL CHECK (bucket_size IN ('1 hour', '1 day')),
      latitude double precision NOT NULL,
      longitude double precision NOT NULL,
      nearest_city text,
      horizontal_accuracy integer,
      best_accuracy integer,
      report_count bigint NOT NULL,
      first_report_at timestamptz NOT NULL,
      last_report_at timestamptz NOT NULL,
      CONSTRAINT location_history_key PRIMARY KEY (tracker_id, bucket_size, "timestamp")
    )`.execute(db)
  await sql`CREATE INDEX location_history_time ON location_history ("timestamp" DESC)`.execute(db)

  // What location_history currently reflects. A NULL tier start means "never built": the engine's
  // first upkeep builds it whole (a migration cannot refresh the aggregates it would read).
  await sql`
    CREATE TABLE location_history_state (
      singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      hourly_tier_start timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db)
  await sql`INSERT INTO location_history_state DEFAULT VALUES`.execute(db)

  // The hourly tier now reaches back up to 48 hours: the hourly aggregate keeps that long.
  await sql`SELECT remove_retention_policy('location_history_hourly', if_exists => true)`.execute(db)
  await sql`SELECT add_retention_policy('location_history_hourly', INTERVAL '48 hours')`.execute(db)

  // The one encoder of refresh_location_history payloads, for SQL writers (triggers, functions) and
  // the apps alike: {"from","to"} plus the trackers that changed, as long as the payload stays far
  // under NOTIFY's 8000-byte limit (150 ids, about 5.9 KB); more than that says "every tracker in
  // the window". A NULL list says the same.
  await sql`
    CREATE FUNCTION history_change_payload(p_from timestamptz, p_to timestamptz, p_trackers uuid[], p_reason text)
    RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT json_strip_nulls(json_build_object(
        'from', p_from,
        'to', p_to,
        'trackers', CASE WHEN cardinality(p_trackers) BETWEEN 1 AND 150 THEN to_json(p_trackers) END,
        'reason', p_reason))::text
    $$`.execute(db)

  // Every insert says which tracker and hour it touched. NOTIFY folds identical payloads within a
  // transaction: a batch sends one notification per distinct (tracker, hour), none when every row
  // was a duplicate (ON CONFLICT DO NOTHING).
  await sql`
    CREATE OR REPLACE FUNCTION location_reports_notify_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      bucket timestamptz := time_bucket(INTERVAL '1 hour', NEW."timestamp");
    BEGIN
      PERFORM pg_notify('refresh_location_history',
        history_change_payload(bucket, bucket + INTERVAL '1 hour', ARRAY[NEW.tracker_id], NULL));
      RETURN NULL;
    END $$`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE OR REPLACE FUNCTION location_reports_notify_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      bucket timestamptz := time_bucket(INTERVAL '1 hour', NEW."timestamp");
    BEGIN
      PERFORM pg_notify('refresh_location_history',
        json_build_object('from', bucket, 'to', bucket + INTERVAL '1 hour')::text);
      RETURN NULL;
    END $$`.execute(db)
  await sql`DROP FUNCTION history_change_payload(timestamptz, timestamptz, uuid[], text)`.execute(db)
  await sql`SELECT remove_retention_policy('location_history_hourly', if_exists => true)`.execute(db)
  await sql`SELECT add_retention_policy('location_history_hourly', INTERVAL '24 hours')`.execute(db)
  await sql`DROP TABLE location_history_state`.execute(db)
  await sql`DROP TABLE location_history`.execute(db)
  await sql`DROP VIEW location_history_view`.execute(db)
  await sql`DROP FUNCTION location_history_tier_start(timestamptz)`.execute(db)
  // The previous shape, as 20261121060300_location_history created it.
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
  await sql`CREATE UNIQUE INDEX location_history_key ON location_history (tracker_id, bucket_size, "timestamp")`.execute(
    db,
  )
  await sql`CREATE INDEX location_history_time ON location_history ("timestamp" DESC)`.execute(db)
}
