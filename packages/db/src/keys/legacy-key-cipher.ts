import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto'
import { type KeyReadability, PrivateKeyDecryptionError } from './sealed-key-errors.ts'

const VERSION = 1
const IV_BYTES = 12
const TAG_BYTES = 16
/** What the key-check value is an HMAC of: a label, so the value is good for nothing else. */
const CHECK_LABEL = 'tracker: key-encryption-key check, version 1'

export class KeyEncryptionKeyError extends Error {
  readonly code = 'INVALID_KEY_ENCRYPTION_KEY'
}

/**
 * Version 1 of the sealed keys: AES-256-GCM under one symmetric key (KEY_ENCRYPTION_KEY), which
 * every process that sealed keys held, and so could open them all. Version 2 seals to a public key
 * (key-sealing.ts); this is kept to open version-1 keys: `keys reseal` re-seals them, and the
 * importer opens them during the transition when KEY_ENCRYPTION_KEY is still set. The key's hashed
 * advertisement key is the additional authenticated data. Layout: version(1) || iv(12) || tag(16) ||
 * ciphertext. `seal` stays for tests that build version-1 rows.
 */
export class LegacyKeyCipher {
  readonly #key: Buffer
  /** Identifies the key in logs without revealing it. */
  readonly fingerprint: string

  private constructor(key: Buffer) {
    this.#key = key
    this.fingerprint = createHash('sha256').update(key).digest('hex').slice(0, 12)
  }

  /**
   * `secret`: 32 bytes as base64 (44 chars) or hex (64 chars). `variable` names it in errors;
   * `hint` ends them (e.g. where the local stack keeps its key: `localStackKeyHint`).
   */
  static fromSecret(secret: string | undefined, variable = 'KEY_ENCRYPTION_KEY', hint = ''): LegacyKeyCipher {
    if (!secret) {
      throw new KeyEncryptionKeyError(
        `${variable} is not set: it must be the key (32 bytes as base64 or hex) that seals this ` +
          `database's tracker private keys in the old format (version 1).${hint}`,
      )
    }
    const trimmed = secret.trim()
    const key = /^[0-9a-f]{64}$/i.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64')
    if (key.length !== 32 || (!/^[0-9a-f]{64}$/i.test(trimmed) && key.toString('base64') !== trimmed)) {
      throw new KeyEncryptionKeyError(
        `${variable} must be 32 bytes as base64 (44 chars) or hex (64 chars).${hint}`,
      )
    }
    return new LegacyKeyCipher(key)
  }

  static generateSecret(): string {
    return randomBytes(32).toString('base64')
  }

  seal(privateKey: Uint8Array, hashedAdvKey: string): Buffer {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv)
    cipher.setAAD(Buffer.from(hashedAdvKey, 'utf8'))
    const ciphertext = Buffer.concat([cipher.update(privateKey), cipher.final()])
    return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), ciphertext])
  }

  /**
   * A value derived from the key (an HMAC of a fixed label), stored once per database so that every
   * process can tell a wrong key from the right one before it seals or opens anything. It reveals
   * nothing of the key.
   */
  checkValue(): Buffer {
    return createHmac('sha256', this.#key).update(CHECK_LABEL).digest()
  }

  /** Whether a stored key opens with this key; the opened key is wiped at once. */
  readability(sealed: Uint8Array, hashedAdvKey: string): KeyReadability {
    try {
      this.open(sealed, hashedAdvKey).fill(0)
      return 'readable'
    } catch (error) {
      if (error instanceof PrivateKeyDecryptionError) return error.reason
      throw error
    }
  }

  open(sealed: Uint8Array, hashedAdvKey: string): Buffer {
    const data = Buffer.from(sealed)
    if (data.length <= 1 + IV_BYTES + TAG_BYTES || data[0] !== VERSION) {
      throw new PrivateKeyDecryptionError(
        `the stored private key of ${hashedAdvKey} is not in a known format (not written by Tracker)`,
        'unknown_format',
      )
    }
    const iv = data.subarray(1, 1 + IV_BYTES)
    const tag = data.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES)
    const decipher = createDecipheriv('aes-256-gcm', this.#key, iv)
    decipher.setAAD(Buffer.from(hashedAdvKey, 'utf8'))
    decipher.setAuthTag(tag)
    try {
      return Buffer.concat([decipher.update(data.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()])
    } catch {
      throw new PrivateKeyDecryptionError(
        `the private key of ${hashedAdvKey} cannot be decrypted with this KEY_ENCRYPTION_KEY ` +
          `(fingerprint ${this.fingerprint}): it was sealed with another key, or is damaged`,
        'undecryptable',
      )
    }
  }
}
