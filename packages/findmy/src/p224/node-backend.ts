import type { KeyObject } from 'node:crypto'
import { privateKeyObject, publicKeyObject, sharedSecret } from '../p224.ts'
import type { P224Backend, P224Key } from './p224-backend.ts'

/** Node's crypto: KeyObjects and diffieHellman (~290-380 µs per ECDH on these machines). */
export const nodeP224Backend: P224Backend = {
  name: 'node',
  key(privateKey: Buffer): P224Key {
    const key: KeyObject = privateKeyObject(privateKey)
    return {
      sharedSecret(point) {
        let publicKey: KeyObject
        try {
          publicKey = publicKeyObject(point)
        } catch {
          return null
        }
        return sharedSecret(key, publicKey)
      },
    }
  },
}
