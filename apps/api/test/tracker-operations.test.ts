import { readFileSync } from 'node:fs'
import { DAY_MS, HOUR_MS } from '@tracker/db'
import { insertTracker, reportRow } from '@tracker/db/testing'
import { generateKeyPair } from '@tracker/findmy'
import { buildSchema } from 'graphql'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseTokensCommand, runTokensCommand, UsageError } from '../src/cli/tokens-command.ts'
import { createApiToken } from '../src/index.ts'
import { cacheServing, createTestApi, type TestApi } from './helpers.ts'

// Tracker deletion and reactivation, API tokens through GraphQL (admin scope), and tokens limited
// to chosen trackers, checked on every root field of the schema.
let api: TestApi
let adminToken: string
beforeAll(async () => {
  // No refresher runs here: a refresh mutation past its checks is REFRESH_TIMEOUT, soon.
  api = await createTestApi({ env: { API_REFRESH_ACCEPT_TIMEOUT: '100 ms' } })
  adminToken = (await createApiToken(api.database.db, { name: 'test admin', scope: 'admin' })).token
})
afterAll(() => api?.close())

const codes = (body: { errors?: { extensions: { code: string } }[] }) =>
  body.errors?.map((e) => e.extensions.code)

type Tracker = Awaited<ReturnType<typeof insertTracker>>

/** A tracker with reports over the last days, carried into location_history. */
async function trackerWithHistory(name: string): Promise<Tracker> {
  const tracker = await insertTracker(api.database.db, { name })
  const now = Date.now()
  await api.database.db
    .insertInto('location_reports')
    .values([
      reportRow(tracker.hashedAdvKeys[0]!, new Date(now - HOUR_MS)),
      reportRow(tracker.hashedAdvKeys[0]!, new Date(now - 3 * DAY_MS)),
    ])
    .execute()
  // The aggregates over the days written (the reports may lie below their watermarks), then
  // location_history, as the refresher would on the importer's notification.
  await api.app.services.historyEngine.refreshWindow(
    { from: new Date(now - 4 * DAY_MS), to: new Date(now + HOUR_MS) },
    { trigger: 'manual', runId: 'test', signal: new AbortController().signal },
  )
  return tracker
}

const range = () => ({
  startTime: new Date(Date.now() - 10 * DAY_MS).toISOString(),
  endTime: new Date(Date.now() + HOUR_MS).toISOString(),
})

