import type { ColumnType, Selectable } from 'kysely'

/**
 * One row: what the database's key-encryption key is known by (repositories/key-encryption-check).
 * Never the key itself.
 */
export interface KeyEncryptionCheckTable {
  /** Always true: the table holds one row. */
  id: ColumnType<boolean, boolean | undefined, never>
  /** HMAC-SHA256 of a fixed label under the key (PrivateKeyCipher.checkValue). */
  check_value: Buffer
  /** The key's fingerprint (PrivateKeyCipher.fingerprint), for messages. */
  fingerprint: string
  created_at: ColumnType<Date, Date | string | undefined, never>
}

export type KeyEncryptionCheck = Selectable<KeyEncryptionCheckTable>
