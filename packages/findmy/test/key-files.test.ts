import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  detectAndParseKeyFile,
  type FindMyKeyPair,
  generateKeyPair,
  KeyFileError,
  parseKeyFile,
  toAccessoriesJson,
} from '../src/index.ts'
import { VECTOR } from './vector.ts'

const b64 = (key: FindMyKeyPair) => key.privateKey.toString('base64')
const hashes = (trackers: ReturnType<typeof parseKeyFile>) =>
  trackers.map((t) => t.keys.map((k) => k.hashedAdvKey))

/** Every format users have, written the way the tools that produce them write it. */
const FORMATS = {
  accessories: (keys: FindMyKeyPair[]) =>
    JSON.stringify([
      {
        id: 1_234_567,
        name: 'Backpack',
        privateKey: b64(keys[0]!),
        additionalKeys: keys.slice(1).map(b64),
        colorComponents: [1, 0, 0, 1],
        icon: 'bag',
        isActive: true,
      },
    ]),
  findMyPyKeypair: (keys: FindMyKeyPair[]) =>
    JSON.stringify(
      keys.map((key, i) => ({ type: 'keypair', private_key: b64(key), key_type: 1, name: `key ${i}` })),
    ),
  keysText: (keys: FindMyKeyPair[]) =>
    keys
      .map(
        (key) =>
          `Private key: ${b64(key)}\nAdvertisement key: ${key.advertisementKey.toString('base64')}\nHashed adv key: ${key.hashedAdvKey}\n`,
      )
      .join(''),
  bare: (keys: FindMyKeyPair[]) => keys.map(b64).join('\n'),
}

describe('parseKeyFile', () => {
  it('reads a macless-haystack accessories file: one tracker per accessory, additional keys included', () => {
    const [a, b, c, d] = [generateKeyPair(), generateKeyPair(), generateKeyPair(), generateKeyPair()]
    const file = JSON.stringify([
      { id: 1, name: 'Bike', privateKey: b64(a), additionalKeys: [b64(b), b64(c)], isActive: true },
      { id: 2, name: 'Car', privateKey: b64(d), additionalKeys: [] },
    ])
    const { format, trackers } = detectAndParseKeyFile(file, 'devices.json')
    expect(format).toBe('accessories-json')
    expect(trackers.map((t) => t.name)).toEqual(['Bike', 'Car'])
    expect(hashes(trackers)).toEqual([[a.hashedAdvKey, b.hashedAdvKey, c.hashedAdvKey], [d.hashedAdvKey]])
  })

  it('reads a FindMy.py keypair file and the .keys text of generate_keys.py', () => {
    const keypair = JSON.stringify({
      type: 'keypair',
      private_key: VECTOR.privateKey,
      key_type: 1,
      name: null,
    })
    expect(detectAndParseKeyFile(keypair, 'airtag.json')).toEqual({
      format: 'findmy-py-keypair',
      trackers: [{ name: 'airtag', keys: [expect.objectContaining({ hashedAdvKey: VECTOR.hashedAdvKey })] }],
    })
    const keysText = `Private key: ${VECTOR.privateKey}\nAdvertisement key: ${VECTOR.advertisementKey}\nHashed adv key: ${VECTOR.hashedAdvKey}\n`
    const parsed = detectAndParseKeyFile(keysText, '/home/me/keys/ABCDEFG.keys')
    expect(parsed.format).toBe('keys-text')
    expect(parsed.trackers).toHaveLength(1)
    expect(parsed.trackers[0]!.name).toBe('ABCDEFG')
    expect(hashes(parsed.trackers)).toEqual([[VECTOR.hashedAdvKey]])
  })

  it('reads bare base64 keys: one tracker each', () => {
    expect(hashes(parseKeyFile(`${VECTOR.privateKey}\n`))).toEqual([[VECTOR.hashedAdvKey]])
    const many = parseKeyFile(`${VECTOR.privateKey}\n\n${VECTOR.shortKey}\n`, 'two.txt')
    expect(many.map((t) => t.name)).toEqual(['two 1', 'two 2'])
    expect(hashes(many)).toEqual([[VECTOR.hashedAdvKey], [VECTOR.shortKeyHashedAdvKey]])
  })

  it('reads every format back for any keys (round trip)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(...Object.keys(FORMATS)),
        (count, format) => {
          const keys = Array.from({ length: count }, generateKeyPair)
          const trackers = parseKeyFile(FORMATS[format as keyof typeof FORMATS](keys), 'file')
          const read = trackers.flatMap((t) => t.keys)
          expect(read.map((k) => k.privateKey.toString('hex'))).toEqual(
            keys.map((k) => k.privateKey.toString('hex')),
          )
          // Only the accessories format and .keys text group several keys into one tracker.
          expect(trackers).toHaveLength(format === 'accessories' || format === 'keysText' ? 1 : count)
        },
      ),
      { numRuns: 40 },
    )
  })

  it('reads back the accessories JSON the simulator writes', () => {
    const trackers = [{ name: 'Dog', keys: [generateKeyPair(), generateKeyPair()] }]
    expect(hashes(parseKeyFile(toAccessoriesJson(trackers)))).toEqual(hashes(trackers))
  })

  it.each([
    ['an empty file', '  \n', 'file', /empty/],
    ['JSON that does not parse', '[{"privateKey": ', 'file', /does not parse/],
    ['an empty accessories array', '[]', 'file', /no trackers/],
    [
      'an accessory without a key',
      JSON.stringify([
        { name: 'Bike', privateKey: VECTOR.privateKey },
        { name: 'Car', id: 7 },
      ]),
      'entry 2 ("Car")',
      /neither "privateKey".*nor "private_key"/,
    ],
    [
      'an additional key that is not base64',
      JSON.stringify([
        { name: 'Car', privateKey: VECTOR.privateKey, additionalKeys: [VECTOR.shortKey, 'oops!'] },
      ]),
      'entry 1 ("Car"), additionalKeys[1]',
      /neither base64 nor hex/,
    ],
    [
      'a private key of the wrong length',
      JSON.stringify([{ name: 'Tag', privateKey: Buffer.alloc(20, 1).toString('base64') }]),
      'entry 1 ("Tag"), privateKey',
      /28 bytes .* got 20/,
    ],
    [
      'a FindMy.py rolling-key accessory',
      JSON.stringify({ type: 'accessory', master_key: 'ab'.repeat(28), skn: '00', sks: '00' }),
      'the JSON object',
      /not supported/,
    ],
    [
      'a .keys file whose hashed key does not match',
      `Private key: ${VECTOR.privateKey}\nAdvertisement key: ${VECTOR.advertisementKey}\nHashed adv key: ${VECTOR.shortKeyHashedAdvKey}\n`,
      'line 3',
      /hashed advertisement key does not belong/,
    ],
    [
      'a bare key with a typo on its line',
      `${VECTOR.privateKey}\n${VECTOR.shortKey.slice(0, -3)}#!=`,
      'line 2',
      /base64/,
    ],
  ])('names the entry and the reason for %s', (_case, content, entry, reason) => {
    let error: unknown
    try {
      parseKeyFile(content, 'mine.json')
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(KeyFileError)
    const keyFileError = error as KeyFileError
    expect(keyFileError.code).toBe('INVALID_KEY_FILE')
    expect(keyFileError.entry).toBe(entry)
    expect(keyFileError.message).toMatch(reason)
    expect(keyFileError.message.startsWith(`mine.json: ${entry}: `)).toBe(true)
  })
})
