import { decodeBase64Strict } from './keys.ts'
import { p224Backend } from './p224/choose-backend.ts'
import type { P224Backend, P224Key } from './p224/p224-backend.ts'
import { padScalar } from './p224.ts'
import { decryptLocationBytes } from './report.cipher.ts'
import {
  type BatteryLevel,
  batteryLevelFromStatus,
  CIPHERTEXT_OFFSET,
  CONFIDENCE_OFFSET,
  decodeLocation,
  EPHEMERAL_KEY_OFFSET,
  normalizePayload,
  PAYLOAD_BYTES,
  PAYLOAD_BYTES_EXTENDED,
  readTimestamp,
  TAG_OFFSET,
} from './report.payload.ts'

export type { BatteryLevel }

/** One entry of the report endpoint's `results`; extra fields pass through untouched. */
export interface EndpointReport {
  id: string
  /** Milliseconds since the Unix epoch. */
  datePublished: number
  payload: string
  statusCode?: number
  [extra: string]: unknown
}

export interface DecryptedReport {
  hashedAdvKey: string
  timestamp: Date
  confidence: number
  latitude: number
  longitude: number
  horizontalAccuracy: number
  /** The raw status byte. */
  status: number
  /** Only when status bit 5 says the firmware reports it. */
  batteryLevel: BatteryLevel | null
  publishedAt: Date | null
}

export type RejectionReason =
  | 'bad_base64'
  | 'wrong_length'
  | 'undecryptable'
  | 'coordinates_out_of_range'
  | 'unknown_key'

export interface ReportRejection {
  reason: RejectionReason
  message: string
  hashedAdvKey: string
  datePublished: number | null
}

export class ReportDecryptionError extends Error {
  readonly code = 'REPORT_DECRYPTION_FAILED'
  readonly reason: RejectionReason
  constructor(reason: RejectionReason, message: string) {
    super(message)
    this.reason = reason
  }
}

/**
 * Decrypts with one private key; reuse it (the key import costs about a tenth of a report). The ECDH
 * runs on this thread's P-224 backend (the system's libcrypto when it checked out, else Node's).
 */
export class ReportDecryptor {
  readonly #privateKey: P224Key
  constructor(privateKey: Buffer, backend: P224Backend = p224Backend().backend) {
    this.#privateKey = backend.key(padScalar(privateKey))
  }

  decrypt(report: EndpointReport): DecryptedReport {
    const raw = decodeBase64Strict(report.payload)
    if (raw === null) throw new ReportDecryptionError('bad_base64', 'the payload is not base64')
    if (raw.length !== PAYLOAD_BYTES && raw.length !== PAYLOAD_BYTES_EXTENDED) {
      throw new ReportDecryptionError(
        'wrong_length',
        `a payload has ${PAYLOAD_BYTES} or ${PAYLOAD_BYTES_EXTENDED} bytes, this one ${raw.length}`,
      )
    }
    const payload = normalizePayload(raw)
    const ephemeralPoint = payload.subarray(EPHEMERAL_KEY_OFFSET, CIPHERTEXT_OFFSET)
    const secret = this.#privateKey.sharedSecret(Buffer.from(ephemeralPoint))
    if (secret === null)
      throw new ReportDecryptionError('undecryptable', 'the ephemeral public key is not a point on P-224')
    const plaintext = decryptLocationBytes(
      secret,
      ephemeralPoint,
      payload.subarray(CIPHERTEXT_OFFSET, TAG_OFFSET),
      payload.subarray(TAG_OFFSET),
    )
    if (plaintext === null) {
      throw new ReportDecryptionError(
        'undecryptable',
        'the authentication tag does not match: the report is corrupted or was encrypted for another key',
      )
    }
    const location = decodeLocation(plaintext)
    if (Math.abs(location.latitude) > 90 || Math.abs(location.longitude) > 180) {
      throw new ReportDecryptionError(
        'coordinates_out_of_range',
        `the decrypted position ${location.latitude}, ${location.longitude} is not on Earth`,
      )
    }
    return {
      hashedAdvKey: report.id,
      timestamp: readTimestamp(payload),
      confidence: payload[CONFIDENCE_OFFSET]!,
      ...location,
      batteryLevel: batteryLevelFromStatus(location.status),
      publishedAt: publishedAt(report.datePublished),
    }
  }
}

function publishedAt(datePublished: unknown): Date | null {
  return typeof datePublished === 'number' && Number.isFinite(datePublished) && datePublished > 0
    ? new Date(datePublished)
    : null
}

/** Throws ReportDecryptionError, whose `reason` says why. */
export function decryptReport(privateKey: Buffer, report: EndpointReport): DecryptedReport {
  return new ReportDecryptor(privateKey).decrypt(report)
}

export interface DecryptReportsResult {
  reports: DecryptedReport[]
  rejected: ReportRejection[]
}

/** Decrypts a batch by each report's id; one bad report is rejected with its reason, never thrown. */
export function decryptReports(
  privateKeysByHashedAdvKey: ReadonlyMap<string, Buffer>,
  reports: readonly EndpointReport[],
): DecryptReportsResult {
  const decryptors = new Map<string, ReportDecryptor>()
  const result: DecryptReportsResult = { reports: [], rejected: [] }
  for (const report of reports) {
    const hashedAdvKey = typeof report.id === 'string' ? report.id : String(report.id)
    const reject = (reason: RejectionReason, message: string) =>
      result.rejected.push({
        reason,
        message,
        hashedAdvKey,
        datePublished: publishedAt(report.datePublished)?.getTime() ?? null,
      })
    let decryptor = decryptors.get(hashedAdvKey)
    if (!decryptor) {
      const privateKey = privateKeysByHashedAdvKey.get(hashedAdvKey)
      if (!privateKey) {
        reject('unknown_key', `no private key for ${hashedAdvKey}`)
        continue
      }
      try {
        decryptor = new ReportDecryptor(privateKey)
      } catch (error) {
        reject(
          'unknown_key',
          `the private key given for ${hashedAdvKey} is not a P-224 key: ${(error as Error).message}`,
        )
        continue
      }
      decryptors.set(hashedAdvKey, decryptor)
    }
    try {
      if (typeof report.payload !== 'string')
        throw new ReportDecryptionError('bad_base64', 'the payload is not a string')
      result.reports.push(decryptor.decrypt(report))
    } catch (error) {
      if (!(error instanceof ReportDecryptionError)) throw error
      reject(error.reason, error.message)
    }
  }
  return result
}
