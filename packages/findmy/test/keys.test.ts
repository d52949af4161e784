import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  generateKeyPair,
  hashAdvertisementKey,
  InvalidKeyError,
  keyPairFromPrivateKey,
} from '../src/index.ts'
import { VECTOR } from './vector.ts'

const ORDER = 0xffffffffffffffffffffffffffff16a2e0b8f03e13dd29455c5c2a3dn
const scalarBytes = (value: bigint) => Buffer.from(value.toString(16).padStart(56, '0'), 'hex')

describe('keys', () => {
  it('derives the advertisement key and the hashed advertisement key of the fixed vector', () => {
    const pair = keyPairFromPrivateKey(VECTOR.privateKey)
    expect(pair.privateKey.toString('base64')).toBe(VECTOR.privateKey)
    expect(pair.advertisementKey.toString('base64')).toBe(VECTOR.advertisementKey)
    expect(pair.hashedAdvKey).toBe(VECTOR.hashedAdvKey)
    expect(hashAdvertisementKey(Buffer.from(VECTOR.advertisementKey, 'base64'))).toBe(VECTOR.hashedAdvKey)
  })

  it('left-pads a scalar whose leading zero bytes were dropped', () => {
    expect(Buffer.from(VECTOR.shortKey, 'base64')).toHaveLength(26)
    const pair = keyPairFromPrivateKey(VECTOR.shortKey)
    expect(pair.privateKey).toHaveLength(28)
    expect(pair.privateKey.subarray(0, 2)).toEqual(Buffer.alloc(2))
    expect(pair.hashedAdvKey).toBe(VECTOR.shortKeyHashedAdvKey)
  })

  it("reads OpenHaystack's 85-byte 04||X||Y||d form and checks that the point belongs to the scalar", () => {
    expect(keyPairFromPrivateKey(VECTOR.openHaystack85).hashedAdvKey).toBe(VECTOR.shortKeyHashedAdvKey)
    const tampered = Buffer.from(VECTOR.openHaystack85, 'base64')
    tampered[84] = (tampered[84] ?? 0) ^ 1
    expect(() => keyPairFromPrivateKey(tampered)).toThrow(/does not belong to its private scalar/)
  })

  it('reads the same key as bytes, base64, unpadded or URL-safe base64, and hex', () => {
    const bytes = Buffer.from(VECTOR.privateKey, 'base64')
    for (const form of [
      bytes,
      bytes.toString('hex'),
      bytes.toString('base64url'),
      VECTOR.privateKey.replace(/=+$/, ''),
      ` ${VECTOR.privateKey}\n`,
      Buffer.concat([Buffer.alloc(1), bytes]), // 29 bytes from a signed big-integer encoding
    ]) {
      expect(keyPairFromPrivateKey(form).hashedAdvKey).toBe(VECTOR.hashedAdvKey)
    }
  })

  it.each([
    ['zero', Buffer.alloc(28), /not a valid P-224 scalar/],
    ['the group order', scalarBytes(ORDER), /not a valid P-224 scalar/],
    ['above the group order', Buffer.alloc(28, 0xff), /not a valid P-224 scalar/],
    ['30 bytes', Buffer.alloc(30, 1), /28 bytes .* got 30/],
    ['23 bytes (too short to be a key missing leading zeros)', Buffer.alloc(23, 1), /28 bytes .* got 23/],
    ['empty text', '   ', /empty/],
    ['not base64', 'this is not a key!', /neither base64 nor hex/],
    [
      'base64 with a typo',
      `${VECTOR.privateKey.slice(0, 10)}$${VECTOR.privateKey.slice(11)}`,
      /neither base64 nor hex/,
    ],
  ])('rejects %s with an InvalidKeyError', (_name, input, message) => {
    const attempt = () => keyPairFromPrivateKey(input)
    expect(attempt).toThrow(InvalidKeyError)
    expect(attempt).toThrow(message)
  })

  it('generates key pairs that read back to themselves', () => {
    fc.assert(
      fc.property(fc.integer(), () => {
        const pair = generateKeyPair()
        expect(pair.privateKey).toHaveLength(28)
        expect(pair.advertisementKey).toHaveLength(28)
        expect(pair.hashedAdvKey).toHaveLength(44)
        expect(pair.hashedAdvKey).toBe(createHash('sha256').update(pair.advertisementKey).digest('base64'))
        expect(keyPairFromPrivateKey(pair.privateKey.toString('base64'))).toEqual(pair)
      }),
      { numRuns: 50 },
    )
  })

  it('reads any valid scalar with up to four leading zero bytes dropped', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n << 184n, max: ORDER - 1n }), (d) => {
        const full = scalarBytes(d)
        let start = 0
        while (full[start] === 0) start++
        expect(keyPairFromPrivateKey(full.subarray(start))).toEqual(keyPairFromPrivateKey(full))
      }),
      { numRuns: 30 },
    )
  })
})
