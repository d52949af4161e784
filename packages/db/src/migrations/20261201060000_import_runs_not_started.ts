import { type Kysely, sql } from 'kysely'

// Frozen in time: migrations never import application code.

export async function up(db: Kysely<any>): Promise<void> {
  // A run that could not start (its lock backend unreachable) is recorded too, with the reason, so
  // the ledger shows every scheduled run; it holds no lock and did no work, hence a status of its own.
  await sql`ALTER TABLE import_runs DROP CONSTRAINT import_runs_status_check`.execute(db)
  await sql`
    ALTER TABLE import_runs ADD CONSTRAINT import_runs_status_check CHECK
      (status IN ('running', 'succeeded', 'partial', 'failed', 'interrupted', 'not_started'))`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`UPDATE import_runs SET status = 'failed' WHERE status = 'not_started'`.execute(db)
  await sql`ALTER TABLE import_runs DROP CONSTRAINT import_runs_status_check`.execute(db)
  await sql`
    ALTER TABLE import_runs ADD CONSTRAINT import_runs_status_check
      CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'interrupted'))`.execute(db)
}
