import { randomInt } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LOCAL_STACK_STATE_FILE, PrivateKeyCipher } from '@tracker/db'

/**
 * What the local stack keeps next to its database so that a second start continues where the first
 * left off: the key-encryption secret (generated on first start: production supplies its own), the
 * demo API token (shown on every start; only its hash is in the database), the simulator's seed.
 */
export interface DemoState {
  keyEncryptionKey: string
  apiToken: string | null
  simulatorSeed: number
  createdAt: string
}

export const stateFile = (dataDir: string) => join(dataDir, LOCAL_STACK_STATE_FILE)

export function loadOrCreateState(dataDir: string): { state: DemoState; created: boolean } {
  const path = stateFile(dataDir)
  if (existsSync(path)) {
    const state = JSON.parse(readFileSync(path, 'utf8')) as DemoState
    PrivateKeyCipher.fromSecret(state.keyEncryptionKey, `keyEncryptionKey in ${path}`)
    return { state, created: false }
  }
  const state: DemoState = {
    keyEncryptionKey: PrivateKeyCipher.generateSecret(),
    apiToken: null,
    simulatorSeed: randomInt(1, 2 ** 31),
    createdAt: new Date().toISOString(),
  }
  saveState(dataDir, state)
  return { state, created: true }
}

export function saveState(dataDir: string, state: DemoState): void {
  writeFileSync(stateFile(dataDir), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 })
}
