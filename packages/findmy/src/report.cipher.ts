import { createCipheriv, createDecipheriv, createHash } from 'node:crypto'
import { TAG_BYTES } from './report.payload.ts'

const KDF_COUNTER = Buffer.from([0, 0, 0, 1])

/**
 * ANSI X9.63 KDF with SHA-256, one round: SHA-256(Z || 00000001 || ephemeralKey57). The first 16
 * bytes are the AES-128 key, the last 16 the GCM IV (Apple uses a 16-byte IV, not the usual 12).
 */
export function deriveReportKey(sharedX: Buffer, ephemeralPoint: Buffer): { key: Buffer; iv: Buffer } {
  const digest = createHash('sha256').update(sharedX).update(KDF_COUNTER).update(ephemeralPoint).digest()
  return { key: digest.subarray(0, 16), iv: digest.subarray(16, 32) }
}

export function encryptLocationBytes(
  sharedX: Buffer,
  ephemeralPoint: Buffer,
  plaintext: Buffer,
): { ciphertext: Buffer; tag: Buffer } {
  const { key, iv } = deriveReportKey(sharedX, ephemeralPoint)
  const cipher = createCipheriv('aes-128-gcm', key, iv, { authTagLength: TAG_BYTES })
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return { ciphertext, tag: cipher.getAuthTag() }
}

/** Returns null when the tag does not match: a wrong key or a corrupted payload. */
export function decryptLocationBytes(
  sharedX: Buffer,
  ephemeralPoint: Buffer,
  ciphertext: Buffer,
  tag: Buffer,
): Buffer | null {
  const { key, iv } = deriveReportKey(sharedX, ephemeralPoint)
  const decipher = createDecipheriv('aes-128-gcm', key, iv, { authTagLength: TAG_BYTES })
  decipher.setAuthTag(tag)
  const plaintext = decipher.update(ciphertext)
  try {
    return Buffer.concat([plaintext, decipher.final()])
  } catch {
    return null
  }
}
