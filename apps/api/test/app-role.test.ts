import { DEFAULT_ROLE_NAMES, type EmbeddedDatabase, sql } from '@tracker/db'
import {
  createTestDatabase,
  insertTracker,
  reportRow,
  type TestDatabase,
  withAppRoles,
} from '@tracker/db/testing'
import { generateKeyPair } from '@tracker/findmy'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiToken } from '../src/index.ts'
import { createTestApi, type GraphQLResponse, recordTestSealingKey, type TestApi } from './helpers.ts'

// The API served under its own database role (applyAppRoles, as the migrate step makes it with
// DB_ROLES=on): every statement of these requests runs under SET ROLE tracker_api on the embedded
// engine, so a privilege the role lacks fails the request. Fixtures are written as the owner.
let owner: TestDatabase
let asApi: EmbeddedDatabase
let api: TestApi
beforeAll(async () => {
  owner = await createTestDatabase()
  const asRole = await withAppRoles(owner)
  // The importer records its public key (it holds the private one): done as the owner here.
  await recordTestSealingKey(owner)
  asApi = asRole('api')
  api = await createTestApi({ database: asApi, sealingKeyRecorded: false })
})
afterAll(async () => {
  await api?.close()
  await asApi?.close()
  await owner?.close()
})

function ok(response: GraphQLResponse): Record<string, unknown> {
  expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined()
  return response.body.data as Record<string, unknown>
}

describe('the API under its database role', () => {
  it('is really under it', async () => {
    const { rows } = await sql<{ role: string }>`SELECT current_user AS role`.execute(asApi.db)
    expect(rows).toEqual([{ role: DEFAULT_ROLE_NAMES.api }])
  })

  it('creates, renames, deactivates trackers and adds and removes keys', async () => {
    const created = ok(
      await api.gql(
        'mutation ($input: CreateTrackerInput!) { createTracker(input: $input) { id name keys { hashedAdvKey } } }',
        {
          variables: {
            input: { name: 'Role', privateKeys: [generateKeyPair().privateKey.toString('base64')] },
          },
        },
      ),
    ).createTracker as { id: string; keys: { hashedAdvKey: string }[] }
    ok(await api.gql(`mutation { renameTracker(id: "${created.id}", name: "Renamed") { name } }`))
    ok(await api.gql(`mutation { setTrackerPolling(id: "${created.id}", pollEveryMinutes: 30) { id } }`))
    ok(
      await api.gql(
        `mutation { addTrackerKey(trackerId: "${created.id}", privateKey: "${generateKeyPair().privateKey.toString('base64')}") { id } }`,
      ),
    )
    ok(
      await api.gql(
        `mutation { removeTrackerKey(trackerId: "${created.id}", hashedAdvKey: "${created.keys[0]!.hashedAdvKey}") { id } }`,
      ),
    )
    ok(await api.gql(`mutation { deactivateTracker(id: "${created.id}") { id } }`))
    ok(await api.gql(`mutation { reactivateTracker(id: "${created.id}") { id } }`))
    ok(await api.gql(`mutation { deleteTracker(id: "${created.id}", confirm: "Renamed") { trackerId } }`))
  })

  it('imports a key file', async () => {
    const pair = generateKeyPair()
    const content = JSON.stringify([{ name: 'From file', privateKey: pair.privateKey.toString('base64') }])
    ok(
      await api.gql(
        'mutation ($content: String!) { importKeyFile(fileName: "keys.json", content: $content) { id } }',
        {
          variables: { content },
        },
      ),
    )
  })

  it('serves trackers, history, the ledger and the endpoint health', async () => {
    const tracker = await insertTracker(owner.db)
    await owner.db
      .insertInto('location_reports')
      .values(reportRow(tracker.hashedAdvKeys[0]!, new Date(Date.now() - 3_600_000)))
      .execute()
    const data = ok(
      await api.gql(`{
        trackers { nodes { id name lastSeenAt keys { hashedAdvKey status } } }
        importRuns { nodes { id } }
        endpointHealth { totals { __typename } }
      }`),
    )
    expect((data.trackers as { nodes: unknown[] }).nodes.length).toBeGreaterThan(0)
    ok(
      await api.gql(
        `{ locationHistoryAggregated(trackerId: "${tracker.id}", startTime: "${new Date(Date.now() - 86_400_000).toISOString()}", endTime: "${new Date().toISOString()}", bucketSize: "1 hour") { timestamp } }`,
      ),
    )
  })

  it('creates and revokes tokens, and signs in and out', async () => {
    const admin = (await createApiToken(asApi.db, { name: 'role admin', scope: 'admin' })).token
    const created = ok(
      await api.gql('mutation { createApiToken(name: "role", scope: READ) { token apiToken { id } } }', {
        token: admin,
      }),
    ).createApiToken as { token: string; apiToken: { id: string } }
    const signIn = await api.app.inject({
      method: 'POST',
      url: '/session',
      payload: { token: created.token },
    })
    expect(signIn.statusCode).toBe(200)
    const cookie = signIn.cookies[0]!
    const cookies = { [cookie.name]: cookie.value }
    expect((await api.app.inject({ method: 'GET', url: '/session', cookies })).statusCode).toBe(200)
    expect((await api.app.inject({ method: 'DELETE', url: '/session', cookies })).statusCode).toBeLessThan(
      300,
    )
    ok(await api.gql('{ apiTokens { id } }', { token: admin }))
    ok(
      await api.gql(`mutation { revokeApiToken(id: "${created.apiToken.id}") { revokedAt } }`, {
        token: admin,
      }),
    )
  })

  it('keeps alert places, rules and channels', async () => {
    const place = ok(
      await api.gql(
        'mutation { createPlace(input: { name: "Home", circle: { latitude: 52.5, longitude: 13.4, radiusM: 100 } }) { id } }',
      ),
    ).createPlace as { id: string }
    const channel = ok(
      await api.gql(
        'mutation { createAlertChannel(input: { name: "hook", kind: WEBHOOK, url: "https://example.org/hook" }) { channel { id } } }',
      ),
    ).createAlertChannel as { channel: { id: string } }
    const rule = ok(
      await api.gql(
        `mutation { createAlertRule(input: { name: "In", kind: ENTER, placeId: "${place.id}", channelIds: ["${channel.channel.id}"] }) { id } }`,
      ),
    ).createAlertRule as { id: string }
    ok(await api.gql(`mutation { updatePlace(id: "${place.id}", input: { name: "Home 2" }) { id } }`))
    ok(
      await api.gql('{ places { nodes { id } } alertRules { nodes { id } } alertChannels { nodes { id } } }'),
    )
    ok(await api.gql(`mutation { deleteAlertRule(id: "${rule.id}") }`))
    ok(await api.gql(`mutation { deletePlace(id: "${place.id}") }`))
    ok(await api.gql(`mutation { deleteAlertChannel(id: "${channel.channel.id}") }`))
  })
})
