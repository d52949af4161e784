import { createECDH, createHash } from 'node:crypto'
import { bigIntFromBytes, CURVE, ORDER, POINT_BYTES, padScalar, publicPointOf, SCALAR_BYTES } from './p224.ts'

export interface FindMyKeyPair {
  /** The 28-byte big-endian private scalar. */
  privateKey: Buffer
  /** The 28-byte X coordinate of the public point: what the tracker advertises. */
  advertisementKey: Buffer
  /** base64(SHA-256(advertisementKey)), 44 chars: the id the report endpoint knows the key by. */
  hashedAdvKey: string
}

export class InvalidKeyError extends Error {
  readonly code = 'INVALID_KEY'
}

/** The 85-byte form OpenHaystack may store: 04 || X(28) || Y(28) || d(28). */
const OPENHAYSTACK_KEY_BYTES = 1 + 2 * SCALAR_BYTES + SCALAR_BYTES
/**
 * Tools that drop leading zero bytes give shorter scalars. A random key loses 4 bytes once in 2^32;
 * anything shorter is another kind of value (a MAC, a truncated paste), not a key to pad.
 */
const MIN_SCALAR_BYTES = SCALAR_BYTES - 4

export function hashAdvertisementKey(advertisementKey: Buffer): string {
  return createHash('sha256').update(advertisementKey).digest('base64')
}

export function generateKeyPair(): FindMyKeyPair {
  const ecdh = createECDH(CURVE)
  ecdh.generateKeys()
  // getPrivateKey() drops leading zero bytes (about 1 key in 256).
  return keyPairFromScalar(padScalar(ecdh.getPrivateKey()))
}

/**
 * Reads a private key in any form users have: the raw 28-byte scalar, a shorter scalar whose
 * leading zero bytes were dropped (down to 24 bytes), or OpenHaystack's 85-byte `04||X||Y||d`; as bytes or as a string
 * in base64 (standard or URL-safe, padding optional) or hex.
 */
export function keyPairFromPrivateKey(input: Buffer | string): FindMyKeyPair {
  const bytes = typeof input === 'string' ? decodeKeyString(input) : Buffer.from(input)
  if (bytes.length === OPENHAYSTACK_KEY_BYTES && bytes[0] === 0x04) {
    const pair = keyPairFromScalar(bytes.subarray(1 + 2 * SCALAR_BYTES))
    const storedPoint = bytes.subarray(0, POINT_BYTES)
    if (!publicPointOf(pair.privateKey).equals(storedPoint)) {
      throw new InvalidKeyError(
        'the 85-byte key holds a public point that does not belong to its private scalar',
      )
    }
    return pair
  }
  // A 29-byte scalar with a leading zero comes from signed big-integer encodings (Java, .NET).
  const scalar = bytes.length === SCALAR_BYTES + 1 && bytes[0] === 0 ? bytes.subarray(1) : bytes
  if (scalar.length < MIN_SCALAR_BYTES || scalar.length > SCALAR_BYTES) {
    throw new InvalidKeyError(
      `a private key has ${SCALAR_BYTES} bytes (${MIN_SCALAR_BYTES}-${SCALAR_BYTES - 1} with leading zero bytes dropped, ` +
        `or ${OPENHAYSTACK_KEY_BYTES} as 04||X||Y||d), got ${bytes.length}`,
    )
  }
  return keyPairFromScalar(padScalar(scalar))
}

function keyPairFromScalar(privateKey: Buffer): FindMyKeyPair {
  const d = bigIntFromBytes(privateKey)
  if (d === 0n || d >= ORDER) {
    throw new InvalidKeyError(
      'the private key is not a valid P-224 scalar (it must be between 1 and the group order)',
    )
  }
  const advertisementKey = publicPointOf(privateKey).subarray(1, 1 + SCALAR_BYTES)
  return {
    privateKey: Buffer.from(privateKey),
    advertisementKey,
    hashedAdvKey: hashAdvertisementKey(advertisementKey),
  }
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/
const BASE64_URL = /^[A-Za-z0-9_-]+={0,2}$/
// 56 hex chars = 28 bytes and 170 = 85 bytes; as base64 they would decode to lengths no key has.
const HEX_KEY = /^(?:[0-9a-fA-F]{56}|[0-9a-fA-F]{170})$/

function decodeKeyString(text: string): Buffer {
  const trimmed = text.trim()
  if (trimmed === '') throw new InvalidKeyError('the private key is empty')
  if (HEX_KEY.test(trimmed)) return Buffer.from(trimmed, 'hex')
  const bytes = decodeBase64Strict(trimmed)
  if (bytes === null) throw new InvalidKeyError('the private key is neither base64 nor hex')
  return bytes
}

/**
 * Buffer.from(text, 'base64') silently skips characters outside the alphabet, so a typo would
 * give a different key. Accepts the standard and URL-safe alphabets, with or without padding.
 */
export function decodeBase64Strict(text: string): Buffer | null {
  if (text.length % 4 === 1 || (text.endsWith('=') && text.length % 4 !== 0)) return null
  if (BASE64.test(text)) return Buffer.from(text, 'base64')
  if (BASE64_URL.test(text)) return Buffer.from(text, 'base64url')
  return null
}