describe('API tokens through GraphQL', () => {
  const create = (variables: Record<string, unknown>, token = adminToken) =>
    api.gql(
      `mutation ($name: String!, $scope: ApiTokenScope!, $trackerIds: [ID!]) {
        createApiToken(name: $name, scope: $scope, trackerIds: $trackerIds) {
          token apiToken { id name scope trackerIds createdAt lastUsedAt revokedAt }
        }
      }`,
      { variables, token },
    )

  it('are listed, created (the token shown once) and revoked by an admin token, revoked at once', async () => {
    const created = await create({ name: 'ci', scope: 'READ' })
    expect(created.body.errors).toBeUndefined()
    const { token, apiToken } = created.body.data!.createApiToken as {
      token: string
      apiToken: { id: string; scope: string; trackerIds: null; revokedAt: null }
    }
    expect(token).toMatch(/^trk_[A-Za-z0-9_-]{43}$/)
    expect(apiToken).toMatchObject({ scope: 'READ', trackerIds: null, revokedAt: null })
    expect((await api.gql('{ trackers { nodes { id } } }', { token })).status).toBe(200)
    // Uses are written off the request path (every 10 s, and at close): now, for this test.
    await api.app.services.lastUse.flush()

    const listed = await api.gql('{ apiTokens { id name scope lastUsedAt revokedAt } }', {
      token: adminToken,
    })
    const tokens = listed.body.data!.apiTokens as { id: string; name: string; lastUsedAt: string | null }[]
    expect(tokens.map((t) => t.name)).toEqual(
      expect.arrayContaining(['test read', 'test write', 'test admin', 'ci']),
    )
    expect(tokens.find((t) => t.id === apiToken.id)!.lastUsedAt).not.toBeNull()
    expect(listed.raw).not.toContain(token)

    // The token was checked (and its answer cached for API_TOKEN_CACHE_TTL, 10 s) just now: the
    // revocation is effective on this replica at once all the same.
    const revoked = await api.gql(`mutation { revokeApiToken(id: "${apiToken.id}") { id revokedAt } }`, {
      token: adminToken,
    })
    expect((revoked.body.data!.revokeApiToken as { revokedAt: string }).revokedAt).toEqual(expect.any(String))
    const refused = await api.gql('{ trackers { nodes { id } } }', { token })
    expect(refused.status).toBe(401)
    expect(codes(refused.body)).toEqual(['UNAUTHENTICATED'])
  })

  it('need admin scope: read and write tokens are FORBIDDEN, and nothing is created', async () => {
    for (const token of [api.readToken, api.writeToken]) {
      expect(codes((await api.gql('{ apiTokens { id } }', { token })).body)).toEqual(['FORBIDDEN'])
      expect(codes((await api.gql('{ trackerDeletions { id } }', { token })).body)).toEqual(['FORBIDDEN'])
      const refused = await create({ name: 'sneaky', scope: 'ADMIN' }, token)
      expect(codes(refused.body)).toEqual(['FORBIDDEN'])
      expect(refused.body.errors![0]!.message).toMatch(/admin scope/)
      const revoke = await api.gql(
        'mutation { revokeApiToken(id: "00000000-0000-4000-8000-000000000000") { id } }',
        {
          token,
        },
      )
      expect(codes(revoke.body)).toEqual(['FORBIDDEN'])
    }
    const names = await api.database.db.selectFrom('api_tokens').select('name').execute()
    expect(names.map((n) => n.name)).not.toContain('sneaky')
  })

  it('refuses an admin token limited to trackers, an empty list, unknown trackers, an unknown id', async () => {
    const tracker = await insertTracker(api.database.db)
    expect(codes((await create({ name: 'x', scope: 'ADMIN', trackerIds: [tracker.id] })).body)).toEqual([
      'BAD_USER_INPUT',
    ])
    expect(codes((await create({ name: 'x', scope: 'READ', trackerIds: [] })).body)).toEqual([
      'BAD_USER_INPUT',
    ])
    const unknown = await create({
      name: 'x',
      scope: 'READ',
      trackerIds: [tracker.id, '00000000-0000-4000-8000-000000000000', 'nope'],
    })
    expect(codes(unknown.body)).toEqual(['BAD_USER_INPUT'])
    expect(unknown.body.errors![0]!.extensions.unknown).toEqual([
      '00000000-0000-4000-8000-000000000000',
      'nope',
    ])
    const revoke = await api.gql(
      'mutation { revokeApiToken(id: "00000000-0000-4000-8000-000000000000") { id } }',
      {
        token: adminToken,
      },
    )
    expect(codes(revoke.body)).toEqual(['NOT_FOUND'])
  })

  it('an admin token may do what a write token may', async () => {
    const tracker = await insertTracker(api.database.db, { name: 'Admin rename' })
    const renamed = await api.gql(
      `mutation { renameTracker(id: "${tracker.id}", name: "Renamed") { name } }`,
      {
        token: adminToken,
      },
    )
    expect(renamed.body.data).toEqual({ renameTracker: { name: 'Renamed' } })
  })
})

