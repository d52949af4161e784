import { type Kysely, sql } from 'kysely'

// Frozen in time: migrations never import application code.

/**
 * NOTIFY tracker_changed {"trackers": [ids]} (or {"all": true} past 100 ids, under NOTIFY's 8000
 * bytes) whenever a tracker's visible state changes: created, renamed, (de)activated, deleted, or a
 * new last position, city or battery. A trigger, not the writers: the importer, the API and SQL by
 * hand all notify alike, once per statement, only for rows that really changed. Live readers (the
 * API's subscriptions, the MQTT bridge) re-read the trackers named; the payload carries no state.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION tracker_changed_payload(ids uuid[]) RETURNS text LANGUAGE sql IMMUTABLE AS $$
      SELECT CASE WHEN cardinality(ids) > 100 THEN '{"all":true}'
                  ELSE json_build_object('trackers', ids)::text END
    $$`.execute(db)
  await sql`
    CREATE FUNCTION notify_trackers_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE ids uuid[];
    BEGIN
      SELECT array_agg(id ORDER BY id) INTO ids FROM new_rows;
      IF ids IS NOT NULL THEN PERFORM pg_notify('tracker_changed', tracker_changed_payload(ids)); END IF;
      RETURN NULL;
    END $$`.execute(db)
  await sql`
    CREATE FUNCTION notify_trackers_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE ids uuid[];
    BEGIN
      SELECT array_agg(n.id ORDER BY n.id) INTO ids
        FROM new_rows n JOIN old_rows o ON o.id = n.id
       WHERE (n.name, n.is_active, n.last_seen_at, n.last_latitude, n.last_longitude, n.last_nearest_city, n.battery_level)
             IS DISTINCT FROM
             (o.name, o.is_active, o.last_seen_at, o.last_latitude, o.last_longitude, o.last_nearest_city, o.battery_level);
      IF ids IS NOT NULL THEN PERFORM pg_notify('tracker_changed', tracker_changed_payload(ids)); END IF;
      RETURN NULL;
    END $$`.execute(db)
  await sql`
    CREATE FUNCTION notify_trackers_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE ids uuid[];
    BEGIN
      SELECT array_agg(id ORDER BY id) INTO ids FROM old_rows;
      IF ids IS NOT NULL THEN PERFORM pg_notify('tracker_changed', tracker_changed_payload(ids)); END IF;
      RETURN NULL;
    END $$`.execute(db)
  // Transition tables allow one event per trigger: three triggers, each once per statement.
  await sql`
    CREATE TRIGGER trackers_notify_inserted AFTER INSERT ON trackers
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_trackers_inserted()`.execute(
    db,
  )
  await sql`
    CREATE TRIGGER trackers_notify_updated AFTER UPDATE ON trackers
      REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
      FOR EACH STATEMENT EXECUTE FUNCTION notify_trackers_updated()`.execute(db)
  await sql`
    CREATE TRIGGER trackers_notify_deleted AFTER DELETE ON trackers
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_trackers_deleted()`.execute(
    db,
  )
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TRIGGER trackers_notify_deleted ON trackers`.execute(db)
  await sql`DROP TRIGGER trackers_notify_updated ON trackers`.execute(db)
  await sql`DROP TRIGGER trackers_notify_inserted ON trackers`.execute(db)
  await sql`DROP FUNCTION notify_trackers_deleted()`.execute(db)
  await sql`DROP FUNCTION notify_trackers_updated()`.execute(db)
  await sql`DROP FUNCTION notify_trackers_inserted()`.execute(db)
  await sql`DROP FUNCTION tracker_changed_payload(uuid[])`.execute(db)
}
