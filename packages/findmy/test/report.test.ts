import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decryptReport,
  decryptReports,
  type EndpointReport,
  encryptReport,
  generateKeyPair,
  keyPairFromPrivateKey,
  peekPayload,
  type RejectionReason,
  ReportDecryptionError,
  statusWithBattery,
} from '../src/index.ts'
import { VECTOR } from './vector.ts'

const vectorKey = Buffer.from(VECTOR.privateKey, 'base64')
const report = (
  payload: string,
  id: string = VECTOR.hashedAdvKey,
  datePublished = 1_750_000_000_000,
): EndpointReport => ({
  id,
  datePublished,
  payload,
  statusCode: 0,
})

function rejectionOf(privateKey: Buffer, payload: string): { reason: RejectionReason; message: string } {
  try {
    decryptReport(privateKey, report(payload))
  } catch (error) {
    expect(error).toBeInstanceOf(ReportDecryptionError)
    return { reason: (error as ReportDecryptionError).reason, message: (error as Error).message }
  }
  throw new Error('the report decrypted')
}

describe('decryptReport on the fixed vector', () => {
  it.each(['payload88', 'payload89'] as const)('decrypts the %s to the stored fields', (name) => {
    expect(Buffer.from(VECTOR[name], 'base64')).toHaveLength(name === 'payload88' ? 88 : 89)
    const decrypted = decryptReport(vectorKey, report(VECTOR[name]))
    expect({ ...decrypted, timestamp: decrypted.timestamp.toISOString() }).toEqual({
      ...VECTOR.expected,
      hashedAdvKey: VECTOR.hashedAdvKey,
      publishedAt: new Date(1_750_000_000_000),
    })
  })

  it('encrypts to exactly the stored payloads given the same ephemeral key', () => {
    const target = keyPairFromPrivateKey(VECTOR.privateKey)
    const fix = { ...VECTOR.expected, timestamp: new Date(VECTOR.expected.timestamp) }
    const ephemeralPrivateKey = Buffer.from(VECTOR.ephemeralPrivateKey, 'base64')
    expect(encryptReport(target, fix, { ephemeralPrivateKey })).toBe(VECTOR.payload88)
    expect(encryptReport(target, fix, { ephemeralPrivateKey, payloadLength: 89 })).toBe(VECTOR.payload89)
  })

  it('reads the clear-text timestamp and confidence without the key', () => {
    expect(peekPayload(VECTOR.payload89)).toEqual({
      timestamp: new Date(VECTOR.expected.timestamp),
      confidence: VECTOR.expected.confidence,
      length: 89,
    })
    expect(peekPayload(VECTOR.payload88.slice(0, 100))).toBeNull()
  })
})

describe('round trips', () => {
  const fixArbitrary = fc.record({
    timestamp: fc.date({
      min: new Date('2001-01-01T00:00:00Z'),
      max: new Date('2100-01-01T00:00:00Z'),
      noInvalidDate: true,
    }),
    latitude: fc.double({ min: -90, max: 90, noNaN: true }),
    longitude: fc.double({ min: -180, max: 180, noNaN: true }),
    horizontalAccuracy: fc.integer({ min: 0, max: 255 }),
    confidence: fc.integer({ min: 0, max: 255 }),
    status: fc.integer({ min: 0, max: 255 }),
  })

  it('decrypts whatever was encrypted, for any key, position (negative too), status and payload length', () => {
    fc.assert(
      fc.property(fixArbitrary, fc.constantFrom(88 as const, 89 as const), (fix, payloadLength) => {
        const key = generateKeyPair()
        const payload = encryptReport(key, fix, { payloadLength })
        expect(Buffer.from(payload, 'base64')).toHaveLength(payloadLength)
        const decrypted = decryptReport(key.privateKey, report(payload, key.hashedAdvKey))
        expect(decrypted).toEqual({
          hashedAdvKey: key.hashedAdvKey,
          timestamp: new Date(Math.floor(fix.timestamp.getTime() / 1000) * 1000),
          confidence: fix.confidence,
          // + 0 turns -0 into 0: the payload's int32 has no negative zero.
          latitude: Math.round(fix.latitude * 1e7) / 1e7 + 0,
          longitude: Math.round(fix.longitude * 1e7) / 1e7 + 0,
          horizontalAccuracy: fix.horizontalAccuracy,
          status: fix.status,
          batteryLevel:
            fix.status & 0x20 ? (['ok', 'medium', 'low', 'critical'] as const)[fix.status >> 6] : null,
          publishedAt: new Date(1_750_000_000_000),
        })
      }),
      { numRuns: 60 },
    )
  })

  it('reports the battery level only when status bit 5 says it is reported', () => {
    const key = generateKeyPair()
    const decrypt = (status: number) =>
      decryptReport(key.privateKey, report(encryptReport(key, { ...fixOf(), status }), key.hashedAdvKey))
        .batteryLevel
    expect(decrypt(0)).toBeNull() // stock OpenHaystack firmware
    expect(decrypt(0b1100_0000)).toBeNull() // battery bits set, but not marked as reported
    expect(decrypt(statusWithBattery('ok'))).toBe('ok')
    expect(decrypt(statusWithBattery('critical', 31))).toBe('critical')
  })
})

const fixOf = () => ({
  timestamp: new Date('2025-03-01T08:00:00Z'),
  latitude: 53.3498,
  longitude: -6.2603,
  horizontalAccuracy: 12,
  confidence: 1,
  status: 0,
})