describe('a token limited to chosen trackers', () => {
  let mine: Tracker
  let theirs: Tracker
  let readToken: string
  let writeToken: string

  beforeAll(async () => {
    mine = await trackerWithHistory('Shared bike')
    theirs = await trackerWithHistory('Private car')
    const created = await api.gql(
      `mutation ($ids: [ID!]) {
        r: createApiToken(name: "friend", scope: READ, trackerIds: $ids) { token apiToken { trackerIds } }
        w: createApiToken(name: "friend rw", scope: WRITE, trackerIds: $ids) { token }
      }`,
      { variables: { ids: [mine.id.toUpperCase()] }, token: adminToken },
    )
    expect(created.body.errors).toBeUndefined()
    const data = created.body.data as {
      r: { token: string; apiToken: { trackerIds: string[] } }
      w: { token: string }
    }
    expect(data.r.apiToken.trackerIds).toEqual([mine.id])
    readToken = data.r.token
    writeToken = data.w.token
    // Alerts: per tracker, a place and a rule to change, another of each to delete, and an alert.
    for (const tracker of [mine, theirs]) {
      const place = (name: string) =>
        api.database.db
          .insertInto('alert_places')
          .values({
            name,
            shape: 'circle',
            center_latitude: 1,
            center_longitude: 2,
            radius_m: 50,
            tracker_ids: [tracker.id],
          })
          .returning('id')
          .executeTakeFirstOrThrow()
      const rule = (name: string) =>
        api.database.db
          .insertInto('alert_rules')
          .values({ name, kind: 'battery', battery_at_or_below: 'low', tracker_ids: [tracker.id] })
          .returning('id')
          .executeTakeFirstOrThrow()
      alertObjects.set(tracker.id, {
        place: (await place('Yard')).id,
        placeToDelete: (await place('Old yard')).id,
        rule: (await rule('Low')).id,
        ruleToDelete: (await rule('Old low')).id,
      })
      await api.database.db
        .insertInto('alert_events')
        .values({
          rule_id: alertObjects.get(tracker.id)!.rule,
          tracker_id: tracker.id,
          kind: 'battery',
          occurred_before: new Date(),
          confirmed_at: new Date(),
        })
        .execute()
    }
  })
  const alertObjects = new Map<
    string,
    { place: string; placeToDelete: string; rule: string; ruleToDelete: string }
  >()
  const alertObject = (trackerId: string, which: 'place' | 'placeToDelete' | 'rule' | 'ruleToDelete') =>
    alertObjects.get(trackerId)![which]

  const historyArgs = (id: string) =>
    `trackerId: "${id}", startTime: "${range().startTime}", endTime: "${range().endTime}", bucketSize: "1 day"`

  /** Each root field: what the limited token gets for its own tracker and for another one. */
  const queries: Record<string, (id: string) => string> = {
    locationHistoryAggregated: (id) =>
      `{ locationHistoryAggregated(${historyArgs(id)}) { id tracker { id } } }`,
    locationHistoryPage: (id) =>
      `{ locationHistoryPage(${historyArgs(id)}) { points { id tracker { id } } } }`,
    tracker: (id) => `{ tracker(id: "${id}") { id name } }`,
    locationReports: (id) => `{ locationReports(trackerId: "${id}") { nodes { timestamp tracker { id } } } }`,
    alerts: (id) => `{ alerts(trackerId: "${id}") { nodes { id tracker { id } } } }`,
  }
  const mutations: Record<string, (id: string) => string> = {
    refreshLocationHistoryAggregates: (id) =>
      `mutation { refreshLocationHistoryAggregates(trackerId: "${id}", startTime: "${range().startTime}", endTime: "${range().endTime}") }`,
    renameTracker: (id) => `mutation { renameTracker(id: "${id}", name: "Renamed by friend") { id } }`,
    deactivateTracker: (id) => `mutation { deactivateTracker(id: "${id}") { id } }`,
    reactivateTracker: (id) => `mutation { reactivateTracker(id: "${id}") { id } }`,
    setTrackerPolling: (id) => `mutation { setTrackerPolling(id: "${id}", pollEveryMinutes: 30) { id } }`,
    addTrackerKey: (id) =>
      `mutation { addTrackerKey(trackerId: "${id}", privateKey: "${generateKeyPair().privateKey.toString('base64')}") { id } }`,
    removeTrackerKey: (id) =>
      `mutation { removeTrackerKey(trackerId: "${id}", hashedAdvKey: "${id === mine.id ? mine.hashedAdvKeys[0] : theirs.hashedAdvKeys[0]}") { id } }`,
    deleteTracker: (id) => `mutation { deleteTracker(id: "${id}", confirm: "wrong name") { id } }`,
    // Places and rules: for its trackers only; another tracker's (or one for every tracker) is FORBIDDEN.
    createPlace: (id) =>
      `mutation { createPlace(input: { name: "P", circle: { latitude: 1, longitude: 2, radiusM: 50 }, trackerIds: ["${id}"] }) { id } }`,
    updatePlace: (id) =>
      `mutation { updatePlace(id: "${alertObject(id, 'place')}", input: { name: "Renamed" }) { id } }`,
    deletePlace: (id) => `mutation { deletePlace(id: "${alertObject(id, 'placeToDelete')}") }`,
    createAlertRule: (id) =>
      `mutation { createAlertRule(input: { name: "R", kind: BATTERY, batteryAtOrBelow: LOW, trackerIds: ["${id}"] }) { id } }`,
    updateAlertRule: (id) =>
      `mutation { updateAlertRule(id: "${alertObject(id, 'rule')}", input: { muted: true }) { id } }`,
    deleteAlertRule: (id) => `mutation { deleteAlertRule(id: "${alertObject(id, 'ruleToDelete')}") }`,
  }
  /** Root fields that concern every tracker (or the tokens): refused whatever the tracker. */
  const global: Record<string, string> = {
    trackers: '', // filtered, checked on its own below
    importRuns: '{ importRuns { nodes { id } } }',
    endpointHealth: '{ endpointHealth { streak { failingRequests } } }',
    apiTokens: '{ apiTokens { id } }',
    trackerDeletions: '{ trackerDeletions { id } }',
    createTracker: `mutation { createTracker(input: { name: "New", privateKeys: [] }) { id } }`,
    importKeyFile: `mutation { importKeyFile(fileName: "k.txt", content: "${generateKeyPair().privateKey.toString('base64')}") { id } }`,
    createApiToken: 'mutation { createApiToken(name: "more", scope: READ) { token } }',
    revokeApiToken: 'mutation { revokeApiToken(id: "00000000-0000-4000-8000-000000000000") { id } }',
    places: '', // filtered, checked in alerts.test.ts
    alertRules: '', // filtered, checked in alerts.test.ts
    alertChannels: '{ alertChannels { nodes { id } } }',
    createAlertChannel:
      'mutation { createAlertChannel(input: { name: "c", kind: MQTT, topic: "t" }) { signingSecret } }',
    deleteAlertChannel: 'mutation { deleteAlertChannel(id: "00000000-0000-4000-8000-000000000000") }',
  }

  it('covers every root field of the schema in this test', () => {
    const schema = buildSchema(
      readFileSync(new URL('../src/graphql/schema.graphql', import.meta.url), 'utf8'),
    )
    const fields = [
      ...Object.keys(schema.getQueryType()!.getFields()),
      ...Object.keys(schema.getMutationType()!.getFields()),
    ].sort()
    expect([...Object.keys(queries), ...Object.keys(mutations), ...Object.keys(global)].sort()).toEqual(
      fields,
    )
  })

  it('lists only its trackers', async () => {
    const listed = await api.gql('{ trackers(first: 100) { nodes { id } } }', { token: readToken })
    expect(listed.body.data).toEqual({ trackers: { nodes: [{ id: mine.id }] } })
    const inactive = await api.gql('{ trackers(status: INACTIVE) { nodes { id } } }', { token: readToken })
    expect(inactive.body.data).toEqual({ trackers: { nodes: [] } })
  })

  it.each(Object.keys(queries))('%s: its tracker answers, another is FORBIDDEN', async (field) => {
    const own = await api.gql(queries[field]!(mine.id), { token: readToken })
    expect(own.body.errors).toBeUndefined()
    expect(own.raw).toContain(mine.id)
    const other = await api.gql(queries[field]!(theirs.id), { token: readToken })
    expect(codes(other.body)).toEqual(['FORBIDDEN'])
    // Nothing of it: data null, or the field null where it may be.
    expect(Object.values(other.body.data ?? {}).filter((v) => v !== null)).toEqual([])
    expect(other.raw).not.toContain('Private car')
  })

  it.each(Object.keys(mutations))(
    '%s: on another tracker FORBIDDEN, nothing changes; on its own allowed',
    async (field) => {
      const before = await api.database.db
        .selectFrom('trackers')
        .selectAll()
        .where('id', '=', theirs.id)
        .execute()
      const keysBefore = await api.database.db.selectFrom('tracker_keys').selectAll().execute()
      const other = await api.gql(mutations[field]!(theirs.id), { token: writeToken })
      expect(codes(other.body)).toEqual(['FORBIDDEN'])
      expect(
        await api.database.db.selectFrom('trackers').selectAll().where('id', '=', theirs.id).execute(),
      ).toEqual(before)
      expect(await api.database.db.selectFrom('tracker_keys').selectAll().execute()).toEqual(keysBefore)
      // A read token limited to the tracker may not change it either.
      expect(codes((await api.gql(mutations[field]!(mine.id), { token: readToken })).body)).toEqual([
        'FORBIDDEN',
      ])
      const own = await api.gql(mutations[field]!(mine.id), { token: writeToken })
      // Its own tracker: past the token check (deleteTracker then wants the tracker's name; the
      // refresh asks a refresher, and none runs here).
      if (field === 'deleteTracker') expect(codes(own.body)).toEqual(['CONFIRMATION_REQUIRED'])
      else if (field === 'refreshLocationHistoryAggregates')
        expect(codes(own.body)).toEqual(['REFRESH_TIMEOUT'])
      else expect(own.body.errors).toBeUndefined()
    },
  )

  it.each(Object.keys(global).filter((f) => global[f] !== ''))('%s: FORBIDDEN', async (field) => {
    for (const token of [readToken, writeToken]) {
      const refused = await api.gql(global[field]!, { token })
      expect(codes(refused.body)).toEqual(['FORBIDDEN'])
    }
    expect(
      await api.database.db.selectFrom('trackers').select('id').where('name', '=', 'New').execute(),
    ).toEqual([])
  })

  it('never gets a kept answer of another tracker from the history cache', async () => {
    await cacheServing(api)
    const query = `{ locationHistoryAggregated(${historyArgs(theirs.id)}) { id reportCount } }`
    const full = await api.gql(query, { token: api.readToken })
    expect(full.body.errors).toBeUndefined()
    expect((await api.gql(query, { token: api.readToken })).headers['x-history-cache']).toBe('hit')
    const limited = await api.gql(query, { token: readToken })
    expect(codes(limited.body)).toEqual(['FORBIDDEN'])
    expect(limited.headers['x-history-cache']).toBeUndefined()
  })
})

