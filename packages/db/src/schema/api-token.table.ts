import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely'

/** read: queries; write: queries and tracker mutations; admin: also the API tokens themselves. */
export type ApiTokenScope = 'read' | 'write' | 'admin'

export interface ApiTokenTable {
  id: Generated<string>
  name: string
  /** SHA-256 (hex) of the bearer token; the token itself is never stored. */
  token_hash: string
  scope: ApiTokenScope
  /** false: the token sees only the trackers listed for it in api_token_trackers (never for admin). */
  all_trackers: Generated<boolean>
  created_at: ColumnType<Date, Date | string | undefined, never>
  last_used_at: Date | null
  revoked_at: Date | null
}

export type ApiToken = Selectable<ApiTokenTable>
export type NewApiToken = Insertable<ApiTokenTable>
export type ApiTokenUpdate = Updateable<ApiTokenTable>

/** The trackers a token with all_trackers = false may see and change. */
export interface ApiTokenTrackerTable {
  token_id: string
  tracker_id: string
}
