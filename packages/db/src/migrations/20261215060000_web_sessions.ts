import { type Kysely, sql } from 'kysely'

// Frozen in time: migrations never import application code.

export async function up(db: Kysely<any>): Promise<void> {
  // The web app's sessions: a browser exchanges an API token for a cookie once, and the cookie's
  // secret stands for that token from then on (its scope and trackers). Only the secret's SHA-256
  // is stored; revoking the token ends its sessions (they cascade when it is deleted).
  await sql`
    CREATE TABLE api_sessions (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      secret_hash text NOT NULL UNIQUE,
      api_token_id uuid NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      revoked_at timestamptz,
      last_used_at timestamptz,
      CHECK (expires_at > created_at)
    )`.execute(db)
  await sql`CREATE INDEX api_sessions_api_token ON api_sessions (api_token_id)`.execute(db)
  await sql`CREATE INDEX api_sessions_expires_at ON api_sessions (expires_at)`.execute(db)
  // One-time sign-in links (the demo banner's): a code that opens one session, once, before it expires.
  await sql`
    CREATE TABLE sign_in_links (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      code_hash text NOT NULL UNIQUE,
      api_token_id uuid NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      used_at timestamptz,
      CHECK (expires_at > created_at)
    )`.execute(db)
  await sql`CREATE INDEX sign_in_links_api_token ON sign_in_links (api_token_id)`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE sign_in_links`.execute(db)
  await sql`DROP TABLE api_sessions`.execute(db)
}
