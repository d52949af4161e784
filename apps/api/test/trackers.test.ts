import { createECDH, createHash } from 'node:crypto'
import { recordTrackerSighting } from '@tracker/db'
import { insertTracker, reportRow } from '@tracker/db/testing'
import { generateKeyPair, statusWithBattery } from '@tracker/findmy'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApi, DAY, HOUR, type TestApi, testKeyOpener } from './helpers.ts'

let api: TestApi
beforeAll(async () => {
  api = await createTestApi({ env: { API_MAX_KEYS_PER_MUTATION: '3' } })
})
afterAll(() => api?.close())

const TRACKER_FIELDS =
  'id name currentStatus isActive deactivatedAt lastSeenAt lastLocation { latitude longitude } lastNearestCity battery keys { hashedAdvKey isActive }'
const codes = (body: { errors?: { extensions: { code: string } }[] }) =>
  body.errors?.map((e) => e.extensions.code)

/** The derivation, written out with node:crypto alone: X of d*G on P-224, then base64(SHA-256(X)). */
function hashedAdvKeyOf(privateKey: Buffer): string {
  const ecdh = createECDH('secp224r1')
  ecdh.setPrivateKey(privateKey)
  const advertisementKey = ecdh.getPublicKey(undefined, 'uncompressed').subarray(1, 29)
  return createHash('sha256').update(advertisementKey).digest('base64')
}

describe('tracker mutations', () => {
  it("createTracker derives each key's hashed id, seals the private keys and never returns them", async () => {
    const pairs = [generateKeyPair(), generateKeyPair()]
    const privateKeys = pairs.map((p) => p.privateKey.toString('base64'))
    const response = await api.gql(
      `mutation ($input: CreateTrackerInput!) { createTracker(input: $input) { ${TRACKER_FIELDS} } }`,
      { variables: { input: { name: '  Keys  ', privateKeys } } },
    )
    expect(response.body.errors).toBeUndefined()
    const tracker = response.body.data!.createTracker as {
      id: string
      name: string
      keys: { hashedAdvKey: string }[]
    }
    expect(tracker).toMatchObject({
      name: 'Keys',
      currentStatus: 'LOST',
      isActive: true,
      lastSeenAt: null,
      battery: null,
    })
    expect(tracker.keys.map((k) => k.hashedAdvKey).sort()).toEqual(
      pairs.map((p) => hashedAdvKeyOf(p.privateKey)).sort(),
    )
    for (const secret of privateKeys) expect(response.raw).not.toContain(secret)

    const stored = await api.database.db
      .selectFrom('tracker_keys')
      .selectAll()
      .where('tracker_id', '=', tracker.id)
      .execute()
    // Sealed to the public key: only the importer's private key opens them.
    const opener = testKeyOpener()
    for (const row of stored) {
      const pair = pairs.find((p) => p.hashedAdvKey === row.hashed_adv_key)!
      expect(row.private_key_encrypted.includes(pair.privateKey)).toBe(false)
      expect(row.private_key_encrypted[0]).toBe(2)
      expect(opener.open(row.private_key_encrypted, row.hashed_adv_key).equals(pair.privateKey)).toBe(true)
    }
  })

  it('refuses a key another tracker has, too many keys, and a blank name', async () => {
    const pair = generateKeyPair()
    const create = (name: string, keys: string[]) =>
      api.gql('mutation ($input: CreateTrackerInput!) { createTracker(input: $input) { id } }', {
        variables: { input: { name, privateKeys: keys } },
      })
    expect((await create('First', [pair.privateKey.toString('base64')])).body.errors).toBeUndefined()
    const duplicate = await create('Second', [pair.privateKey.toString('base64')])
    expect(codes(duplicate.body)).toEqual(['BAD_USER_INPUT'])
    expect(duplicate.body.errors![0]!.extensions.hashedAdvKey).toBe(pair.hashedAdvKey)
    const four = Array.from({ length: 4 }, () => generateKeyPair().privateKey.toString('base64'))
    expect(codes((await create('Many', four)).body)).toEqual(['BAD_USER_INPUT'])
    expect(codes((await create(' ', [])).body)).toEqual(['BAD_USER_INPUT'])
    expect(codes((await create('x'.repeat(201), [])).body)).toEqual(['BAD_USER_INPUT'])
  })

  it('rename, add and remove a key, deactivate', async () => {
    const created = await api.gql(
      'mutation { createTracker(input: { name: "Bike", privateKeys: [] }) { id } }',
    )
    const id = (created.body.data!.createTracker as { id: string }).id
    const renamed = await api.gql(`mutation { renameTracker(id: "${id}", name: "Cargo bike") { name } }`)
    expect(renamed.body.data).toEqual({ renameTracker: { name: 'Cargo bike' } })

    const pair = generateKeyPair()
    const added = await api.gql(
      `mutation ($k: PrivateKey!) { addTrackerKey(trackerId: "${id}", privateKey: $k) { keys { hashedAdvKey } } }`,
      {
        variables: { k: pair.privateKey.toString('base64') },
      },
    )
    expect(added.body.data).toEqual({ addTrackerKey: { keys: [{ hashedAdvKey: pair.hashedAdvKey }] } })
    const removed = await api.gql(
      `mutation { removeTrackerKey(trackerId: "${id}", hashedAdvKey: "${pair.hashedAdvKey}") { keys { hashedAdvKey } } }`,
    )
    expect(removed.body.data).toEqual({ removeTrackerKey: { keys: [] } })
    const again = await api.gql(
      `mutation { removeTrackerKey(trackerId: "${id}", hashedAdvKey: "${pair.hashedAdvKey}") { id } }`,
    )
    expect(codes(again.body)).toEqual(['NOT_FOUND'])

    const deactivated = await api.gql(
      `mutation { deactivateTracker(id: "${id}") { isActive currentStatus deactivatedAt } }`,
    )
    expect(deactivated.body.data).toEqual({
      deactivateTracker: { isActive: false, currentStatus: 'INACTIVE', deactivatedAt: expect.any(String) },
    })
    expect(
      codes(
        (await api.gql('mutation { deactivateTracker(id: "00000000-0000-4000-8000-000000000000") { id } }'))
          .body,
      ),
    ).toEqual(['NOT_FOUND'])
  })
})

