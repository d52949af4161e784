/**
 * P-224 point arithmetic on BigInt, for the simulator only (never for secrets: not constant time).
 *
 * Node exposes scalar multiplication and nothing else, at ~0.3 ms per operation for this curve, and a
 * genuinely encrypted report needs two (the ephemeral public key e·G and the shared point e·P).
 * The simulator instead walks arithmetic progressions e_i = a + i·b: E_i = A + i·B and
 * S_i = a·P + i·(b·P) cost one point addition each, and batch normalisation shares one field
 * inversion per page. See ephemeral-keys.ts.
 */

export const P = 0xffffffffffffffffffffffffffffffff000000000000000000000001n
export const N = 0xffffffffffffffffffffffffffff16a2e0b8f03e13dd29455c5c2a3dn
export const G: AffinePoint = {
  x: 0xb70e0cbd6bb4bf7f321390b94a03c1d356c21122343280d6115c1d21n,
  y: 0xbd376388b5f723fb4c22dfe6cd4375a05a07476444d5819985007e34n,
}

export interface AffinePoint {
  x: bigint
  y: bigint
}

/** Jacobian coordinates (x = X/Z², y = Y/Z³); Z = 0 is the point at infinity. */
export interface JacobianPoint {
  X: bigint
  Y: bigint
  Z: bigint
}

const INFINITY: JacobianPoint = { X: 1n, Y: 1n, Z: 0n }

const mod = (a: bigint) => {
  const r = a % P
  return r < 0n ? r + P : r
}

export function invert(a: bigint): bigint {
  // Extended Euclid: much faster on BigInt than Fermat's a^(p-2).
  let [oldR, r] = [mod(a), P]
  let [oldS, s] = [1n, 0n]
  if (oldR === 0n) throw new RangeError('0 has no inverse')
  while (r !== 0n) {
    const q = oldR / r
    ;[oldR, r] = [r, oldR - q * r]
    ;[oldS, s] = [s, oldS - q * s]
  }
  return mod(oldS)
}

export function toJacobian(point: AffinePoint): JacobianPoint {
  return { X: point.x, Y: point.y, Z: 1n }
}

export function toAffine(point: JacobianPoint): AffinePoint {
  if (point.Z === 0n) throw new RangeError('the point at infinity has no affine coordinates')
  const zInv = invert(point.Z)
  const zInv2 = mod(zInv * zInv)
  return { x: mod(point.X * zInv2), y: mod(point.Y * zInv2 * zInv) }
}

/** dbl-2001-b, for a = -3. */
export function double(p: JacobianPoint): JacobianPoint {
  if (p.Z === 0n || p.Y === 0n) return INFINITY
  const delta = mod(p.Z * p.Z)
  const gamma = mod(p.Y * p.Y)
  const beta = mod(p.X * gamma)
  const alpha = mod(3n * (p.X - delta) * (p.X + delta))
  const X3 = mod(alpha * alpha - 8n * beta)
  const Z3 = mod((p.Y + p.Z) * (p.Y + p.Z) - gamma - delta)
  const Y3 = mod(alpha * (4n * beta - X3) - 8n * gamma * gamma)
  return { X: X3, Y: Y3, Z: Z3 }
}

/** madd-2007-bl: Jacobian + affine. */
export function addAffine(p: JacobianPoint, q: AffinePoint): JacobianPoint {
  if (p.Z === 0n) return toJacobian(q)
  const z1z1 = mod(p.Z * p.Z)
  const u2 = mod(q.x * z1z1)
  const s2 = mod(q.y * p.Z * z1z1)
  const h = mod(u2 - p.X)
  const r = mod(2n * (s2 - p.Y))
  if (h === 0n) return r === 0n ? double(p) : INFINITY
  const hh = mod(h * h)
  const i = 4n * hh
  const j = mod(h * i)
  const v = mod(p.X * i)
  const X3 = mod(r * r - j - 2n * v)
  const Y3 = mod(r * (v - X3) - 2n * p.Y * j)
  const Z3 = mod((p.Z + h) * (p.Z + h) - z1z1 - hh)
  return { X: X3, Y: Y3, Z: Z3 }
}

/** k·Q by double-and-add (variable time: public data only). */
export function multiply(q: AffinePoint, k: bigint): JacobianPoint {
  let result = INFINITY
  for (let bit = BigInt(k.toString(2).length - 1); bit >= 0n; bit--) {
    result = double(result)
    if ((k >> bit) & 1n) result = addAffine(result, q)
  }
  return result
}

export function negate(q: AffinePoint): AffinePoint {
  return { x: q.x, y: q.y === 0n ? 0n : P - q.y }
}

/** Affine coordinates of many points with one inversion (Montgomery's trick). */
export function normalizeAll(points: readonly JacobianPoint[]): AffinePoint[] {
  const prefix: bigint[] = new Array(points.length)
  let acc = 1n
  for (let i = 0; i < points.length; i++) {
    prefix[i] = acc
    const z = points[i]!.Z
    if (z === 0n) throw new RangeError('cannot normalise the point at infinity')
    acc = mod(acc * z)
  }
  let inv = invert(acc)
  const out: AffinePoint[] = new Array(points.length)
  for (let i = points.length - 1; i >= 0; i--) {
    const p = points[i]!
    const zInv = mod(inv * prefix[i]!)
    inv = mod(inv * p.Z)
    const zInv2 = mod(zInv * zInv)
    out[i] = { x: mod(p.X * zInv2), y: mod(p.Y * zInv2 * zInv) }
  }
  return out
}

/** The point of an uncompressed 57-byte encoding. */
export function pointFromBytes(bytes: Uint8Array): AffinePoint {
  if (bytes.length !== 57 || bytes[0] !== 4) throw new RangeError('expected an uncompressed 57-byte point')
  const hex = Buffer.from(bytes).toString('hex')
  return { x: BigInt(`0x${hex.slice(2, 58)}`), y: BigInt(`0x${hex.slice(58)}`) }
}

export function pointToBytes(point: AffinePoint): Buffer {
  return Buffer.from(
    `04${point.x.toString(16).padStart(56, '0')}${point.y.toString(16).padStart(56, '0')}`,
    'hex',
  )
}
