import type { ParsedTracker } from '../key-files.ts'
import { keyPairFromPrivateKey } from '../keys.ts'
import { seededScalarBytes } from './ephemeral-keys.ts'

/**
 * Trackers with keys derived from a seed: the same seed gives the same keys on every run, so a demo
 * can be restarted and re-imported without duplicating anything.
 */
export function simulatedTrackers(options: {
  seed?: number
  trackers: number
  keysPerTracker?: number
}): ParsedTracker[] {
  const seed = options.seed ?? 1
  const keysPerTracker = Math.max(1, options.keysPerTracker ?? 1)
  return Array.from({ length: options.trackers }, (_, tracker) => ({
    name: `Simulated tracker ${tracker + 1}`,
    keys: Array.from({ length: keysPerTracker }, (_, key) =>
      keyPairFromPrivateKey(seededScalarBytes(seed, `tracker-key|${tracker}|${key}`)),
    ),
  }))
}

/** The accessories JSON macless-haystack reads (and parseKeyFile reads back): holds private keys. */
export function toAccessoriesJson(trackers: readonly ParsedTracker[]): string {
  return JSON.stringify(
    trackers.map((tracker, index) => ({
      id: index + 1,
      name: tracker.name,
      privateKey: tracker.keys[0]?.privateKey.toString('base64'),
      additionalKeys: tracker.keys.slice(1).map((key) => key.privateKey.toString('base64')),
      colorComponents: [0, 0.5, 1, 1],
      icon: '',
      isActive: true,
    })),
    null,
    2,
  )
}