describe('deleteTracker', () => {
  it('refuses without the tracker name as confirmation (CONFIRMATION_REQUIRED, HTTP 400): nothing is deleted', async () => {
    const tracker = await trackerWithHistory('Keep me')
    const refused = await api.gql(
      `mutation { deleteTracker(id: "${tracker.id}", confirm: "keep me") { id } }`,
    )
    expect(refused.status).toBe(400)
    expect(codes(refused.body)).toEqual(['CONFIRMATION_REQUIRED'])
    expect(refused.body.errors![0]!.message).toContain('"Keep me"')
    const still = await api.gql(`{ tracker(id: "${tracker.id}") { name } }`)
    expect(still.body.data).toEqual({ tracker: { name: 'Keep me' } })
    const unknown = await api.gql(
      'mutation { deleteTracker(id: "00000000-0000-4000-8000-000000000000", confirm: "x") { id } }',
    )
    expect(codes(unknown.body)).toEqual(['NOT_FOUND'])
  })

  it('with the name: purges the history from every tier, records who did it, drops kept answers', async () => {
    const tracker = await trackerWithHistory('Old phone')
    const { token } = await createApiToken(api.database.db, {
      name: 'deleter',
      scope: 'write',
      trackerIds: [tracker.id],
    })
    await cacheServing(api)
    const history = `{ locationHistoryAggregated(trackerId: "${tracker.id}", startTime: "${range().startTime}", endTime: "${range().endTime}", bucketSize: "1 day") { reportCount } }`
    const before = await api.gql(history)
    expect((before.body.data!.locationHistoryAggregated as unknown[]).length).toBeGreaterThan(0)
    expect((await api.gql(history)).headers['x-history-cache']).toBe('hit')

    const deleted = await api.gql(
      `mutation { deleteTracker(id: "${tracker.id}", confirm: "Old phone") {
        trackerId trackerName hashedAdvKeys deletedBy reportsDeleted hourlyRowsDeleted dailyRowsDeleted historyRowsDeleted keysDeleted
      } }`,
      { token },
    )
    expect(deleted.body.errors).toBeUndefined()
    expect(deleted.body.data!.deleteTracker).toEqual({
      trackerId: tracker.id,
      trackerName: 'Old phone',
      hashedAdvKeys: tracker.hashedAdvKeys,
      deletedBy: expect.stringContaining('"deleter"'),
      reportsDeleted: 2,
      hourlyRowsDeleted: 1,
      // Materialized rows: today's day (unless the hour-old report fell yesterday) is still real-time.
      dailyRowsDeleted: Math.floor((Date.now() - HOUR_MS) / DAY_MS) < Math.floor(Date.now() / DAY_MS) ? 2 : 1,
      historyRowsDeleted: expect.any(Number),
      keysDeleted: 1,
    })
    expect(codes((await api.gql(history)).body)).toEqual(['NOT_FOUND'])
    expect(codes((await api.gql(`{ tracker(id: "${tracker.id}") { id } }`)).body)).toEqual(['NOT_FOUND'])
    for (const table of ['location_reports', 'location_history'] as const) {
      expect(
        await api.database.db
          .selectFrom(table)
          .select('tracker_id')
          .where('tracker_id', '=', tracker.id)
          .execute(),
      ).toEqual([])
    }
    expect(await api.app.services.historyEngine.check()).toEqual([])
    // The token limited to it now sees nothing (not everything).
    expect((await api.gql('{ trackers { nodes { id } } }', { token })).body.data).toEqual({
      trackers: { nodes: [] },
    })

    const audit = await api.gql(
      '{ trackerDeletions(first: 5) { trackerId trackerName deletedBy reportsDeleted deletedAt } }',
      {
        token: adminToken,
      },
    )
    expect((audit.body.data!.trackerDeletions as { trackerId: string }[])[0]).toMatchObject({
      trackerId: tracker.id,
      trackerName: 'Old phone',
      reportsDeleted: 2,
    })
  })
})

