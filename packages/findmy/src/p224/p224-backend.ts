/**
 * P-224 ECDH, the cost of every report's decryption: one backend per thread, chosen at start.
 * `libcrypto` calls the system's OpenSSL (libcrypto.so.3, with its optimised 64-bit nistp224 code)
 * through koffi; `node` is Node's crypto (its bundled OpenSSL has no optimised P-224). Both give the
 * same bytes for the same report.
 */
export type P224BackendName = 'libcrypto' | 'node'

/** One private key, ready to derive shared secrets with. */
export interface P224Key {
  /** The 28-byte X coordinate of d·Q; null when `point` (04 || X || Y) is not a point on P-224. */
  sharedSecret(point: Buffer): Buffer | null
}

export interface P224Backend {
  readonly name: P224BackendName
  /** Throws a RangeError for a scalar that is not a P-224 private key (0 or >= the group order). */
  key(privateKey: Buffer): P224Key
}
