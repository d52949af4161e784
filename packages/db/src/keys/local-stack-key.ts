import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { ConnectOptions } from '../connect/connect.ts'

/**
 * The local stack (`npm run demo`) keeps its state in this file of its data directory, with the
 * key-encryption key it generated on first start (`keyEncryptionKey`).
 */
export const LOCAL_STACK_STATE_FILE = 'local-stack.json'

const DEFAULT_DATA_DIR = '.tracker-data'

/**
 * The sentence that ends every key-encryption-key error: where the local stack keeps the key of its
 * data directory, and how to pass it on, without showing it. On the local stack's own data
 * directory it names that file; otherwise the default one.
 */
export function localStackKeyHint(connect?: ConnectOptions): string {
  const dataDir = connect?.mode === 'embedded' && connect.dataDir ? connect.dataDir : undefined
  const file = dataDir ? join(dataDir, LOCAL_STACK_STATE_FILE) : undefined
  if (file && existsSync(file)) {
    return (
      ` This data directory belongs to the local stack (npm run demo), which keeps its key as keyEncryptionKey in ${file}: ` +
      `KEY_ENCRYPTION_KEY="$(node -p "require('${resolve(file)}').keyEncryptionKey")".`
    )
  }
  const demoFile = join(DEFAULT_DATA_DIR, LOCAL_STACK_STATE_FILE)
  return (
    ` The local stack (npm run demo) keeps its key as keyEncryptionKey in ${demoFile} (in its DATA_DIR): ` +
    `KEY_ENCRYPTION_KEY="$(node -p "require('./${demoFile}').keyEncryptionKey")".`
  )
}
