import { type Kysely, sql } from 'kysely'

// Frozen in time: migrations never import application code.

export async function up(db: Kysely<any>): Promise<void> {
  // The report endpoint's health as the importer saw it, for the API (another process) to show.
  // Requests per hour and outcome (ok, partial, empty, unauthorized, server_error, timeout, failed).
  await sql`
    CREATE TABLE endpoint_request_hours (
      hour timestamptz NOT NULL,
      outcome text NOT NULL,
      requests integer NOT NULL DEFAULT 0 CHECK (requests >= 0),
      PRIMARY KEY (hour, outcome),
      CONSTRAINT endpoint_request_hours_whole_hour CHECK (hour = date_trunc('hour', hour, 'UTC'))
    )`.execute(db)
  // One row: the current streak of failing requests (not ok, not partial) and the last good answer.
  await sql`
    CREATE TABLE endpoint_request_streak (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      failing_requests integer NOT NULL DEFAULT 0 CHECK (failing_requests >= 0),
      outcome text,
      since timestamptz,
      last_ok_at timestamptz,
      last_request_at timestamptz NOT NULL
    )`.execute(db)
  // The ledger: requests by outcome, ids asked for again alone after a "first id only" answer, and
  // the reports those requests brought.
  await sql`ALTER TABLE import_runs ADD COLUMN endpoint_requests jsonb NOT NULL DEFAULT '{}'::jsonb`.execute(
    db,
  )
  await sql`ALTER TABLE import_runs ADD COLUMN multi_id_retries integer NOT NULL DEFAULT 0`.execute(db)
  await sql`ALTER TABLE import_runs ADD COLUMN multi_id_recovered_reports integer NOT NULL DEFAULT 0`.execute(
    db,
  )
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE import_runs DROP COLUMN multi_id_recovered_reports`.execute(db)
  await sql`ALTER TABLE import_runs DROP COLUMN multi_id_retries`.execute(db)
  await sql`ALTER TABLE import_runs DROP COLUMN endpoint_requests`.execute(db)
  await sql`DROP TABLE endpoint_request_streak`.execute(db)
  await sql`DROP TABLE endpoint_request_hours`.execute(db)
}
