import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { ConnectOptions } from '../connect/connect.ts'

/**
 * The local stack (`npm run demo`) keeps its state in this file of its data directory, with the key
 * pair it generated on first start (`keySealingPrivateKey`, `keySealingPublicKey`) and, on a data
 * directory set up before keys were sealed to a public key, the old `keyEncryptionKey`.
 */
export const LOCAL_STACK_STATE_FILE = 'local-stack.json'

const DEFAULT_DATA_DIR = '.tracker-data'

/** The variables a key is configured by, and the state file's field that holds the local stack's. */
export const LOCAL_STACK_KEY_FIELDS = {
  KEY_SEALING_PRIVATE_KEY: 'keySealingPrivateKey',
  KEY_SEALING_PUBLIC_KEY: 'keySealingPublicKey',
  KEY_ENCRYPTION_KEY: 'keyEncryptionKey',
} as const

export type KeyVariable = keyof typeof LOCAL_STACK_KEY_FIELDS

/**
 * The sentence that ends every sealing-key error: where the local stack keeps the key of its data
 * directory, and how to pass it on, without showing it. On the local stack's own data directory it
 * names that file; otherwise the default one.
 */
export function localStackKeyHint(
  connect?: ConnectOptions,
  variable: KeyVariable = 'KEY_SEALING_PRIVATE_KEY',
): string {
  const field = LOCAL_STACK_KEY_FIELDS[variable]
  const dataDir = connect?.mode === 'embedded' && connect.dataDir ? connect.dataDir : undefined
  const file = dataDir ? join(dataDir, LOCAL_STACK_STATE_FILE) : undefined
  if (file && existsSync(file)) {
    return (
      ` This data directory belongs to the local stack (npm run demo), which keeps its key as ${field} in ${file}: ` +
      `${variable}="$(node -p "require('${resolve(file)}').${field}")".`
    )
  }
  const demoFile = join(DEFAULT_DATA_DIR, LOCAL_STACK_STATE_FILE)
  return (
    ` The local stack (npm run demo) keeps its key as ${field} in ${demoFile} (in its DATA_DIR): ` +
    `${variable}="$(node -p "require('./${demoFile}').${field}")".`
  )
}
