import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely'

export interface TrackerKeyTable {
  id: Generated<string>
  tracker_id: string
  /** base64(SHA-256(advertisement key)): the id the report endpoint knows the key by. */
  hashed_adv_key: string
  /** AES-256-GCM sealed private key (see keys/private-key-cipher.ts); never stored in plain text. */
  private_key_encrypted: Buffer
  is_active: Generated<boolean>
  created_at: ColumnType<Date, Date | string | undefined, never>
}

export type TrackerKey = Selectable<TrackerKeyTable>
export type NewTrackerKey = Insertable<TrackerKeyTable>
export type TrackerKeyUpdate = Updateable<TrackerKeyTable>

/** A stored key that cannot be opened: skipped by the importer, reported wherever keys are shown. */
export interface UnreadableKey {
  hashedAdvKey: string
  trackerId: string
  reason: 'unknown_format' | 'undecryptable'
  message: string
}
