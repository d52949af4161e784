import type { ColumnType, Generated, Selectable } from 'kysely'

/** A web session: a cookie's secret standing for an API token (its scope and trackers) until it expires. */
export interface ApiSessionTable {
  id: Generated<string>
  /** SHA-256 (hex) of the cookie's secret; the secret itself is never stored. */
  secret_hash: string
  api_token_id: string
  created_at: ColumnType<Date, Date | string | undefined, never>
  expires_at: ColumnType<Date, Date | string, Date | string>
  revoked_at: Date | null
  last_used_at: Date | null
}

/** A one-time sign-in link: its code opens one session for the token, once, before it expires. */
export interface SignInLinkTable {
  id: Generated<string>
  /** SHA-256 (hex) of the code in the link. */
  code_hash: string
  api_token_id: string
  created_at: ColumnType<Date, Date | string | undefined, never>
  expires_at: ColumnType<Date, Date | string, Date | string>
  used_at: Date | null
}

export type ApiSession = Selectable<ApiSessionTable>
export type SignInLink = Selectable<SignInLinkTable>
