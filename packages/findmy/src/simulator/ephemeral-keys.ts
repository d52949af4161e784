import { createHash } from 'node:crypto'
import {
  bigIntFromBytes,
  bytesFromBigInt,
  pointFromAdvertisementKey,
  publicPointOf,
  SCALAR_BYTES,
} from '../p224.ts'
import {
  type AffinePoint,
  addAffine,
  type JacobianPoint,
  multiply,
  N,
  normalizeAll,
  pointFromBytes,
  pointToBytes,
  toAffine,
} from './p224-points.ts'

/** A scalar in [1, n-1] derived from the seed and a label. */
export function seededScalar(seed: number, label: string): bigint {
  const digest = createHash('sha256').update(`tracker-findmy-simulator|${seed}|${label}`).digest()
  return (bigIntFromBytes(digest) % (N - 1n)) + 1n
}

export function seededScalarBytes(seed: number, label: string): Buffer {
  return bytesFromBigInt(seededScalar(seed, label), SCALAR_BYTES)
}

export interface EphemeralKeyMaterial {
  /** The uncompressed ephemeral public key the payload carries. */
  ephemeralPoint: Buffer
  /** The ECDH X coordinate the tracker's private key will compute from it. */
  sharedX: Buffer
}

/**
 * The ephemeral keys of one advertisement key, report ordinal by ordinal: e_i = a + i·b with a per key
 * and b shared. E_i = e_i·G and S_i = e_i·P (P: the key's public point) are walked by adding B = b·G and
 * b·P, so a page of reports costs two point additions each plus one field inversion per page, instead of
 * two OpenSSL scalar multiplications (~0.6 ms) per report. Every ephemeral key is distinct, so no AES-GCM
 * key/IV pair repeats. Anyone who knows the seed can derive them: this is test data, not privacy.
 */
export class EphemeralKeyStream {
  readonly #a: AffinePoint
  readonly #b: AffinePoint
  readonly #aP: AffinePoint
  readonly #bP: AffinePoint

  constructor(seed: number, advertisementKey: Buffer, step: EphemeralStep) {
    const label = advertisementKey.toString('base64')
    const a = seededScalar(seed, `ephemeral|${label}`)
    const target = pointFromBytes(pointFromAdvertisementKey(advertisementKey))
    this.#a = pointFromBytes(publicPointOf(bytesFromBigInt(a, SCALAR_BYTES)))
    this.#b = step.point
    this.#aP = toAffine(multiply(target, a))
    this.#bP = toAffine(multiply(target, step.scalar))
  }

  /** Key material for ordinals [first, first + count). */
  range(first: number, count: number): EphemeralKeyMaterial[] {
    const start = BigInt(first)
    let e = first === 0 ? toJacobianOf(this.#a) : addAffine(multiply(this.#b, start), this.#a)
    let s = first === 0 ? toJacobianOf(this.#aP) : addAffine(multiply(this.#bP, start), this.#aP)
    const points: JacobianPoint[] = []
    for (let i = 0; i < count; i++) {
      points.push(e, s)
      e = addAffine(e, this.#b)
      s = addAffine(s, this.#bP)
    }
    const affine = normalizeAll(points)
    const out: EphemeralKeyMaterial[] = new Array(count)
    for (let i = 0; i < count; i++) {
      out[i] = {
        ephemeralPoint: pointToBytes(affine[2 * i]!),
        sharedX: Buffer.from(affine[2 * i + 1]!.x.toString(16).padStart(SCALAR_BYTES * 2, '0'), 'hex'),
      }
    }
    return out
  }
}

export interface EphemeralStep {
  scalar: bigint
  point: AffinePoint
}

export function ephemeralStep(seed: number): EphemeralStep {
  const scalar = seededScalar(seed, 'step')
  return { scalar, point: pointFromBytes(publicPointOf(bytesFromBigInt(scalar, SCALAR_BYTES))) }
}

function toJacobianOf(point: AffinePoint): JacobianPoint {
  return { X: point.x, Y: point.y, Z: 1n }
}