describe('reactivateTracker', () => {
  it('undoes deactivateTracker: imported again, no longer INACTIVE; idempotent', async () => {
    const tracker = await insertTracker(api.database.db, { name: 'Back again' })
    const fields = '{ isActive deactivatedAt currentStatus }'
    const deactivated = await api.gql(`mutation { deactivateTracker(id: "${tracker.id}") ${fields} }`)
    expect(deactivated.body.data).toEqual({
      deactivateTracker: { isActive: false, deactivatedAt: expect.any(String), currentStatus: 'INACTIVE' },
    })
    for (let i = 0; i < 2; i++) {
      const reactivated = await api.gql(`mutation { reactivateTracker(id: "${tracker.id}") ${fields} }`)
      expect(reactivated.body.data).toEqual({
        reactivateTracker: { isActive: true, deactivatedAt: null, currentStatus: 'LOST' },
      })
    }
    const unknown = await api.gql(
      'mutation { reactivateTracker(id: "00000000-0000-4000-8000-000000000000") { id } }',
    )
    expect(codes(unknown.body)).toEqual(['NOT_FOUND'])
  })
})

describe('the tokens CLI', () => {
  const cli = async (args: string[]) => {
    const lines: string[] = []
    const exit = await runTokensCommand(api.database.db, parseTokensCommand(args), (line) => lines.push(line))
    return { exit, lines }
  }

  it('creates admin tokens and tokens limited to trackers, and lists what each may see', async () => {
    const tracker = await insertTracker(api.database.db)
    const admin = await cli(['create', '--name', 'ops', '--scope', 'admin'])
    expect(admin.exit).toBe(0)
    const adminCliToken = admin.lines.find((l) => l.startsWith('trk_'))!
    expect((await api.gql('{ apiTokens { id } }', { token: adminCliToken })).body.errors).toBeUndefined()

    const limited = await cli(['create', '--name', 'share', '--scope', 'read', '--tracker', tracker.id])
    expect(limited.lines[0]).toContain(`limited to tracker(s) ${tracker.id}`)
    const listed = (await cli(['list'])).lines
    expect(listed[0]).toMatch(/TRACKERS$/)
    expect(listed.find((l) => l.includes('\tshare\t'))).toMatch(new RegExp(`\\t${tracker.id}$`))
    expect(listed.find((l) => l.includes('\tops\t'))).toMatch(/\tadmin\tops\t.*\tall$/)

    const unknown = await cli([
      'create',
      '--name',
      'x',
      '--scope',
      'read',
      '--tracker',
      '00000000-0000-4000-8000-000000000000',
    ])
    expect(unknown.exit).toBe(1)
    expect(unknown.lines[0]).toMatch(/^error: no tracker has the id/)
  })

  it('refuses bad --tracker arguments before touching the database', () => {
    expect(() =>
      parseTokensCommand(['create', '--name', 'x', '--scope', 'read', '--tracker', 'abc']),
    ).toThrow(/not a tracker ID/)
    expect(() =>
      parseTokensCommand([
        'create',
        '--name',
        'x',
        '--scope',
        'admin',
        '--tracker',
        '00000000-0000-4000-8000-000000000000',
      ]),
    ).toThrow(UsageError)
    expect(() => parseTokensCommand(['list', '--tracker', 'x'])).toThrow(UsageError)
  })
})
