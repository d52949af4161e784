import { type Kysely, sql } from 'kysely'

// Frozen in time: migrations never import application code.
//
// update_nearest_city and migrate_nearest_city_data rewrite reports that are mostly in compressed
// chunks (compressed after 3 days, segmented by tracker_id). An UPDATE on compressed data first
// decompresses every batch its scan's own conditions do not rule out, and TimescaleDB stops the
// statement once that exceeds timescaledb.max_tuples_decompressed_per_dml_transaction (100,000 by
// default). The old bodies were one statement each: every batch of the key across the whole window
// (update_nearest_city), every batch of the whole hypertable (migrate_nearest_city_data: `nearest_city
// IS NULL` rules no batch out). Past that size they failed.
//
// Now each UPDATE covers one chunk and one tracker: tracker_id is the segmentby column, so the
// compressed chunk's segment index yields that tracker's batches alone, and the time bounds (the
// chunk's range cut to the window, or to the rows to fill) skip its batches outside them through
// their min/max metadata. The statements run through EXECUTE ... USING: a one-shot plan whose
// parameters are constants, which chunk exclusion and the decompression filter both need (a cached
// generic plan of a static statement carries Params, which the decompression filter ignores).
//
// The limit: despite its name, TimescaleDB counts it per DML statement (the tuples_decompressed of
// that statement's ModifyHypertable node), so small statements stay under it inside one transaction
// (a test shows it). They cannot go below one tracker's data in one chunk, though (a tracker with more
// than 100,000 reports in one day, or longer chunks), and changing a report means decompressing it.
// So both functions also lift the limit for their own duration (a function-level SET, 0 = unlimited;
// the caller's value is back on return, and no other statement of the session is affected): what
// they decompress is bounded by the segments that hold rows they change, not by the guard.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE OR REPLACE FUNCTION update_nearest_city(p_hashed_adv_key text, p_from timestamptz, p_to timestamptz, p_nearest_city text)
    RETURNS integer LANGUAGE plpgsql
    SET timescaledb.max_tuples_decompressed_per_dml_transaction = 0
    AS $$
    DECLARE
      trackers uuid[];
      tracker uuid;
      chunk record;
      n integer;
      lo timestamptz;
      hi timestamptz;
      changed integer := 0;
      changed_from timestamptz;
      changed_to timestamptz;
      changed_trackers uuid[] := '{}';
    BEGIN
      trackers := ARRAY(SELECT k.tracker_id FROM tracker_keys k WHERE k.hashed_adv_key = p_hashed_adv_key);
      IF cardinality(trackers) = 0 THEN
        -- A key no tracker holds any more (its tracker was deleted): its reports still name one.
        trackers := ARRAY(
          SELECT DISTINCT r.tracker_id FROM location_reports r
           WHERE r.hashed_adv_key = p_hashed_adv_key AND r."timestamp" BETWEEN p_from AND p_to);
      END IF;

      FOR chunk IN
        SELECT c.range_start, c.range_end
          FROM timescaledb_information.chunks c
         WHERE format('%I.%I', c.hypertable_schema, c.hypertable_name)::regclass = 'location_reports'::regclass
           AND c.range_start <= p_to AND c.range_end > p_from
         ORDER BY c.range_start
      LOOP
        FOREACH tracker IN ARRAY trackers LOOP
          EXECUTE $q$
            WITH updated AS (
              UPDATE location_reports SET nearest_city = $1
               WHERE tracker_id = $2 AND hashed_adv_key = $3
                 AND "timestamp" >= $4 AND "timestamp" < $5 AND "timestamp" <= $6
                 AND nearest_city IS DISTINCT FROM $1
              RETURNING "timestamp")
            SELECT count(*)::integer, min("timestamp"), max("timestamp") FROM updated$q$
            INTO n, lo, hi
            USING p_nearest_city, tracker, p_hashed_adv_key, greatest(p_from, chunk.range_start), chunk.range_end, p_to;
          IF n > 0 THEN
            changed := changed + n;
            changed_from := least(changed_from, lo);
            changed_to := greatest(changed_to, hi);
            IF NOT tracker = ANY (changed_trackers) THEN
              changed_trackers := changed_trackers || tracker;
            END IF;
          END IF;
        END LOOP;
      END LOOP;

      IF changed > 0 THEN
        PERFORM pg_notify('refresh_location_history', history_change_payload(
          time_bucket(INTERVAL '1 hour', changed_from),
          time_bucket(INTERVAL '1 hour', changed_to) + INTERVAL '1 hour',
          changed_trackers, 'nearest_city'));
      END IF;
      RETURN changed;
    END $$`.execute(db)

  // Same lookup as before: a report without a city takes the city of the latest geocoded report at
  // the same place (rounded to 0.01 degree). The places are read once into a temporary table; then,
  // chunk by chunk, the trackers that have rows to fill (and the time span of those rows) are listed
  // first, so a tracker with nothing to fill is not decompressed at all.
  await sql`
    CREATE OR REPLACE FUNCTION migrate_nearest_city_data() RETURNS integer LANGUAGE plpgsql
    SET timescaledb.max_tuples_decompressed_per_dml_transaction = 0
    AS $$
    DECLARE
      chunk record;
      seg_trackers uuid[];
      seg_from timestamptz[];
      seg_to timestamptz[];
      n integer;
      lo timestamptz;
      hi timestamptz;
      changed integer := 0;
      changed_from timestamptz;
      changed_to timestamptz;
      changed_trackers uuid[] := '{}';
    BEGIN
      CREATE TEMPORARY TABLE nearest_city_known_places (
        lat numeric NOT NULL,
        lon numeric NOT NULL,
        nearest_city text NOT NULL,
        PRIMARY KEY (lat, lon)
      ) ON COMMIT DROP;
      INSERT INTO nearest_city_known_places (lat, lon, nearest_city)
      SELECT DISTINCT ON (round(latitude::numeric, 2), round(longitude::numeric, 2))
             round(latitude::numeric, 2), round(longitude::numeric, 2), nearest_city
        FROM location_reports
       WHERE nearest_city IS NOT NULL
       ORDER BY round(latitude::numeric, 2), round(longitude::numeric, 2), "timestamp" DESC;
      ANALYZE nearest_city_known_places;

      FOR chunk IN
        SELECT c.range_start, c.range_end
          FROM timescaledb_information.chunks c
         WHERE format('%I.%I', c.hypertable_schema, c.hypertable_name)::regclass = 'location_reports'::regclass
         ORDER BY c.range_start
      LOOP
        -- Listed in full before any update, so no scan of the chunk is open while it is rewritten.
        EXECUTE $q$
          SELECT array_agg(tracker_id ORDER BY tracker_id), array_agg(lo ORDER BY tracker_id), array_agg(hi ORDER BY tracker_id)
            FROM (SELECT r.tracker_id, min(r."timestamp") AS lo, max(r."timestamp") AS hi
                    FROM location_reports r
                    JOIN nearest_city_known_places k
                      ON k.lat = round(r.latitude::numeric, 2) AND k.lon = round(r.longitude::numeric, 2)
                   WHERE r."timestamp" >= $1 AND r."timestamp" < $2 AND r.nearest_city IS NULL
                   GROUP BY r.tracker_id) segments$q$
          INTO seg_trackers, seg_from, seg_to
          USING chunk.range_start, chunk.range_end;

        FOR i IN 1 .. coalesce(cardinality(seg_trackers), 0) LOOP
          EXECUTE $q$
            WITH updated AS (
              UPDATE location_reports r SET nearest_city = k.nearest_city
                FROM nearest_city_known_places k
               WHERE r.tracker_id = $1 AND r."timestamp" >= $2 AND r."timestamp" <= $3
                 AND r.nearest_city IS NULL
                 AND k.lat = round(r.latitude::numeric, 2) AND k.lon = round(r.longitude::numeric, 2)
              RETURNING r."timestamp")
            SELECT count(*)::integer, min("timestamp"), max("timestamp") FROM updated$q$
            INTO n, lo, hi
            USING seg_trackers[i], seg_from[i], seg_to[i];
          IF n > 0 THEN
            changed := changed + n;
            changed_from := least(changed_from, lo);
            changed_to := greatest(changed_to, hi);
            changed_trackers := changed_trackers || seg_trackers[i];
          END IF;
        END LOOP;
      END LOOP;

      -- Dropped now, not only at commit: a second call in the same transaction creates it again.
      DROP TABLE nearest_city_known_places;

      IF changed > 0 THEN
        PERFORM pg_notify('refresh_location_history', history_change_payload(
          time_bucket(INTERVAL '1 hour', changed_from),
          time_bucket(INTERVAL '1 hour', changed_to) + INTERVAL '1 hour',
          ARRAY(SELECT DISTINCT t FROM unnest(changed_trackers) t ORDER BY t),
          'nearest_city'));
      END IF;
      RETURN changed;
    END $$`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  // The bodies 20261121060300_location_history created (CREATE OR REPLACE also drops the SET).
  await sql`
    CREATE OR REPLACE FUNCTION update_nearest_city(p_hashed_adv_key text, p_from timestamptz, p_to timestamptz, p_nearest_city text)
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
    CREATE OR REPLACE FUNCTION migrate_nearest_city_data() RETURNS integer LANGUAGE plpgsql AS $$
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
