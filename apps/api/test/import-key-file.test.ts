import { generateKeyPair } from '@tracker/findmy'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApi, type TestApi } from './helpers.ts'

// importKeyFile: the web app's upload. The server parses every format the importer reads and
// creates the file's trackers in one transaction.
let api: TestApi
beforeAll(async () => {
  api = await createTestApi()
})
afterAll(() => api?.close())

const IMPORT = `mutation ($fileName: String!, $content: String!, $name: String) {
  importKeyFile(fileName: $fileName, content: $content, name: $name) {
    id name keys { hashedAdvKey status }
  }
}`

interface Imported {
  id: string
  name: string
  keys: { hashedAdvKey: string; status: string }[]
}

async function importFile(variables: { fileName: string; content: string; name?: string }, token?: string) {
  const response = await api.gql(IMPORT, { variables, ...(token ? { token } : {}) })
  return {
    trackers: response.body.data?.importKeyFile as Imported[] | undefined,
    errors: response.body.errors,
  }
}

const b64 = (pair: ReturnType<typeof generateKeyPair>) => pair.privateKey.toString('base64')
const hashes = (trackers: Imported[]) => trackers.map((t) => t.keys.map((k) => k.hashedAdvKey).sort())

async function trackerCount(): Promise<number> {
  const row = await api.database.db
    .selectFrom('trackers')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

describe('importKeyFile', () => {
  it('macless-haystack accessories JSON: one tracker per accessory, additionalKeys its rotating keys', async () => {
    const bike = [generateKeyPair(), generateKeyPair(), generateKeyPair()]
    const keys = generateKeyPair()
    const content = JSON.stringify([
      { name: 'Bike', privateKey: b64(bike[0]!), additionalKeys: [b64(bike[1]!), b64(bike[2]!)] },
      { name: 'Keys', privateKey: b64(keys) },
    ])
    const { trackers, errors } = await importFile({ fileName: 'accessories.json', content })
    expect(errors).toBeUndefined()
    expect(trackers!.map((t) => t.name)).toEqual(['Bike', 'Keys'])
    expect(hashes(trackers!)).toEqual([bike.map((k) => k.hashedAdvKey).sort(), [keys.hashedAdvKey]])
    // Sealed to the public key: the API cannot tell whether they open; the importer finds out.
    expect(trackers!.flatMap((t) => t.keys.map((k) => k.status))).toEqual(Array(4).fill('UNCHECKED'))
    // Sealed at rest: the private key is not in the stored bytes.
    const stored = await api.database.db
      .selectFrom('tracker_keys')
      .select('private_key_encrypted')
      .where('hashed_adv_key', '=', keys.hashedAdvKey)
      .executeTakeFirstOrThrow()
    expect(stored.private_key_encrypted.includes(keys.privateKey)).toBe(false)
  })

  it('a FindMy.py keypair, named by `name`', async () => {
    const pair = generateKeyPair()
    const content = JSON.stringify({ type: 'keypair', private_key: b64(pair) })
    const { trackers, errors } = await importFile({ fileName: 'wallet.json', content, name: '  Wallet  ' })
    expect(errors).toBeUndefined()
    expect(trackers!.map((t) => t.name)).toEqual(['Wallet'])
    expect(hashes(trackers!)).toEqual([[pair.hashedAdvKey]])
  })

  it('a .keys file: one tracker named after the file, its private keys checked against their lines', async () => {
    const pairs = [generateKeyPair(), generateKeyPair()]
    const content = pairs
      .map(
        (p) =>
          `Private key: ${b64(p)}\nAdvertisement key: ${p.advertisementKey.toString('base64')}\nHashed adv key: ${p.hashedAdvKey}\n`,
      )
      .join('')
    const { trackers, errors } = await importFile({ fileName: 'backpack.keys', content })
    expect(errors).toBeUndefined()
    expect(trackers!.map((t) => t.name)).toEqual(['backpack'])
    expect(hashes(trackers!)).toEqual([pairs.map((p) => p.hashedAdvKey).sort()])
  })

  it('bare base64 keys: one tracker each', async () => {
    const pairs = [generateKeyPair(), generateKeyPair()]
    const { trackers, errors } = await importFile({
      fileName: 'spares.txt',
      content: `${b64(pairs[0]!)}\n\n${b64(pairs[1]!)}\n`,
    })
    expect(errors).toBeUndefined()
    expect(trackers!.map((t) => t.name)).toEqual(['spares 1', 'spares 2'])
    expect(hashes(trackers!)).toEqual(pairs.map((p) => [p.hashedAdvKey]))
  })

  it('a bad entry is BAD_USER_INPUT naming it, and nothing of the file is created', async () => {
    const before = await trackerCount()
    const good = generateKeyPair()
    const content = JSON.stringify([
      { name: 'Good', privateKey: b64(good) },
      { name: 'Broken', privateKey: 'not a key' },
    ])
    const { trackers, errors } = await importFile({ fileName: 'mixed.json', content })
    expect(trackers).toBeUndefined()
    expect(errors![0]!.extensions.code).toBe('BAD_USER_INPUT')
    expect(errors![0]!.message).toMatch(/^mixed\.json: entry 2 \("Broken"\), privateKey: /)
    expect(errors![0]!.extensions.entry).toBe('entry 2 ("Broken"), privateKey')

    // A key already stored, in the file's second tracker: the first is rolled back too.
    const existing = generateKeyPair()
    expect((await importFile({ fileName: 'one.txt', content: b64(existing) })).errors).toBeUndefined()
    const after = await trackerCount()
    const duplicate = await importFile({
      fileName: 'dup.json',
      content: JSON.stringify([
        { name: 'New', privateKey: b64(generateKeyPair()) },
        { name: 'Again', privateKey: b64(existing) },
      ]),
    })
    expect(duplicate.errors![0]!.extensions.code).toBe('BAD_USER_INPUT')
    expect(await trackerCount()).toBe(after)
    expect(after).toBe(before + 1)

    for (const content of ['', '{"name": "x"}', '[]', 'Private key: AAAA']) {
      const refused = await importFile({ fileName: 'bad.keys', content })
      expect(refused.errors![0]!.extensions.code, content).toBe('BAD_USER_INPUT')
    }
    const twoNamed = await importFile({
      fileName: 'two.txt',
      content: `${b64(generateKeyPair())}\n${b64(generateKeyPair())}`,
      name: 'One name',
    })
    expect(twoNamed.errors![0]!.message).toMatch(/holds 2/)
    expect(await trackerCount()).toBe(after)
  })

  it('needs write scope and a token not limited to trackers', async () => {
    const content = b64(generateKeyPair())
    const read = await importFile({ fileName: 'k.txt', content }, api.readToken)
    expect(read.errors![0]!.extensions.code).toBe('FORBIDDEN')
  })
})
