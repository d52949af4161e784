import { type Kysely, sql } from 'kysely'

// Frozen in time: migrations never import application code.

export async function up(db: Kysely<any>): Promise<void> {
  // The adaptive polling mode: each tracker's own cadence (shortened while its answers come back
  // full or it moves, lengthened while still or silent) and an optional fixed interval a user set.
  await sql`
    CREATE TABLE tracker_polling (
      tracker_id uuid PRIMARY KEY REFERENCES trackers (id) ON DELETE CASCADE,
      interval_seconds integer NOT NULL CHECK (interval_seconds > 0),
      next_poll_at timestamptz NOT NULL,
      last_poll_at timestamptz,
      override_seconds integer CHECK (override_seconds > 0),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db)
  await sql`CREATE INDEX tracker_polling_due ON tracker_polling (next_poll_at)`.execute(db)
  // Every request made to the report endpoint in the last hour (pruned as it goes): the request
  // budget is a hard ceiling over any sliding hour, and must hold across restarts too.
  await sql`CREATE TABLE endpoint_request_log (at timestamptz NOT NULL)`.execute(db)
  await sql`CREATE INDEX endpoint_request_log_at ON endpoint_request_log (at)`.execute(db)
  // Runs of the adaptive poller (some trackers' keys) are ledger rows like any other.
  await sql`ALTER TABLE import_runs DROP CONSTRAINT import_runs_trigger_check`.execute(db)
  await sql`
    ALTER TABLE import_runs ADD CONSTRAINT import_runs_trigger_check
      CHECK (trigger IN ('schedule', 'startup', 'once', 'manual', 'poll'))`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE import_runs DROP CONSTRAINT import_runs_trigger_check`.execute(db)
  await sql`UPDATE import_runs SET trigger = 'schedule' WHERE trigger = 'poll'`.execute(db)
  await sql`
    ALTER TABLE import_runs ADD CONSTRAINT import_runs_trigger_check
      CHECK (trigger IN ('schedule', 'startup', 'once', 'manual'))`.execute(db)
  await sql`DROP TABLE endpoint_request_log`.execute(db)
  await sql`DROP TABLE tracker_polling`.execute(db)
}
