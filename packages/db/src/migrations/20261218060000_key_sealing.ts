import { type Kysely, sql } from 'kysely'

// Frozen in time: migrations never import application code.

export async function up(db: Kysely<any>): Promise<void> {
  // Tracker private keys are sealed to a public key (format version 2): the API and the commands
  // that add keys hold only the public key, the importer the private one. The public key every key
  // is sealed to is recorded once, by the first process that holds its private key, so that a
  // process configured with another key pair is refused before it seals or opens anything. It is
  // public: no secret is stored here. key_encryption_check stays for the version-1 keys still to
  // be re-sealed (`keys reseal`).
  await sql`
    CREATE TABLE key_sealing_check (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      public_key bytea NOT NULL CHECK (length(public_key) = 32),
      fingerprint text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db)
  // Whether the importer could open each key, written by the importer (the only process that can
  // tell): the API shows it without reading, or being able to open, the sealed column.
  await sql`
    ALTER TABLE tracker_keys ADD COLUMN readability text NOT NULL DEFAULT 'unchecked'
      CHECK (readability IN ('unchecked', 'readable', 'unknown_format', 'undecryptable'))`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE tracker_keys DROP COLUMN readability`.execute(db)
  await sql`DROP TABLE key_sealing_check`.execute(db)
}
