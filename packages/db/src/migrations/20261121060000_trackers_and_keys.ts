import { type Kysely, sql } from 'kysely'

// Frozen in time: migrations never import application code.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`.execute(db)

  await sql`
    CREATE TABLE trackers (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
      is_active boolean NOT NULL DEFAULT true,
      deactivated_at timestamptz,
      last_seen_at timestamptz,
      last_latitude double precision CHECK (last_latitude BETWEEN -90 AND 90),
      last_longitude double precision CHECK (last_longitude BETWEEN -180 AND 180),
      last_nearest_city text,
      battery_level text CHECK (battery_level IN ('ok', 'medium', 'low', 'critical')),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db)
  await sql`CREATE INDEX trackers_active_created ON trackers (is_active, created_at, id)`.execute(db)

  await sql`
    CREATE TABLE tracker_keys (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      tracker_id uuid NOT NULL REFERENCES trackers (id) ON DELETE CASCADE,
      hashed_adv_key text NOT NULL UNIQUE CHECK (length(hashed_adv_key) = 44),
      private_key_encrypted bytea NOT NULL,
      is_active boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db)
  await sql`CREATE INDEX tracker_keys_tracker ON tracker_keys (tracker_id)`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE tracker_keys`.execute(db)
  await sql`DROP TABLE trackers`.execute(db)
}
