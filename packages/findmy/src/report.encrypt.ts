import { createECDH } from 'node:crypto'
import {
  CURVE,
  padScalar,
  pointFromAdvertisementKey,
  privateKeyObject,
  publicKeyObject,
  sharedSecret,
} from './p224.ts'
import { encryptLocationBytes } from './report.cipher.ts'
import {
  appleSeconds,
  encodeLocation,
  PAYLOAD_BYTES,
  PAYLOAD_BYTES_EXTENDED,
  type ReportLocation,
} from './report.payload.ts'

export interface ReportFix extends ReportLocation {
  timestamp: Date
  confidence: number
}

export interface EncryptReportOptions {
  /** 28-byte scalar; a fresh random one by default, as a finder device would use. */
  ephemeralPrivateKey?: Buffer
  payloadLength?: 88 | 89
}

/**
 * Encrypts a location for a tracker the way a finder device does, to its advertisement key (the
 * X coordinate is all the tracker broadcasts). Used by tests and tools; the simulator uses the same
 * sealing step with ephemeral keys it derives faster (see simulator/ephemeral-keys.ts).
 */
export function encryptReport(
  target: { advertisementKey: Buffer },
  fix: ReportFix,
  options: EncryptReportOptions = {},
): string {
  const ephemeral = createECDH(CURVE)
  if (options.ephemeralPrivateKey) ephemeral.setPrivateKey(padScalar(options.ephemeralPrivateKey))
  else ephemeral.generateKeys()
  const ephemeralPoint = ephemeral.getPublicKey()
  const ephemeralKey = privateKeyObject(padScalar(ephemeral.getPrivateKey()), ephemeralPoint)
  const sharedX = sharedSecret(
    ephemeralKey,
    publicKeyObject(pointFromAdvertisementKey(target.advertisementKey)),
  )
  return sealReport(ephemeralPoint, sharedX, fix, options.payloadLength ?? PAYLOAD_BYTES).toString('base64')
}

/** Builds the payload from an ephemeral public point and the ECDH X coordinate it shares with the tracker. */
export function sealReport(
  ephemeralPoint: Buffer,
  sharedX: Buffer,
  fix: ReportFix,
  payloadLength: 88 | 89,
): Buffer {
  validateFix(fix)
  const { ciphertext, tag } = encryptLocationBytes(sharedX, ephemeralPoint, encodeLocation(fix))
  const extended = payloadLength === PAYLOAD_BYTES_EXTENDED
  const payload = Buffer.alloc(payloadLength)
  let offset = payload.writeUInt32BE(appleSeconds(fix.timestamp), 0)
  if (extended) offset = payload.writeUInt8(0, offset)
  offset = payload.writeUInt8(fix.confidence, offset)
  offset += ephemeralPoint.copy(payload, offset)
  offset += ciphertext.copy(payload, offset)
  tag.copy(payload, offset)
  return payload
}

function validateFix(fix: ReportFix): void {
  const int32 = (value: number) => Math.abs(Math.round(value * 1e7)) <= 0x7fff_ffff
  if (!Number.isFinite(fix.latitude) || !int32(fix.latitude))
    throw new RangeError(`latitude ${fix.latitude} does not fit the payload`)
  if (!Number.isFinite(fix.longitude) || !int32(fix.longitude))
    throw new RangeError(`longitude ${fix.longitude} does not fit the payload`)
  for (const [name, value] of [
    ['horizontalAccuracy', fix.horizontalAccuracy],
    ['confidence', fix.confidence],
    ['status', fix.status],
  ] as const) {
    if (!Number.isInteger(value) || value < 0 || value > 255)
      throw new RangeError(`${name} must be a byte (0..255), got ${value}`)
  }
}
