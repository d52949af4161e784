import { type Kysely, sql } from 'kysely'

// Frozen in time: migrations never import application code.

export async function up(db: Kysely<any>): Promise<void> {
  // The keys a run could not open and skipped ({ hashedAdvKey, trackerId, reason, message }), so one
  // unreadable key is visible in the ledger instead of stopping the importer.
  await sql`ALTER TABLE import_runs ADD COLUMN unreadable_keys jsonb NOT NULL DEFAULT '[]'::jsonb`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE import_runs DROP COLUMN unreadable_keys`.execute(db)
}