describe('rejections', () => {
  const flip = (payload: string, index: number) => {
    const bytes = Buffer.from(payload, 'base64')
    bytes[index] = (bytes[index] ?? 0) ^ 0x01
    return bytes.toString('base64')
  }

  it.each([
    [
      'bad base64',
      () => `${VECTOR.payload88.slice(0, 20)}*${VECTOR.payload88.slice(21)}`,
      'bad_base64',
      /not base64/,
    ],
    [
      '87 bytes',
      () => Buffer.from(VECTOR.payload88, 'base64').subarray(0, 87).toString('base64'),
      'wrong_length',
      /this one 87/,
    ],
    [
      '90 bytes',
      () => Buffer.concat([Buffer.from(VECTOR.payload89, 'base64'), Buffer.alloc(1)]).toString('base64'),
      'wrong_length',
      /this one 90/,
    ],
    [
      'a flipped tag bit',
      () => flip(VECTOR.payload88, 87),
      'undecryptable',
      /authentication tag does not match/,
    ],
    [
      'a flipped ciphertext bit',
      () => flip(VECTOR.payload89, 70),
      'undecryptable',
      /authentication tag does not match/,
    ],
    [
      'an ephemeral key off the curve',
      () => flip(VECTOR.payload88, 40),
      'undecryptable',
      /not a point on P-224/,
    ],
  ] as const)('rejects %s', (_case, payload, reason, message) => {
    const rejection = rejectionOf(vectorKey, payload())
    expect(rejection.reason).toBe(reason)
    expect(rejection.message).toMatch(message)
  })

  it('cannot notice a changed timestamp or confidence: they are clear text outside the authenticated data', () => {
    const changed = decryptReport(vectorKey, report(flip(flip(VECTOR.payload88, 3), 4)))
    expect(changed.timestamp.getTime() - new Date(VECTOR.expected.timestamp).getTime()).toBe(1000)
    expect(changed.confidence).toBe(VECTOR.expected.confidence ^ 1)
    expect(changed.latitude).toBe(VECTOR.expected.latitude)
  })

  it('rejects a report encrypted for another key as undecryptable', () => {
    expect(rejectionOf(generateKeyPair().privateKey, VECTOR.payload88).reason).toBe('undecryptable')
  })

  it('rejects a genuine report whose position is off the Earth', () => {
    const key = generateKeyPair()
    for (const position of [
      { latitude: 90.0000001, longitude: 0 },
      { latitude: -120, longitude: 10 },
      { latitude: 10, longitude: 180.5 },
      { latitude: 10, longitude: -214.7483647 },
    ]) {
      const rejection = rejectionOf(key.privateKey, encryptReport(key, { ...fixOf(), ...position }))
      expect(rejection.reason).toBe('coordinates_out_of_range')
    }
  })

  it('keeps going through a batch, rejecting each bad report with its reason and publication date', () => {
    const [a, b] = [generateKeyPair(), generateKeyPair()]
    const stranger = generateKeyPair()
    const good = (key: typeof a, i: number) =>
      report(encryptReport(key, { ...fixOf(), latitude: i }), key.hashedAdvKey, 1000 + i)
    const batch: EndpointReport[] = [
      good(a, 1),
      report('%%%', a.hashedAdvKey, 2000),
      good(b, 2),
      report(Buffer.alloc(50).toString('base64'), b.hashedAdvKey, 3000),
      report(encryptReport(a, fixOf()), b.hashedAdvKey, 4000), // b's id, a's encryption
      report(encryptReport(a, { ...fixOf(), latitude: -95 }), a.hashedAdvKey, 5000),
      report(encryptReport(stranger, fixOf()), stranger.hashedAdvKey, 6000),
      { id: a.hashedAdvKey, datePublished: Number.NaN, payload: 42 as unknown as string },
      good(a, 3),
    ]
    const keys = new Map([
      [a.hashedAdvKey, a.privateKey],
      [b.hashedAdvKey, b.privateKey],
    ])
    const { reports, rejected } = decryptReports(keys, batch)
    expect(reports.map((r) => [r.hashedAdvKey, r.latitude, r.publishedAt?.getTime()])).toEqual([
      [a.hashedAdvKey, 1, 1001],
      [b.hashedAdvKey, 2, 1002],
      [a.hashedAdvKey, 3, 1003],
    ])
    expect(rejected.map((r) => [r.reason, r.hashedAdvKey, r.datePublished])).toEqual([
      ['bad_base64', a.hashedAdvKey, 2000],
      ['wrong_length', b.hashedAdvKey, 3000],
      ['undecryptable', b.hashedAdvKey, 4000],
      ['coordinates_out_of_range', a.hashedAdvKey, 5000],
      ['unknown_key', stranger.hashedAdvKey, 6000],
      ['bad_base64', a.hashedAdvKey, null],
    ])
    expect(rejected.every((r) => r.message.length > 10)).toBe(true)
  })

  it('rejects the reports of an unusable private key instead of throwing', () => {
    const { reports, rejected } = decryptReports(new Map([[VECTOR.hashedAdvKey, Buffer.alloc(28)]]), [
      report(VECTOR.payload88),
    ])
    expect(reports).toEqual([])
    expect(rejected).toEqual([
      expect.objectContaining({ reason: 'unknown_key', message: expect.stringMatching(/not a P-224 key/) }),
    ])
  })
})
