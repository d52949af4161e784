import { randomInt } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { KeyOpener, KeySealer, LegacyKeyCipher, LOCAL_STACK_STATE_FILE } from '@tracker/db'

/**
 * What the local stack keeps next to its database so that a second start continues where the first
 * left off: the key pair tracker keys are sealed to (generated on first start: production supplies
 * its own; the stack gives the private key to its importer only, the public key to its API), the
 * demo API token (shown on every start; only its hash is in the database), the simulator's seed.
 * A data directory set up before keys were sealed to a public key also has `keyEncryptionKey`, the
 * old symmetric key, kept so that its keys can be re-sealed (done on start).
 */
export interface DemoState {
  keySealingPrivateKey: string
  keySealingPublicKey: string
  /** The old symmetric key (version 1) of a data directory from an earlier version, if any. */
  keyEncryptionKey?: string
  apiToken: string | null
  simulatorSeed: number
  createdAt: string
}

export const stateFile = (dataDir: string) => join(dataDir, LOCAL_STACK_STATE_FILE)

/**
 * The state of the data directory, created on first start. `upgraded`: the file was written by an
 * earlier version (a symmetric key, no key pair): a key pair was generated and added to it, the old
 * key kept.
 */
export function loadOrCreateState(dataDir: string): {
  state: DemoState
  created: boolean
  upgraded: boolean
} {
  const path = stateFile(dataDir)
  if (existsSync(path)) {
    const stored = JSON.parse(readFileSync(path, 'utf8')) as Partial<DemoState>
    if (stored.keyEncryptionKey !== undefined)
      LegacyKeyCipher.fromSecret(stored.keyEncryptionKey, `keyEncryptionKey in ${path}`)
    let upgraded = false
    if (stored.keySealingPrivateKey === undefined) {
      const pair = KeyOpener.generate()
      stored.keySealingPrivateKey = pair.privateKey
      stored.keySealingPublicKey = pair.publicKey
      upgraded = true
    }
    const opener = KeyOpener.fromPrivateKey(stored.keySealingPrivateKey, `keySealingPrivateKey in ${path}`)
    const sealer = KeySealer.fromPublicKey(stored.keySealingPublicKey, `keySealingPublicKey in ${path}`)
    if (!sealer.publicKey.equals(opener.sealer.publicKey))
      throw new Error(
        `keySealingPublicKey in ${path} is not the public key of keySealingPrivateKey: restore the file`,
      )
    const state = stored as DemoState
    if (upgraded) saveState(dataDir, state)
    return { state, created: false, upgraded }
  }
  const pair = KeyOpener.generate()
  const state: DemoState = {
    keySealingPrivateKey: pair.privateKey,
    keySealingPublicKey: pair.publicKey,
    apiToken: null,
    simulatorSeed: randomInt(1, 2 ** 31),
    createdAt: new Date().toISOString(),
  }
  saveState(dataDir, state)
  return { state, created: true, upgraded: false }
}

export function saveState(dataDir: string, state: DemoState): void {
  writeFileSync(stateFile(dataDir), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 })
}
