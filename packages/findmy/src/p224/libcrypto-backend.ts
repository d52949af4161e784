import koffi from 'koffi'
import { bigIntFromBytes, ORDER, POINT_BYTES, SCALAR_BYTES } from '../p224.ts'
import type { P224Backend, P224Key } from './p224-backend.ts'

/** OpenSSL's NID for secp224r1 (obj_mac.h). */
const NID_SECP224R1 = 713
const POINT_CONVERSION_UNCOMPRESSED = 4

let typesDeclared = false

/** OpenSSL's opaque types, by name for the prototypes: koffi's type names are per process. */
function declareTypes(): void {
  if (typesDeclared) return
  for (const name of ['EC_GROUP', 'EC_POINT', 'BIGNUM', 'BN_CTX']) koffi.opaque(name)
  typesDeclared = true
}

/**
 * P-224 ECDH in the system's libcrypto (OpenSSL 3), called through koffi: EC_POINT_oct2point (which
 * refuses a point not on the curve), EC_POINT_mul, EC_POINT_point2oct. The library is loaded with
 * RTLD_DEEPBIND: Node exports its own bundled OpenSSL's symbols, and without it libcrypto's internal
 * calls would bind to those (measured: 325 µs per ECDH instead of 62). One group, context and pair of
 * scratch points per thread; a key's scalar is a BIGNUM freed when the key is collected.
 */
export function loadLibcryptoBackend(path = 'libcrypto.so.3'): P224Backend {
  declareTypes()
  const lib = koffi.load(path, { deep: true })
  const newGroup = lib.func('EC_GROUP *EC_GROUP_new_by_curve_name(int nid)')
  const newPoint = lib.func('EC_POINT *EC_POINT_new(const EC_GROUP *group)')
  const octToPoint = lib.func(
    'int EC_POINT_oct2point(const EC_GROUP *group, EC_POINT *p, const void *buf, size_t len, BN_CTX *ctx)',
  )
  const pointToOct = lib.func(
    'size_t EC_POINT_point2oct(const EC_GROUP *group, const EC_POINT *p, int form, _Out_ void *buf, size_t len, BN_CTX *ctx)',
  )
  const mul = lib.func(
    'int EC_POINT_mul(const EC_GROUP *group, EC_POINT *r, const BIGNUM *n, const EC_POINT *q, const BIGNUM *m, BN_CTX *ctx)',
  )
  const binToBn = lib.func('BIGNUM *BN_bin2bn(const void *s, int len, BIGNUM *ret)')
  const clearFree = lib.func('void BN_clear_free(BIGNUM *a)')
  const newContext = lib.func('BN_CTX *BN_CTX_new()')
  const clearErrors = lib.func('void ERR_clear_error()')

  const group = newGroup(NID_SECP224R1)
  const ctx = newContext()
  const q = group && newPoint(group)
  const r = group && newPoint(group)
  if (!group || !ctx || !q || !r) throw new Error(`${path} has no P-224 group`)
  const out = Buffer.alloc(POINT_BYTES)
  const scalars = new FinalizationRegistry<unknown>((bn) => clearFree(bn))

  return {
    name: 'libcrypto',
    key(privateKey: Buffer): P224Key {
      const d = bigIntFromBytes(privateKey)
      if (privateKey.length !== SCALAR_BYTES || d < 1n || d >= ORDER)
        throw new RangeError('not a P-224 private key: the scalar must be 28 bytes, 1 <= d < n')
      const scalar = binToBn(privateKey, privateKey.length, null)
      if (!scalar) throw new Error('BN_bin2bn failed')
      const key: P224Key = {
        sharedSecret(point) {
          if (point.length !== POINT_BYTES || octToPoint(group, q, point, point.length, ctx) !== 1) {
            clearErrors()
            return null
          }
          if (mul(group, r, null, q, scalar, ctx) !== 1) {
            clearErrors()
            return null
          }
          // The point at infinity encodes as one byte: no shared secret (P-224's cofactor is 1, so
          // only a point of order n with d = n could give it; kept as a guard).
          if (pointToOct(group, r, POINT_CONVERSION_UNCOMPRESSED, out, out.length, ctx) !== POINT_BYTES) {
            clearErrors()
            return null
          }
          return Buffer.from(out.subarray(1, 1 + SCALAR_BYTES))
        },
      }
      scalars.register(key, scalar)
      return key
    },
  }
}
