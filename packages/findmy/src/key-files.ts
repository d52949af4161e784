import { type FindMyKeyPair, InvalidKeyError, keyPairFromPrivateKey } from './keys.ts'

/** One physical tracker: several keys when its firmware rotates through them. */
export interface ParsedTracker {
  name: string
  keys: FindMyKeyPair[]
}

export type KeyFileFormat = 'accessories-json' | 'findmy-py-keypair' | 'keys-text' | 'bare-keys'

export class KeyFileError extends Error {
  readonly code = 'INVALID_KEY_FILE'
  /** Which entry is wrong, as a reader would find it: `entry 2 ("Bike")`, `line 4`, `file`. */
  readonly entry: string
  readonly fileName: string | undefined
  constructor(entry: string, reason: string, fileName?: string) {
    super(`${fileName ? `${fileName}: ` : ''}${entry}: ${reason}`)
    this.entry = entry
    this.fileName = fileName
  }
}

/**
 * Reads every key file format users already have and says which one it found:
 * - macless-haystack / OpenHaystack accessories JSON (an array, or one object) of
 *   `{name, privateKey, additionalKeys?}`: one tracker per accessory, its additional keys included;
 * - FindMy.py keypair JSON `{"type": "keypair", "private_key": ...}` (or an array of them);
 * - `.keys` text with `Private key:` lines (the advertisement / hashed key lines are checked);
 * - bare private keys, one per line: one tracker each.
 */
export function detectAndParseKeyFile(
  content: string,
  fileName?: string,
): { format: KeyFileFormat; trackers: ParsedTracker[] } {
  const text = content.replace(/^\uFEFF/, '').trim()
  if (text === '') throw new KeyFileError('file', 'the file is empty', fileName)
  const baseName = trackerNameFromFile(fileName)
  if (text.startsWith('{') || text.startsWith('[')) return parseJson(text, baseName, fileName)
  if (/^\s*private key\s*:/im.test(text)) {
    return { format: 'keys-text', trackers: [parseKeysText(text, baseName, fileName)] }
  }
  return { format: 'bare-keys', trackers: parseBareKeys(text, baseName, fileName) }
}

export function parseKeyFile(content: string, fileName?: string): ParsedTracker[] {
  return detectAndParseKeyFile(content, fileName).trackers
}

function trackerNameFromFile(fileName: string | undefined): string {
  const base = fileName
    ?.split(/[\\/]/)
    .pop()
    ?.replace(/\.(keys|json|txt|key)$/i, '')
    .replace(/_devices$/, '')
  return base || 'Tracker'
}

function parseJson(
  text: string,
  baseName: string,
  fileName: string | undefined,
): { format: KeyFileFormat; trackers: ParsedTracker[] } {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (error) {
    throw new KeyFileError(
      'file',
      `it looks like JSON but does not parse (${(error as Error).message})`,
      fileName,
    )
  }
  const entries = Array.isArray(data) ? data : [data]
  if (entries.length === 0) throw new KeyFileError('file', 'the JSON array holds no trackers', fileName)
  const formats = new Set<KeyFileFormat>()
  const trackers = entries.map((entry, index) => {
    const label = Array.isArray(data) ? entryLabel(entry, index) : 'the JSON object'
    const parsed = parseJsonEntry(
      entry,
      label,
      entries.length === 1 ? baseName : `${baseName} ${index + 1}`,
      fileName,
    )
    formats.add(parsed.format)
    return parsed.tracker
  })
  return { format: formats.size === 1 ? [...formats][0]! : 'accessories-json', trackers }
}

function entryLabel(entry: unknown, index: number): string {
  const name =
    isRecord(entry) && typeof entry.name === 'string' && entry.name !== '' ? ` ("${entry.name}")` : ''
  return `entry ${index + 1}${name}`
}

