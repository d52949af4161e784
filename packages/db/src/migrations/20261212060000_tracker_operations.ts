import { type Kysely, sql } from 'kysely'

// Frozen in time: migrations never import application code.
//
// The everyday operations: tokens that manage tokens (admin scope), tokens limited to chosen
// trackers, an audit trail of deleted trackers, and reports of a tracker deleted while an import of
// them was in flight are dropped instead of outliving their tracker.

/**
 * location_reports_fill_tracker as 20261121060100_location_reports created it, with `afterFill`
 * inserted after the key lookup (empty: the body as it was, byte for byte).
 */
const fillTracker = (afterFill: string) => sql`
    CREATE OR REPLACE FUNCTION location_reports_fill_tracker() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.tracker_id IS NULL THEN
        SELECT k.tracker_id INTO NEW.tracker_id FROM tracker_keys k WHERE k.hashed_adv_key = NEW.hashed_adv_key;
        IF NEW.tracker_id IS NULL THEN
          RAISE EXCEPTION 'no tracker has a key with hashed_adv_key %', NEW.hashed_adv_key
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Add the key to a tracker first, then insert its reports.';
        END IF;
      END IF;
${sql.raw(afterFill)}      RETURN NEW;
    END $$`

export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_scope_check`.execute(db)
  await sql`
    ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_scope_check
      CHECK (scope IN ('read', 'write', 'admin'))`.execute(db)

  // all_trackers = false: the token sees only the trackers listed in api_token_trackers. A flag, not
  // "no rows means all": deleting a limited token's last tracker must leave it seeing nothing.
  // An admin token manages tokens, so it could mint itself an unlimited one: admin is never limited.
  await sql`ALTER TABLE api_tokens ADD COLUMN all_trackers boolean NOT NULL DEFAULT true`.execute(db)
  await sql`
    ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_admin_all_trackers
      CHECK (scope <> 'admin' OR all_trackers)`.execute(db)
  await sql`
    CREATE TABLE api_token_trackers (
      token_id uuid NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
      tracker_id uuid NOT NULL REFERENCES trackers (id) ON DELETE CASCADE,
      PRIMARY KEY (token_id, tracker_id)
    )`.execute(db)
  await sql`CREATE INDEX api_token_trackers_tracker ON api_token_trackers (tracker_id)`.execute(db)

  // One row per deleted tracker: who, when, and how many rows each tier lost. No foreign key: the
  // tracker is gone, the record stays.
  await sql`
    CREATE TABLE tracker_deletions (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      tracker_id uuid NOT NULL,
      tracker_name text NOT NULL,
      hashed_adv_keys text[] NOT NULL,
      deleted_by text NOT NULL,
      deleted_at timestamptz NOT NULL DEFAULT now(),
      reports_deleted bigint NOT NULL,
      hourly_rows_deleted bigint NOT NULL,
      daily_rows_deleted bigint NOT NULL,
      history_rows_deleted bigint NOT NULL,
      keys_deleted integer NOT NULL
    )`.execute(db)
  await sql`CREATE INDEX tracker_deletions_deleted_at ON tracker_deletions (deleted_at DESC)`.execute(db)

  // A report naming a tracker that does not exist (deleted while an import run that had already
  // read its keys was inserting) is dropped. FOR KEY SHARE makes it a foreign key in effect without
  // one on the hypertable: a purge holding the tracker's row waits for the inserting transaction
  // (and then deletes what it committed), an insert after the purge waits for it and finds no row.
  // A transaction locks a row once; the rows after the first find the lock already held.
  await fillTracker(
    [
      '      PERFORM 1 FROM trackers t WHERE t.id = NEW.tracker_id FOR KEY SHARE;',
      '      IF NOT FOUND THEN',
      '        RETURN NULL;',
      '      END IF;',
      '',
    ].join('\n'),
  ).execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await fillTracker('').execute(db)
  await sql`DROP TABLE tracker_deletions`.execute(db)
  await sql`DROP TABLE api_token_trackers`.execute(db)
  await sql`ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_admin_all_trackers`.execute(db)
  await sql`ALTER TABLE api_tokens DROP COLUMN all_trackers`.execute(db)
  // The earlier schema has no admin scope: such tokens keep working as write tokens.
  await sql`UPDATE api_tokens SET scope = 'write' WHERE scope = 'admin'`.execute(db)
  await sql`ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_scope_check`.execute(db)
  await sql`
    ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_scope_check CHECK (scope IN ('read', 'write'))`.execute(
    db,
  )
}
