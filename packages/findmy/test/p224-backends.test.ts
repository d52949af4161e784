import { createECDH, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  chooseP224Backend,
  type EndpointReport,
  loadLibcryptoBackend,
  nodeP224Backend,
  ReportDecryptor,
} from '../src/index.ts'
import { bigIntFromBytes, ORDER } from '../src/p224.ts'
import { VECTOR } from './vector.ts'

const libcrypto = loadLibcryptoBackend()
const backends = [libcrypto, nodeP224Backend]

/** A random valid scalar and a random point, as independent as Node's key generation makes them. */
function randomPair() {
  const peer = createECDH('secp224r1')
  peer.generateKeys()
  let d: Buffer
  do d = randomBytes(28)
  while (bigIntFromBytes(d) === 0n || bigIntFromBytes(d) >= ORDER)
  return { d, point: peer.getPublicKey() }
}

describe('P-224 through the system libcrypto (koffi)', () => {
  it('gives the same shared secret as Node on thousands of random key pairs, and as ECDH.computeSecret', () => {
    for (let i = 0; i < 3000; i++) {
      const { d, point } = randomPair()
      const viaLibcrypto = libcrypto.key(d).sharedSecret(point)
      const viaNode = nodeP224Backend.key(d).sharedSecret(point)
      expect(viaLibcrypto?.toString('hex'), `pair ${i}`).toBe(viaNode?.toString('hex'))
      if (i % 500 === 0) {
        // An independent path in Node: the ECDH class (no KeyObjects).
        const ecdh = createECDH('secp224r1')
        ecdh.setPrivateKey(d)
        expect(viaLibcrypto).toEqual(ecdh.computeSecret(point))
      }
    }
  })

  it('decrypts the fixed vector to the same report with either backend', () => {
    const privateKey = Buffer.from(VECTOR.privateKey, 'base64')
    for (const payload of [VECTOR.payload88, VECTOR.payload89]) {
      const report: EndpointReport = { id: VECTOR.hashedAdvKey, datePublished: 0, payload }
      for (const backend of backends) {
        const decrypted = new ReportDecryptor(privateKey, backend).decrypt(report)
        expect({ ...decrypted, timestamp: decrypted.timestamp.toISOString() }, backend.name).toMatchObject(
          VECTOR.expected,
        )
      }
    }
  })

  it('refuses a point that is not on the curve the same way as Node, and a report built on one as undecryptable', () => {
    const { d, point } = randomPair()
    const off = Buffer.from(point)
    off[40]! ^= 0x01
    const compressedPrefix = Buffer.from(point)
    compressedPrefix[0] = 0x05
    for (const bad of [off, compressedPrefix, point.subarray(0, 56)]) {
      for (const backend of backends) expect(backend.key(d).sharedSecret(bad), backend.name).toBeNull()
    }
    const raw = Buffer.from(VECTOR.payload88, 'base64')
    raw[30]! ^= 0x01 // inside the ephemeral key
    const report = { id: VECTOR.hashedAdvKey, datePublished: 0, payload: raw.toString('base64') }
    for (const backend of backends) {
      expect(() =>
        new ReportDecryptor(Buffer.from(VECTOR.privateKey, 'base64'), backend).decrypt(report),
      ).toThrow(/not a point on P-224/)
    }
  })

  it('refuses a scalar that is not a private key, as Node does', () => {
    const zero = Buffer.alloc(28)
    const order = Buffer.from(ORDER.toString(16).padStart(56, '0'), 'hex')
    for (const scalar of [zero, order]) {
      for (const backend of backends) expect(() => backend.key(scalar), backend.name).toThrow()
    }
  })
})

describe('choosing the backend', () => {
  it('takes the system libcrypto here, checked against Node at start', () => {
    const choice = chooseP224Backend()
    expect(choice.backend.name).toBe('libcrypto')
    expect(choice.reason).toMatch(/loaded and checked/)
  })

  it("falls back to Node's crypto when the library is missing, or when told to", () => {
    const missing = chooseP224Backend('/nonexistent/libcrypto.so.3')
    expect(missing.backend.name).toBe('node')
    expect(missing.reason).toMatch(/could not load \/nonexistent\/libcrypto\.so\.3/)
    const off = chooseP224Backend('off')
    expect(off.backend.name).toBe('node')
    // The fallback still decrypts.
    const report = { id: VECTOR.hashedAdvKey, datePublished: 0, payload: VECTOR.payload88 }
    expect(
      new ReportDecryptor(Buffer.from(VECTOR.privateKey, 'base64'), missing.backend).decrypt(report).latitude,
    ).toBeCloseTo(VECTOR.expected.latitude, 6)
  })
})
