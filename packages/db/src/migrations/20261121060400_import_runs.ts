import { type Kysely, sql } from 'kysely'

// Frozen in time: migrations never import application code.

export async function up(db: Kysely<any>): Promise<void> {
  // The importer's ledger: one row per run, written at start and finished at the end, so a run that
  // dies half way is visible (status stays 'running') and is marked 'interrupted' by the next run.
  await sql`
    CREATE TABLE import_runs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      status text NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'interrupted')),
      trigger text NOT NULL DEFAULT 'schedule' CHECK (trigger IN ('schedule', 'startup', 'once', 'manual')),
      started_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      heartbeat_at timestamptz NOT NULL DEFAULT now(),
      owner text NOT NULL,
      lookback_days integer NOT NULL,
      trackers integer NOT NULL DEFAULT 0,
      keys integer NOT NULL DEFAULT 0,
      reports_fetched integer NOT NULL DEFAULT 0,
      reports_inserted integer NOT NULL DEFAULT 0,
      reports_duplicate integer NOT NULL DEFAULT 0,
      rejected jsonb NOT NULL DEFAULT '{}'::jsonb,
      source_errors jsonb NOT NULL DEFAULT '[]'::jsonb,
      window_from timestamptz,
      window_to timestamptz,
      error text
    )`.execute(db)
  await sql`CREATE INDEX import_runs_started ON import_runs (started_at DESC, id)`.execute(db)
  await sql`CREATE INDEX import_runs_running ON import_runs (status) WHERE status = 'running'`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE import_runs`.execute(db)
}
