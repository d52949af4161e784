import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from 'node:crypto'
import type { LegacyKeyCipher } from './legacy-key-cipher.ts'
import { type KeyReadability, PrivateKeyDecryptionError } from './sealed-key-errors.ts'

/** The first byte of a private key sealed to a public key (version 1: LegacyKeyCipher). */
export const SEALED_KEY_VERSION = 2
const LEGACY_VERSION = 1
const KEY_BYTES = 32
const TAG_BYTES = 16
const NONCE_BYTES = 12
/** Binds the derived key to this use: the same key pair sealing anything else derives other keys. */
const HKDF_INFO = Buffer.from('tracker: sealed tracker private key, version 2', 'utf8')

// X25519 keys as DER: these prefixes and the 32 raw bytes (RFC 8410).
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex')
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')

/** A sealing key that is missing or malformed: a configuration mistake, named by its variable. */
export class KeySealingKeyError extends Error {
  readonly code = 'INVALID_KEY_SEALING_KEY'
}

const GENERATE =
  'generate a key pair with "npm run importer -- keys generate" (or "openssl genpkey -algorithm x25519")'

/** 32 bytes as base64 (44 chars) or hex (64 chars), or a PEM of the given kind; null when neither. */
function rawKey(value: string, pem: (text: string) => KeyObject): Buffer | null {
  const trimmed = value.trim()
  if (trimmed.startsWith('-----BEGIN')) {
    try {
      const key = pem(trimmed)
      if (key.asymmetricKeyType !== 'x25519') return null
      const der =
        key.type === 'private'
          ? key.export({ type: 'pkcs8', format: 'der' })
          : key.export({ type: 'spki', format: 'der' })
      return Buffer.from(der.subarray(der.length - KEY_BYTES))
    } catch {
      return null
    }
  }
  if (/^[0-9a-f]{64}$/i.test(trimmed)) return Buffer.from(trimmed, 'hex')
  const bytes = Buffer.from(trimmed, 'base64')
  return bytes.length === KEY_BYTES && bytes.toString('base64') === trimmed ? bytes : null
}

const publicKeyObject = (raw: Buffer) =>
  createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
const privateKeyObject = (raw: Buffer) =>
  createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' })
const rawPublicKey = (key: KeyObject) => {
  const der = key.export({ type: 'spki', format: 'der' })
  return Buffer.from(der.subarray(der.length - KEY_BYTES))
}

/** Identifies a public key in messages and logs (its SHA-256, shortened); reveals nothing secret. */
export function publicKeyFingerprint(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex').slice(0, 16)
}

/**
 * The AES-256-GCM key and nonce of one sealed key: HKDF-SHA256 over the X25519 shared secret, salted
 * with the ephemeral and the recipient public key (so a sealed key is bound to both), info a label.
 * Each sealing has its own ephemeral key pair, hence its own key and nonce.
 */
function derive(shared: Buffer, ephemeral: Buffer, recipient: Buffer): { key: Buffer; nonce: Buffer } {
  const okm = Buffer.from(
    hkdfSync('sha256', shared, Buffer.concat([ephemeral, recipient]), HKDF_INFO, KEY_BYTES + NONCE_BYTES),
  )
  shared.fill(0)
  return { key: okm.subarray(0, KEY_BYTES), nonce: okm.subarray(KEY_BYTES) }
}

/**
 * Seals tracker private keys to a public key (X25519): what the API and the commands that only add
 * keys hold. It cannot open anything it seals: only the private key's holder (KeyOpener, the
 * importer) can. An HPKE-style sealed box per key: an ephemeral X25519 key pair, ECDH with the
 * recipient's public key, HKDF-SHA256, AES-256-GCM with the key's hashed advertisement key as the
 * authenticated data, so a sealed key cannot be moved to another key's row.
 * Layout: version(1) = 2 || ephemeral public key(32) || tag(16) || ciphertext.
 */
export class KeySealer {
  /** The recipient's raw 32-byte X25519 public key. */
  readonly publicKey: Buffer
  readonly fingerprint: string
  readonly #recipient: KeyObject

  private constructor(publicKey: Buffer) {
    this.publicKey = publicKey
    this.fingerprint = publicKeyFingerprint(publicKey)
    this.#recipient = publicKeyObject(publicKey)
  }

