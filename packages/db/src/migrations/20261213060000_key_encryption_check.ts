import { type Kysely, sql } from 'kysely'

// Frozen in time: migrations never import application code.

export async function up(db: Kysely<any>): Promise<void> {
  // What the key-encryption key of the database is known by (an HMAC of a fixed label under it,
  // never the key), written once by the first process that seals or opens keys, so that every
  // process with another KEY_ENCRYPTION_KEY is refused before it writes anything.
  await sql`
    CREATE TABLE key_encryption_check (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      check_value bytea NOT NULL,
      fingerprint text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE key_encryption_check`.execute(db)
}
