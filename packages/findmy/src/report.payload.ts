/**
 * The byte layout of a Find My location report (see shared/findmy.md).
 *
 * 88 bytes: timestamp(4) confidence(1) ephemeralKey(57) ciphertext(10) tag(16).
 * 89 bytes: the same with one extra byte at index 4 (seen as 0x00); dropping it gives the 88-byte form.
 */
export const PAYLOAD_BYTES = 88
export const PAYLOAD_BYTES_EXTENDED = 89
/** 2001-01-01T00:00:00Z in Unix seconds: Apple's reference date. */
export const APPLE_EPOCH_SECONDS = 978_307_200

export const TIMESTAMP_OFFSET = 0
export const CONFIDENCE_OFFSET = 4
export const EPHEMERAL_KEY_OFFSET = 5
export const CIPHERTEXT_OFFSET = 62
export const TAG_OFFSET = 72
export const CIPHERTEXT_BYTES = 10
export const TAG_BYTES = 16

export type BatteryLevel = 'ok' | 'medium' | 'low' | 'critical'
const BATTERY_LEVELS: readonly BatteryLevel[] = ['ok', 'medium', 'low', 'critical']
/** Status bit 5: the firmware reports its battery level in bits 7-6. */
export const STATUS_BATTERY_REPORTED = 0x20

export interface ReportLocation {
  latitude: number
  longitude: number
  horizontalAccuracy: number
  status: number
}

/** The 88-byte form of an 88- or 89-byte payload (a view, no copy, for 88). */
export function normalizePayload(payload: Buffer): Buffer {
  if (payload.length === PAYLOAD_BYTES_EXTENDED) {
    // Drop the extra byte at index 4; OpenHaystack's Swift code drops index 5 instead and so reads
    // the 0x00 as the confidence, which is a bug.
    return Buffer.concat([payload.subarray(0, 4), payload.subarray(5)])
  }
  return payload
}

export function readTimestamp(payload: Buffer): Date {
  return new Date((payload.readUInt32BE(TIMESTAMP_OFFSET) + APPLE_EPOCH_SECONDS) * 1000)
}

/** Seconds since Apple's reference date, as the payload stores them; throws for dates it cannot hold. */
export function appleSeconds(date: Date): number {
  const seconds = Math.floor(date.getTime() / 1000) - APPLE_EPOCH_SECONDS
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > 0xffff_ffff) {
    throw new RangeError(
      `a report timestamp must be between 2001-01-01 and 2137-02-07, got ${date.toISOString()}`,
    )
  }
  return seconds
}

/**
 * What the endpoint sends in clear text, readable without the private key: lets an importer skip the
 * (slow) decryption of reports it already stored, since every poll returns the same reports again.
 */
export function peekPayload(
  payloadBase64: string,
): { timestamp: Date; confidence: number; length: number } | null {
  const bytes = Buffer.from(payloadBase64, 'base64')
  if (bytes.length !== PAYLOAD_BYTES && bytes.length !== PAYLOAD_BYTES_EXTENDED) return null
  const normalized = normalizePayload(bytes)
  return {
    timestamp: readTimestamp(normalized),
    confidence: normalized[CONFIDENCE_OFFSET]!,
    length: bytes.length,
  }
}

export function encodeLocation(location: ReportLocation): Buffer {
  const plaintext = Buffer.alloc(CIPHERTEXT_BYTES)
  plaintext.writeInt32BE(Math.round(location.latitude * 1e7), 0)
  plaintext.writeInt32BE(Math.round(location.longitude * 1e7), 4)
  plaintext.writeUInt8(location.horizontalAccuracy, 8)
  plaintext.writeUInt8(location.status, 9)
  return plaintext
}

export function decodeLocation(plaintext: Buffer): ReportLocation {
  return {
    latitude: plaintext.readInt32BE(0) / 1e7,
    longitude: plaintext.readInt32BE(4) / 1e7,
    horizontalAccuracy: plaintext.readUInt8(8),
    status: plaintext.readUInt8(9),
  }
}

/** Bits 7-6 of the status byte, only when bit 5 says the firmware reports them. */
export function batteryLevelFromStatus(status: number): BatteryLevel | null {
  if ((status & STATUS_BATTERY_REPORTED) === 0) return null
  return BATTERY_LEVELS[(status >> 6) & 0b11]!
}

export function statusWithBattery(level: BatteryLevel, counter = 0): number {
  return (BATTERY_LEVELS.indexOf(level) << 6) | STATUS_BATTERY_REPORTED | (counter & 0x1f)
}
