import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely'

export type ApiTokenScope = 'read' | 'write'

export interface ApiTokenTable {
  id: Generated<string>
  name: string
  /** SHA-256 (hex) of the bearer token; the token itself is never stored. */
  token_hash: string
  scope: ApiTokenScope
  created_at: ColumnType<Date, Date | string | undefined, never>
  last_used_at: Date | null
  revoked_at: Date | null
}

export type ApiToken = Selectable<ApiTokenTable>
export type NewApiToken = Insertable<ApiTokenTable>
export type ApiTokenUpdate = Updateable<ApiTokenTable>
