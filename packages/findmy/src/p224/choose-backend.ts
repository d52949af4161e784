import { createHash } from 'node:crypto'
import { publicPointOf } from '../p224.ts'
import { loadLibcryptoBackend } from './libcrypto-backend.ts'
import { nodeP224Backend } from './node-backend.ts'
import type { P224Backend } from './p224-backend.ts'

/** Where the system's libcrypto is (default libcrypto.so.3, found as the dynamic loader finds it); "off": Node's crypto. */
export const P224_LIBRARY_ENV = 'P224_LIBCRYPTO'
export const DEFAULT_LIBCRYPTO = 'libcrypto.so.3'

export interface P224BackendChoice {
  backend: P224Backend
  /** Why this backend: what was loaded and checked, or why the system's libcrypto was not used. */
  reason: string
}

// Two fixed private scalars (SHA-224 of fixed words: 28 bytes, far below the group order).
const selfTestScalar = (word: string) => createHash('sha224').update(word).digest()

/**
 * The backend to decrypt with: the system's libcrypto when it loads and gives the same shared
 * secrets as Node's crypto on a fixed pair of keys (and refuses a point off the curve as Node does),
 * else Node's crypto. Never throws.
 */
export function chooseP224Backend(
  library: string = process.env[P224_LIBRARY_ENV] || DEFAULT_LIBCRYPTO,
): P224BackendChoice {
  if (library === 'off') return { backend: nodeP224Backend, reason: `${P224_LIBRARY_ENV}=off` }
  let candidate: P224Backend
  try {
    candidate = loadLibcryptoBackend(library)
  } catch (error) {
    return {
      backend: nodeP224Backend,
      reason: `could not load ${library}: ${(error as Error).message}`,
    }
  }
  try {
    const d = selfTestScalar('tracker p224 self-test: private')
    const point = publicPointOf(selfTestScalar('tracker p224 self-test: ephemeral'))
    const expected = nodeP224Backend.key(d).sharedSecret(point)
    const got = candidate.key(d).sharedSecret(point)
    const offCurve = Buffer.from(point)
    offCurve[offCurve.length - 1]! ^= 1
    if (!expected || !got?.equals(expected) || candidate.key(d).sharedSecret(offCurve) !== null)
      return {
        backend: nodeP224Backend,
        reason: `${library} failed the self-test (a shared secret differs from Node's)`,
      }
  } catch (error) {
    return {
      backend: nodeP224Backend,
      reason: `${library} failed the self-test: ${(error as Error).message}`,
    }
  }
  return { backend: candidate, reason: `${library} loaded and checked against Node's crypto` }
}

let chosen: P224BackendChoice | undefined

/** This thread's backend, chosen once (each decryption worker chooses its own). */
export function p224Backend(): P224BackendChoice {
  chosen ??= chooseP224Backend()
  return chosen
}
