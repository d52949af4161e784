import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely'

export interface TrackerKeyTable {
  id: Generated<string>
  tracker_id: string
  /** base64(SHA-256(advertisement key)): the id the report endpoint knows the key by. */
  hashed_adv_key: string
  /**
   * The private key sealed to the database's public key (version 2, keys/key-sealing.ts), or under
   * KEY_ENCRYPTION_KEY (version 1, keys/legacy-key-cipher.ts) until `keys reseal`; never stored in
   * plain text. Written by the API and the commands that add keys; read only by the importer.
   */
  private_key_encrypted: Buffer
  is_active: Generated<boolean>
  created_at: ColumnType<Date, Date | string | undefined, never>
  /** Whether the importer could open it when it last looked ('unchecked': not yet). */
  readability: ColumnType<StoredKeyReadability, StoredKeyReadability | undefined, StoredKeyReadability>
}

/** What tracker_keys.readability holds: a KeyReadability, or 'unchecked' before the importer looked. */
export type StoredKeyReadability = 'unchecked' | 'readable' | 'unknown_format' | 'undecryptable'

export type TrackerKey = Selectable<TrackerKeyTable>
/** A key as everyone but the importer may see it: without its sealed private key. */
export type TrackerKeyInfo = Omit<TrackerKey, 'private_key_encrypted'>
export type NewTrackerKey = Insertable<TrackerKeyTable>
export type TrackerKeyUpdate = Updateable<TrackerKeyTable>

/** A stored key that cannot be opened: skipped by the importer, reported wherever keys are shown. */
export interface UnreadableKey {
  hashedAdvKey: string
  trackerId: string
  reason: 'unknown_format' | 'undecryptable'
  message: string
}
