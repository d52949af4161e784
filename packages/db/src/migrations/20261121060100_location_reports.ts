import { type Kysely, sql } from 'kysely'

// Frozen in time: migrations never import application code. Policy values here are the initial
// defaults; `applyStoragePolicies` reconciles them with the validated configuration afterwards.

export async function up(db: Kysely<any>): Promise<void> {
  // tracker_id leads the unique key so that a conflict check against a compressed chunk (segmented
  // by tracker) only decompresses that tracker's batch.
  await sql`
    CREATE TABLE location_reports (
      hashed_adv_key text NOT NULL,
      "timestamp" timestamptz NOT NULL,
      tracker_id uuid NOT NULL,
      latitude double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
      longitude double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
      horizontal_accuracy integer CHECK (horizontal_accuracy >= 0),
      confidence smallint,
      status smallint,
      nearest_city text,
      published_at timestamptz,
      inserted_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tracker_id, hashed_adv_key, "timestamp")
    )`.execute(db)
  await sql`SELECT create_hypertable('location_reports', 'timestamp', chunk_time_interval => INTERVAL '1 day')`.execute(
    db,
  )
  await sql`CREATE INDEX location_reports_tracker_time ON location_reports (tracker_id, "timestamp" DESC)`.execute(
    db,
  )

  await sql`
    ALTER TABLE location_reports SET (
      timescaledb.compress,
      timescaledb.compress_segmentby = 'tracker_id',
      timescaledb.compress_orderby = '"timestamp" DESC, hashed_adv_key'
    )`.execute(db)
  await sql`SELECT add_compression_policy('location_reports', INTERVAL '3 days')`.execute(db)
  await sql`SELECT add_retention_policy('location_reports', INTERVAL '10 days')`.execute(db)

  // A report inserted with only its hashed_adv_key (the seed's manual test) gets its tracker here.
  await sql`
    CREATE FUNCTION location_reports_fill_tracker() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.tracker_id IS NULL THEN
        SELECT k.tracker_id INTO NEW.tracker_id FROM tracker_keys k WHERE k.hashed_adv_key = NEW.hashed_adv_key;
        IF NEW.tracker_id IS NULL THEN
          RAISE EXCEPTION 'no tracker has a key with hashed_adv_key %', NEW.hashed_adv_key
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Add the key to a tracker first, then insert its reports.';
        END IF;
      END IF;
      RETURN NEW;
    END $$`.execute(db)
  await sql`
    CREATE TRIGGER location_reports_fill_tracker BEFORE INSERT ON location_reports
    FOR EACH ROW EXECUTE FUNCTION location_reports_fill_tracker()`.execute(db)

  // Every insert tells the refresher which hour it touched. NOTIFY folds identical payloads within a
  // transaction, so a batch sends one notification per distinct hour, and a batch whose rows were
  // all duplicates (ON CONFLICT DO NOTHING) sends none.
  await sql`
    CREATE FUNCTION location_reports_notify_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      bucket timestamptz := time_bucket(INTERVAL '1 hour', NEW."timestamp");
    BEGIN
      PERFORM pg_notify('refresh_location_history',
        json_build_object('from', bucket, 'to', bucket + INTERVAL '1 hour')::text);
      RETURN NULL;
    END $$`.execute(db)
  await sql`
    CREATE TRIGGER location_reports_notify_refresh AFTER INSERT ON location_reports
    FOR EACH ROW EXECUTE FUNCTION location_reports_notify_refresh()`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE location_reports`.execute(db)
  await sql`DROP FUNCTION location_reports_notify_refresh()`.execute(db)
  await sql`DROP FUNCTION location_reports_fill_tracker()`.execute(db)
}