describe('tracker queries', () => {
  const now = Date.now()
  const ids: Record<string, string> = {}

  beforeAll(async () => {
    const seen = async (name: string, ago: number | null, active = true) => {
      const tracker = await insertTracker(api.database.db, { name, isActive: active })
      ids[name] = tracker.id
      if (ago !== null) {
        await recordTrackerSighting(api.database.db, {
          trackerId: tracker.id,
          seenAt: new Date(now - ago),
          latitude: 48.1,
          longitude: 11.6,
          nearestCity: 'Munich, DE',
          batteryLevel: 'low',
        })
      }
    }
    await seen('status-active', 2 * HOUR)
    await seen('status-stale', 3 * DAY)
    await seen('status-lost', 8 * DAY)
    await seen('status-never', null)
    await seen('status-inactive', HOUR, false)
  })

  it('tracker(id): last seen, last location, battery, keys; currentStatus as documented', async () => {
    const response = await api.gql(`{ tracker(id: "${ids['status-active']}") { ${TRACKER_FIELDS} } }`)
    expect(response.body.data!.tracker).toMatchObject({
      name: 'status-active',
      currentStatus: 'ACTIVE',
      lastSeenAt: new Date(now - 2 * HOUR).toISOString(),
      lastLocation: { latitude: 48.1, longitude: 11.6 },
      lastNearestCity: 'Munich, DE',
      battery: 'LOW',
      keys: [{ hashedAdvKey: expect.any(String), isActive: true }],
    })
    const statuses = await Promise.all(
      Object.entries(ids).map(async ([name, id]) => [
        name,
        (
          (await api.gql(`{ tracker(id: "${id}") { currentStatus } }`)).body.data!.tracker as {
            currentStatus: string
          }
        ).currentStatus,
      ]),
    )
    expect(Object.fromEntries(statuses)).toEqual({
      'status-active': 'ACTIVE',
      'status-stale': 'STALE',
      'status-lost': 'LOST',
      'status-never': 'LOST',
      'status-inactive': 'INACTIVE',
    })
  })

  it('trackers(status) filters by the same rule', async () => {
    const named = async (status: string) =>
      (
        (await api.gql(`{ trackers(status: ${status}, first: 100) { nodes { name currentStatus } } }`)).body
          .data!.trackers as {
          nodes: { name: string; currentStatus: string }[]
        }
      ).nodes
    for (const status of ['ACTIVE', 'STALE', 'LOST', 'INACTIVE']) {
      const nodes = await named(status)
      expect(nodes.every((n) => n.currentStatus === status)).toBe(true)
    }
    expect((await named('STALE')).map((n) => n.name)).toEqual(['status-stale'])
    expect((await named('LOST')).map((n) => n.name)).toEqual(
      expect.arrayContaining(['status-lost', 'status-never']),
    )
  })
})

