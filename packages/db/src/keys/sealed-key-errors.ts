/**
 * Whether the importer can use a stored key: it opens; it is in no format Tracker writes (e.g. typed
 * in by hand); or it does not open with the configured key (sealed to another one, or damaged:
 * AES-GCM cannot tell the two apart).
 */
export type KeyReadability = 'readable' | 'unknown_format' | 'undecryptable'

export class PrivateKeyDecryptionError extends Error {
  readonly code = 'PRIVATE_KEY_DECRYPTION_FAILED'
  readonly reason: Exclude<KeyReadability, 'readable'>
  constructor(message: string, reason: Exclude<KeyReadability, 'readable'>) {
    super(message)
    this.reason = reason
  }
}