  /**
   * `value`: the X25519 public key as base64 of its 32 bytes (44 chars), hex (64 chars) or an SPKI
   * PEM. `variable` names it in errors; `hint` ends them (where the local stack keeps its keys).
   */
  static fromPublicKey(value: string | undefined, variable = 'KEY_SEALING_PUBLIC_KEY', hint = ''): KeySealer {
    if (!value?.trim()) {
      throw new KeySealingKeyError(
        `${variable} is not set: it must be the public key (X25519, 32 bytes as base64) that tracker private keys ` +
          `are sealed to; the importer holds its private key (KEY_SEALING_PRIVATE_KEY) and prints it with ` +
          `"npm run importer -- keys public".${hint} For a new installation, ${GENERATE}.`,
      )
    }
    const raw = rawKey(value, (pem) => createPublicKey(pem))
    if (!raw) {
      throw new KeySealingKeyError(
        `${variable} must be an X25519 public key: 32 bytes as base64 (44 chars) or hex (64 chars), or a PEM public key.${hint}`,
      )
    }
    return new KeySealer(raw)
  }

  static fromRawPublicKey(raw: Uint8Array): KeySealer {
    if (raw.length !== KEY_BYTES) throw new KeySealingKeyError('an X25519 public key has 32 bytes')
    return new KeySealer(Buffer.from(raw))
  }

