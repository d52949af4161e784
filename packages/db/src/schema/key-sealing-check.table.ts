import type { ColumnType, Selectable } from 'kysely'

/**
 * One row: the public key this database's tracker keys are sealed to (repositories/
 * key-sealing-check). Public: no secret is stored.
 */
export interface KeySealingCheckTable {
  /** Always true: the table holds one row. */
  id: ColumnType<boolean, boolean | undefined, never>
  /** The raw 32-byte X25519 public key (KeySealer.publicKey). */
  public_key: Buffer
  /** Its fingerprint (publicKeyFingerprint), for messages. */
  fingerprint: string
  created_at: ColumnType<Date, Date | string | undefined, never>
}

export type KeySealingCheck = Selectable<KeySealingCheckTable>
