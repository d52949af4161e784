import { type Kysely, sql } from 'kysely'

// Frozen in time: migrations never import application code.

export async function up(db: Kysely<any>): Promise<void> {
  // Since 2026 the report endpoint keeps only each key's latest few reports: when a poll returns as
  // many as it gives and the oldest of them is newer than the newest report stored for that key,
  // reports between the two may have been dropped before any poll saw them. Each such period is
  // recorded, so a user can see which periods of a tracker's history are missing and why.
  await sql`
    CREATE TABLE coverage_gaps (
      id bigserial PRIMARY KEY,
      tracker_id uuid NOT NULL REFERENCES trackers (id) ON DELETE CASCADE,
      hashed_adv_key text NOT NULL,
      gap_from timestamptz NOT NULL,
      gap_to timestamptz NOT NULL,
      reports_returned integer NOT NULL,
      endpoint_limit integer NOT NULL,
      import_run_id uuid REFERENCES import_runs (id) ON DELETE SET NULL,
      detected_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT coverage_gaps_ordered CHECK (gap_to > gap_from),
      CONSTRAINT coverage_gaps_once UNIQUE (hashed_adv_key, gap_from)
    )`.execute(db)
  await sql`CREATE INDEX coverage_gaps_tracker ON coverage_gaps (tracker_id, gap_to DESC)`.execute(db)
  // The ledger: gaps a run found, and the most reports one key got in one answer (what "as many as
  // the endpoint gives" is learnt from when it is not configured).
  await sql`ALTER TABLE import_runs ADD COLUMN coverage_gaps integer NOT NULL DEFAULT 0`.execute(db)
  await sql`ALTER TABLE import_runs ADD COLUMN max_reports_per_key integer NOT NULL DEFAULT 0`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE import_runs DROP COLUMN max_reports_per_key`.execute(db)
  await sql`ALTER TABLE import_runs DROP COLUMN coverage_gaps`.execute(db)
  await sql`DROP TABLE coverage_gaps`.execute(db)
}