describe('locationReports', () => {
  it("pages a tracker's raw reports newest first, only those within raw retention, battery decoded", async () => {
    const tracker = await insertTracker(api.database.db)
    const key = tracker.hashedAdvKeys[0]!
    const now = Date.now()
    await api.database.db
      .insertInto('location_reports')
      .values([
        ...Array.from({ length: 5 }, (_, i) =>
          reportRow(key, new Date(now - (i + 1) * HOUR), { status: statusWithBattery('medium') }),
        ),
        reportRow(key, new Date(now - 11 * DAY)),
      ])
      .execute()
    const page = async (after?: string) =>
      (
        await api.gql(
          `{ locationReports(trackerId: "${tracker.id}", first: 2${after ? `, after: "${after}"` : ''}) { nodes { timestamp battery hashedAdvKey accuracy } pageInfo { hasNextPage endCursor } } }`,
        )
      ).body.data!.locationReports as {
        nodes: { timestamp: string; battery: string }[]
        pageInfo: { hasNextPage: boolean; endCursor: string }
      }
    const timestamps: string[] = []
    let current = await page()
    timestamps.push(...current.nodes.map((n) => n.timestamp))
    while (current.pageInfo.hasNextPage) {
      current = await page(current.pageInfo.endCursor)
      timestamps.push(...current.nodes.map((n) => n.timestamp))
    }
    expect(timestamps).toEqual(
      Array.from({ length: 5 }, (_, i) => new Date(now - (i + 1) * HOUR).toISOString()),
    )
    expect(current.nodes[0]!.battery).toBe('MEDIUM')

    const ranged = await api.gql(
      `{ locationReports(trackerId: "${tracker.id}", startTime: "${new Date(now - 3.5 * HOUR).toISOString()}", endTime: "${new Date(now - 1.5 * HOUR).toISOString()}") { nodes { timestamp } } }`,
    )
    expect((ranged.body.data!.locationReports as { nodes: unknown[] }).nodes).toHaveLength(2)
  })
})

describe('importRuns', () => {
  it("lists the importer's ledger newest first, filtered by status, with its counts", async () => {
    const run = (status: 'succeeded' | 'partial' | 'failed', startedAt: Date) =>
      api.database.db
        .insertInto('import_runs')
        .values({
          status,
          trigger: 'schedule',
          started_at: startedAt,
          owner: 'host:1',
          lookback_days: 7,
          rejected: JSON.stringify({ undecryptable: 2, too_old: 1 }),
          source_errors: JSON.stringify([
            { source: 'batch 1 of 2 (5 keys)', message: 'HTTP 503', status: 503, at: '2026-11-01T00:00:00Z' },
          ]),
        })
        .execute()
    await run('succeeded', new Date(Date.now() - 3 * HOUR))
    await run('partial', new Date(Date.now() - 2 * HOUR))
    await run('failed', new Date(Date.now() - HOUR))
    const all = await api.gql(
      '{ importRuns { nodes { status trigger owner lookbackDays rejected { reason count } sourceErrors { source status } } } }',
    )
    const nodes = (all.body.data!.importRuns as { nodes: { status: string }[] }).nodes
    expect(nodes.map((n) => n.status)).toEqual(['FAILED', 'PARTIAL', 'SUCCEEDED'])
    expect(nodes[0]).toMatchObject({
      trigger: 'SCHEDULE',
      rejected: [
        { reason: 'too_old', count: 1 },
        { reason: 'undecryptable', count: 2 },
      ],
      sourceErrors: [{ source: 'batch 1 of 2 (5 keys)', status: 503 }],
    })
    const partial = await api.gql('{ importRuns(status: PARTIAL) { nodes { status } } }')
    expect(partial.body.data).toEqual({ importRuns: { nodes: [{ status: 'PARTIAL' }] } })
  })
})