function parseJsonEntry(
  entry: unknown,
  label: string,
  fallbackName: string,
  fileName: string | undefined,
): { format: KeyFileFormat; tracker: ParsedTracker } {
  if (!isRecord(entry)) throw new KeyFileError(label, 'it is not an object with a private key', fileName)
  const name = typeof entry.name === 'string' && entry.name.trim() !== '' ? entry.name.trim() : fallbackName

  if (entry.type === 'accessory' || 'master_key' in entry) {
    throw new KeyFileError(
      label,
      'FindMy.py accessory files (AirTag-style rolling keys derived from a master key) are not supported: export each key as a FindMy.py keypair or use a macless-haystack accessories file',
      fileName,
    )
  }
  if (entry.type === 'keypair' || 'private_key' in entry) {
    const key = readKey(entry.private_key, `${label}, private_key`, fileName)
    return { format: 'findmy-py-keypair', tracker: { name, keys: [key] } }
  }
  if ('privateKey' in entry) {
    const keys = [readKey(entry.privateKey, `${label}, privateKey`, fileName)]
    const additional = entry.additionalKeys ?? []
    if (!Array.isArray(additional)) {
      throw new KeyFileError(
        `${label}, additionalKeys`,
        'it must be an array of base64 private keys',
        fileName,
      )
    }
    additional.forEach((value, index) => {
      keys.push(readKey(value, `${label}, additionalKeys[${index}]`, fileName))
    })
    return { format: 'accessories-json', tracker: { name, keys: uniqueKeys(keys) } }
  }
  throw new KeyFileError(
    label,
    'it has neither "privateKey" (macless-haystack / OpenHaystack) nor "private_key" (FindMy.py)',
    fileName,
  )
}

function readKey(value: unknown, label: string, fileName: string | undefined): FindMyKeyPair {
  if (typeof value !== 'string') throw new KeyFileError(label, 'the key is missing or not a string', fileName)
  try {
    return keyPairFromPrivateKey(value)
  } catch (error) {
    if (error instanceof InvalidKeyError) throw new KeyFileError(label, error.message, fileName)
    throw error
  }
}

// Rotating-key lists sometimes repeat the primary key; a key belongs to a tracker once.
function uniqueKeys(keys: FindMyKeyPair[]): FindMyKeyPair[] {
  const seen = new Set<string>()
  return keys.filter((key) => !seen.has(key.hashedAdvKey) && seen.add(key.hashedAdvKey))
}

/**
 * `.keys` files written by OpenHaystack / macless-haystack `generate_keys.py`: `Private key:`
 * followed by its `Advertisement key:` and `Hashed adv key:`. Several private keys in one file are
 * the rotating keys of one tracker.
 */
function parseKeysText(text: string, name: string, fileName: string | undefined): ParsedTracker {
  const keys: FindMyKeyPair[] = []
  const lines = text.split(/\r?\n/)
  lines.forEach((raw, index) => {
    const line = raw.trim()
    const label = `line ${index + 1}`
    if (line === '' || line.startsWith('#')) return
    const match = /^([A-Za-z ]+?)\s*:\s*(.*)$/.exec(line)
    if (!match)
      throw new KeyFileError(
        label,
        'expected "Private key: <base64>" or a similar "Label: value" line',
        fileName,
      )
    const field = match[1]!.toLowerCase()
    const value = match[2]!.trim()
    const current = keys.at(-1)
    if (field === 'private key') {
      keys.push(readKey(value, label, fileName))
    } else if (field === 'advertisement key' || field === 'public key') {
      if (!current)
        throw new KeyFileError(label, 'an advertisement key comes before any private key', fileName)
      if (value !== current.advertisementKey.toString('base64')) {
        throw new KeyFileError(
          label,
          'the advertisement key does not belong to the private key above it',
          fileName,
        )
      }
    } else if (field === 'hashed adv key' || field === 'hashed advertisement key') {
      if (!current)
        throw new KeyFileError(label, 'a hashed advertisement key comes before any private key', fileName)
      if (value !== current.hashedAdvKey) {
        throw new KeyFileError(
          label,
          'the hashed advertisement key does not belong to the private key above it',
          fileName,
        )
      }
    }
    // Other labels (e.g. a MAC address some generators add) carry nothing we need.
  })
  if (keys.length === 0) throw new KeyFileError('file', 'no "Private key:" line', fileName)
  return { name, keys: uniqueKeys(keys) }
}

function parseBareKeys(text: string, baseName: string, fileName: string | undefined): ParsedTracker[] {
  const lines = text
    .split(/\r?\n/)
    .map((line, index) => ({ line: line.trim(), number: index + 1 }))
    .filter(({ line }) => line !== '' && !line.startsWith('#'))
  return lines.map(({ line, number }, index) => ({
    name: lines.length === 1 ? baseName : `${baseName} ${index + 1}`,
    keys: [readKey(line, lines.length === 1 ? 'the key' : `line ${number}`, fileName)],
  }))
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