  seal(privateKey: Uint8Array, hashedAdvKey: string): Buffer {
    const ephemeral = generateKeyPairSync('x25519')
    const ephemeralPublic = rawPublicKey(ephemeral.publicKey)
    const { key, nonce } = derive(
      diffieHellman({ privateKey: ephemeral.privateKey, publicKey: this.#recipient }),
      ephemeralPublic,
      this.publicKey,
    )
    const cipher = createCipheriv('aes-256-gcm', key, nonce)
    cipher.setAAD(Buffer.from(hashedAdvKey, 'utf8'))
    const ciphertext = Buffer.concat([cipher.update(privateKey), cipher.final()])
    key.fill(0)
    return Buffer.concat([
      Buffer.from([SEALED_KEY_VERSION]),
      ephemeralPublic,
      cipher.getAuthTag(),
      ciphertext,
    ])
  }
}

/**
 * Opens sealed tracker private keys: holds the X25519 private key, and only the importer (and the
 * commands that re-seal or record keys) ever builds one. Its `sealer` seals to its own public key.
 * With a LegacyKeyCipher (`withLegacy`, KEY_ENCRYPTION_KEY during the transition) it also opens keys
 * still sealed in version 1.
 */
export class KeyOpener {
  readonly sealer: KeySealer
  readonly #privateKey: KeyObject
  readonly #legacy: LegacyKeyCipher | undefined

  private constructor(privateKey: KeyObject, sealer: KeySealer, legacy?: LegacyKeyCipher) {
    this.#privateKey = privateKey
    this.sealer = sealer
    this.#legacy = legacy
  }

  /** The public key's fingerprint: what the database records, and messages show. */
  get fingerprint(): string {
    return this.sealer.fingerprint
  }

  /** Whether it opens version-1 keys too (a LegacyKeyCipher was given). */
  get opensLegacyKeys(): boolean {
    return this.#legacy !== undefined
  }

  /**
   * `value`: the X25519 private key as base64 of its 32 bytes (44 chars), hex (64 chars) or a PKCS#8
   * PEM ("openssl genpkey -algorithm x25519"). The public key is derived from it.
   */
  static fromPrivateKey(
    value: string | undefined,
    variable = 'KEY_SEALING_PRIVATE_KEY',
    hint = '',
  ): KeyOpener {
    if (!value?.trim()) {
      throw new KeySealingKeyError(
        `${variable} is not set: it must be the private key (X25519, 32 bytes as base64) that opens this ` +
          `database's tracker private keys; only the importer holds it.${hint} For a new installation, ${GENERATE}.`,
      )
    }
    const raw = rawKey(value, (pem) => createPrivateKey(pem))
    if (!raw) {
      throw new KeySealingKeyError(
        `${variable} must be an X25519 private key: 32 bytes as base64 (44 chars) or hex (64 chars), or a PEM private key.${hint}`,
      )
    }
    const privateKey = privateKeyObject(raw)
    raw.fill(0)
    return new KeyOpener(privateKey, KeySealer.fromRawPublicKey(rawPublicKey(createPublicKey(privateKey))))
  }

  /** A new key pair, each as base64 of its 32 raw bytes (the form the variables take). */
  static generate(): { privateKey: string; publicKey: string } {
    const pair = generateKeyPairSync('x25519')
    const der = pair.privateKey.export({ type: 'pkcs8', format: 'der' })
    return {
      privateKey: Buffer.from(der.subarray(der.length - KEY_BYTES)).toString('base64'),
      publicKey: rawPublicKey(pair.publicKey).toString('base64'),
    }
  }

  /** This opener, also opening version-1 keys with `legacy` (none: version 2 only). */
  withLegacy(legacy: LegacyKeyCipher | undefined): KeyOpener {
    return new KeyOpener(this.#privateKey, this.sealer, legacy)
  }

  open(sealed: Uint8Array, hashedAdvKey: string): Buffer {
    const data = Buffer.from(sealed)
    if (data[0] === LEGACY_VERSION && data.length > 1) {
      if (this.#legacy) return this.#legacy.open(data, hashedAdvKey)
      throw new PrivateKeyDecryptionError(
        `the private key of ${hashedAdvKey} is still sealed in the old format (version 1, under KEY_ENCRYPTION_KEY): ` +
          're-seal it with "npm run importer -- keys reseal"',
        'undecryptable',
      )
    }
    if (data.length <= 1 + KEY_BYTES + TAG_BYTES || data[0] !== SEALED_KEY_VERSION) {
      throw new PrivateKeyDecryptionError(
        `the stored private key of ${hashedAdvKey} is not in a known format (not written by Tracker)`,
        'unknown_format',
      )
    }
    const ephemeralPublic = data.subarray(1, 1 + KEY_BYTES)
    const tag = data.subarray(1 + KEY_BYTES, 1 + KEY_BYTES + TAG_BYTES)
    let shared: Buffer
    try {
      shared = diffieHellman({ privateKey: this.#privateKey, publicKey: publicKeyObject(ephemeralPublic) })
    } catch {
      // A low-order point (an all-zero shared secret) or no point at all: not a key Tracker sealed.
      throw this.#undecryptable(hashedAdvKey)
    }
    const { key, nonce } = derive(shared, ephemeralPublic, this.sealer.publicKey)
    const decipher = createDecipheriv('aes-256-gcm', key, nonce)
    decipher.setAAD(Buffer.from(hashedAdvKey, 'utf8'))
    decipher.setAuthTag(tag)
    try {
      return Buffer.concat([decipher.update(data.subarray(1 + KEY_BYTES + TAG_BYTES)), decipher.final()])
    } catch {
      throw this.#undecryptable(hashedAdvKey)
    } finally {
      key.fill(0)
    }
  }

  /** Whether a stored key opens; the opened key is wiped at once. */
  readability(sealed: Uint8Array, hashedAdvKey: string): KeyReadability {
    try {
      this.open(sealed, hashedAdvKey).fill(0)
      return 'readable'
    } catch (error) {
      if (error instanceof PrivateKeyDecryptionError) return error.reason
      throw error
    }
  }

  #undecryptable(hashedAdvKey: string): PrivateKeyDecryptionError {
    return new PrivateKeyDecryptionError(
      `the private key of ${hashedAdvKey} cannot be opened with this KEY_SEALING_PRIVATE_KEY ` +
        `(public key ${this.fingerprint}): it was sealed to another key, or is damaged`,
      'undecryptable',
    )
  }
}

/** The format a stored sealed key is in, from its first byte (no key needed). */
export function sealedKeyVersion(sealed: Uint8Array): 1 | 2 | null {
  if (sealed.length > 1 && sealed[0] === LEGACY_VERSION) return 1
  if (sealed.length > 1 + KEY_BYTES + TAG_BYTES && sealed[0] === SEALED_KEY_VERSION) return 2
  return null
}

/**
 * The X25519 public key `raw` would have if it were a private key: tells a private key given where
 * the public key belongs (the API must never hold it) from a merely wrong public key.
 */
export function publicKeyIfPrivate(raw: Uint8Array): Buffer {
  return rawPublicKey(createPublicKey(privateKeyObject(Buffer.from(raw))))
}
