import { type EmbeddedDatabase, recordTrackerSighting } from '@tracker/db'
import { insertTracker, reportRow } from '@tracker/db/testing'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createApiToken } from '../src/index.ts'
import { revokeApiToken } from '../src/services/api-tokens.ts'
import { createTestApi, rebuildHistory, type TestApi } from './helpers.ts'
import { type LiveClient, liveClient } from './live-client.ts'

// Subscriptions with a real graphql-ws client over a real socket, against the API listening on a
// port, on the embedded engine: changes are written as the importer writes them (reports, then
// the tracker's last seen state), and arrive through the database's notifications.

let api: TestApi
let url: string
const clients: LiveClient[] = []
const WAIT = { timeout: 10_000 }

beforeAll(async () => {
  api = await createTestApi({
    env: {
      API_SUBSCRIPTION_MAX_CONNECTIONS_PER_TOKEN: '3',
      API_SUBSCRIPTION_MAX_PER_TOKEN: '4',
      API_TOKEN_CACHE_TTL: '1 s',
    },
  })
  const address = await api.app.listen({ host: '127.0.0.1', port: 0 })
  url = `${address.replace(/^http/, 'ws')}/graphql`
})

afterAll(async () => {
  await api.close()
})

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await expect
    .poll(() => api.app.live.updates.subscriptionCount, WAIT)
    .toEqual({ trackerUpdated: 0, historyChanged: 0 })
  await expect.poll(() => api.app.live.connections.size, WAIT).toBe(0)
})

function connect(token: string | null, headers?: Record<string, string>): LiveClient {
  const client = liveClient(url, {
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...(headers ? { headers } : {}),
  })
  clients.push(client)
  return client
}

const TRACKER_UPDATED = `subscription ($ids: [ID!]) {
  trackerUpdated(trackerIds: $ids) { id name currentStatus lastSeenAt lastLocation { latitude longitude } lastNearestCity battery }
}`
const HISTORY_CHANGED = `subscription ($id: ID!) { historyChanged(trackerId: $id) { trackerId from to refetch reason } }`

type TrackerEvent = {
  trackerUpdated: {
    id: string
    name: string
    currentStatus: string
    lastSeenAt: string | null
    lastLocation: { latitude: number; longitude: number } | null
    battery: string | null
  }
}
type HistoryEvent = {
  historyChanged: {
    trackerId: string
    from: string | null
    to: string | null
    refetch: boolean
    reason: string
  }
}

/** Until this many subscriptions are registered on the server (a change before that is not theirs). */
async function subscribed(n: { trackerUpdated?: number; historyChanged?: number }) {
  await expect
    .poll(() => api.app.live.updates.subscriptionCount, WAIT)
    .toEqual({ trackerUpdated: n.trackerUpdated ?? 0, historyChanged: n.historyChanged ?? 0 })
}

/** What the importer does: insert the reports, then move the tracker's last seen state forward. */
async function importReport(
  tracker: { id: string; hashedAdvKeys: string[] },
  at: Date,
  where = { latitude: 48.8566, longitude: 2.3522, city: 'Paris, FR' },
) {
  await api.database.db
    .insertInto('location_reports')
    .values(
      reportRow(tracker.hashedAdvKeys[0]!, at, {
        latitude: where.latitude,
        longitude: where.longitude,
        nearest_city: where.city,
      }),
    )
    .execute()
  await recordTrackerSighting(api.database.db, {
    trackerId: tracker.id,
    seenAt: at,
    latitude: where.latitude,
    longitude: where.longitude,
    nearestCity: where.city,
    batteryLevel: 'ok',
  })
}

describe('trackerUpdated and historyChanged', () => {
  it('listens once the API is up', async () => {
    await expect.poll(() => api.app.live.updates.connected, WAIT).toBe(true)
  })

  it('an import sends the tracker with its new position, and the window of its history that changed', async () => {
    const tracker = await insertTracker(api.database.db, { name: 'Bike' })
    const client = connect(api.readToken)
    const updates = client.subscribe<TrackerEvent>(TRACKER_UPDATED, { ids: [tracker.id] })
    const history = client.subscribe<HistoryEvent>(HISTORY_CHANGED, { id: tracker.id })
    await subscribed({ trackerUpdated: 1, historyChanged: 1 })

    const at = new Date(Date.now() - 5 * 60_000)
    await importReport(tracker, at)

    await expect.poll(() => updates.events.length, WAIT).toBe(1)
    expect(updates.events[0]!.trackerUpdated).toMatchObject({
      id: tracker.id,
      name: 'Bike',
      currentStatus: 'ACTIVE',
      lastSeenAt: at.toISOString(),
      lastLocation: { latitude: 48.8566, longitude: 2.3522 },
      battery: 'OK',
    })
    await expect.poll(() => history.events.length, WAIT).toBeGreaterThan(0)
    const change = history.events[0]!.historyChanged
    expect(change).toMatchObject({ trackerId: tracker.id, refetch: false, reason: 'REPORTS' })
    expect(new Date(change.from!).getTime()).toBeLessThanOrEqual(at.getTime())
    expect(new Date(change.to!).getTime()).toBeGreaterThan(at.getTime())
    expect(updates.errors).toEqual([])
  })

  it('a late report changes history (REPORTS, then HISTORY_REFRESHED once rebuilt) but sends no trackerUpdated', async () => {
    const tracker = await insertTracker(api.database.db)
    const now = Date.now()
    await importReport(tracker, new Date(now - 60_000))
    const client = connect(api.readToken)
    const updates = client.subscribe<TrackerEvent>(TRACKER_UPDATED, { ids: [tracker.id] })
    const history = client.subscribe<HistoryEvent>(HISTORY_CHANGED, { id: tracker.id })
    await subscribed({ trackerUpdated: 1, historyChanged: 1 })

    const late = new Date(now - 3 * 86_400_000)
    await importReport(tracker, late, { latitude: 50.1, longitude: 8.7, city: 'Frankfurt, DE' })
    await expect.poll(() => history.events.map((e) => e.historyChanged.reason), WAIT).toContain('REPORTS')
    const reports = history.events.find((e) => e.historyChanged.reason === 'REPORTS')!.historyChanged
    expect(new Date(reports.from!).getTime()).toBeLessThanOrEqual(late.getTime())
    expect(new Date(reports.to!).getTime()).toBeGreaterThan(late.getTime())

    await rebuildHistory(api)
    await expect
      .poll(() => history.events.map((e) => e.historyChanged.reason), WAIT)
      .toContain('HISTORY_REFRESHED')

    // A change that does send one, after the late report: tracker_changed notifications arrive in
    // commit order, so had the late report sent one it would be here first.
    await api.database.db
      .updateTable('trackers')
      .set({ name: 'Marker' })
      .where('id', '=', tracker.id)
      .execute()
    await expect.poll(() => updates.events.length, WAIT).toBe(1)
    expect(updates.events[0]!.trackerUpdated).toMatchObject({
      name: 'Marker',
      lastLocation: { latitude: 48.8566, longitude: 2.3522 },
      lastSeenAt: new Date(now - 60_000).toISOString(),
    })
  })

  it('without trackerIds: every tracker the token may see, also one created later', async () => {
    const client = connect(api.readToken)
    const updates = client.subscribe<TrackerEvent>(TRACKER_UPDATED)
    await subscribed({ trackerUpdated: 1 })
    const tracker = await insertTracker(api.database.db, { name: 'Created later' })
    await expect.poll(() => updates.events.some((e) => e.trackerUpdated.id === tracker.id), WAIT).toBe(true)
  })

  it('sends the current state again (trackerUpdated) and refetch (historyChanged) after the listener reconnects', async () => {
    const tracker = await insertTracker(api.database.db)
    const client = connect(api.readToken)
    const updates = client.subscribe<TrackerEvent>(TRACKER_UPDATED, { ids: [tracker.id] })
    const history = client.subscribe<HistoryEvent>(HISTORY_CHANGED, { id: tracker.id })
    await subscribed({ trackerUpdated: 1, historyChanged: 1 })

    const at = new Date(Date.now() - 2 * 60_000)
    // Written while nobody listens: its notifications are lost, as on a dropped connection.
    await (api.database as EmbeddedDatabase).interruptListeners(() =>
      importReport(tracker, at, { latitude: 41.9, longitude: 12.5, city: 'Rome, IT' }),
    )
    await expect
      .poll(() => history.events.map((e) => e.historyChanged), WAIT)
      .toContainEqual({ trackerId: tracker.id, from: null, to: null, refetch: true, reason: 'RECONNECTED' })
    await expect.poll(() => updates.events.length, WAIT).toBeGreaterThan(0)
    expect(updates.events.at(-1)!.trackerUpdated).toMatchObject({
      id: tracker.id,
      lastSeenAt: at.toISOString(),
      lastLocation: { latitude: 41.9, longitude: 12.5 },
    })
    await expect.poll(() => api.app.live.updates.connected, WAIT).toBe(true)
  })
})

describe('who may subscribe', () => {
  it('refuses a bad or missing token with 4401', async () => {
    const bad = connect('trk_not-a-token-at-all')
    const none = connect(null)
    await expect.poll(() => bad.closes.map((c) => c.code), WAIT).toEqual([4401])
    await expect.poll(() => none.closes.map((c) => c.code), WAIT).toEqual([4401])
    expect(bad.acknowledged).toBe(false)
    expect(bad.closes[0]!.reason).toMatch(/Invalid or revoked API token/)
  })

  it('a token limited to trackers may not subscribe to others, and hears only its own', async () => {
    const mine = await insertTracker(api.database.db)
    const other = await insertTracker(api.database.db)
    const limited = await createApiToken(api.database.db, {
      name: 'limited',
      scope: 'read',
      trackerIds: [mine.id],
    })
    const client = connect(limited.token)
    const forOther = client.subscribe(TRACKER_UPDATED, { ids: [other.id] })
    const historyOfOther = client.subscribe(HISTORY_CHANGED, { id: other.id })
    await expect.poll(() => forOther.errors.length, WAIT).toBe(1)
    await expect.poll(() => historyOfOther.errors.length, WAIT).toBe(1)
    expect(forOther.errors[0]!.extensions?.code).toBe('FORBIDDEN')
    expect(forOther.errors[0]!.message).toMatch(/limited to other trackers/)
    expect(historyOfOther.errors[0]!.extensions?.code).toBe('FORBIDDEN')

    const all = client.subscribe<TrackerEvent>(TRACKER_UPDATED)
    await subscribed({ trackerUpdated: 1 })
    await api.database.db
      .updateTable('trackers')
      .set({ name: 'Other renamed' })
      .where('id', '=', other.id)
      .execute()
    await api.database.db
      .updateTable('trackers')
      .set({ name: 'Mine renamed' })
      .where('id', '=', mine.id)
      .execute()
    await expect.poll(() => all.events.length, WAIT).toBe(1)
    expect(all.events[0]!.trackerUpdated.id).toBe(mine.id)
  })

  it('an unknown tracker is NOT_FOUND; a query over the socket is refused', async () => {
    const client = connect(api.readToken)
    const unknown = client.subscribe(HISTORY_CHANGED, { id: '00000000-0000-4000-8000-000000000000' })
    const invalid = client.subscribe('subscription { trackerUpdated { nope } }')
    await expect.poll(() => unknown.errors.length, WAIT).toBe(1)
    await expect.poll(() => invalid.errors.length, WAIT).toBe(1)
    expect(unknown.errors[0]!.extensions?.code).toBe('NOT_FOUND')
    expect(invalid.errors[0]!.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED')
  })

  it('limits connections (4429) and subscriptions (TOO_MANY_SUBSCRIPTIONS) per token', async () => {
    const { token } = await createApiToken(api.database.db, { name: 'limits', scope: 'read' })
    const open = [connect(token), connect(token), connect(token)]
    for (const c of open) await expect.poll(() => c.acknowledged, WAIT).toBe(true)
    const fourth = connect(token)
    await expect.poll(() => fourth.closes.map((c) => c.code), WAIT).toEqual([4429])
    expect(fourth.closes[0]!.reason).toMatch(/API_SUBSCRIPTION_MAX_CONNECTIONS_PER_TOKEN/)

    const tracker = await insertTracker(api.database.db)
    const subs = [0, 1, 2, 3].map((i) => open[i % 2]!.subscribe(HISTORY_CHANGED, { id: tracker.id }))
    await subscribed({ historyChanged: 4 })
    const fifth = open[2]!.subscribe(HISTORY_CHANGED, { id: tracker.id })
    await expect.poll(() => fifth.errors.length, WAIT).toBe(1)
    expect(fifth.errors[0]!.extensions?.code).toBe('TOO_MANY_SUBSCRIPTIONS')
    // Completing one frees its place.
    subs[0]!.dispose()
    await expect.poll(() => api.app.live.updates.subscriptionCount.historyChanged, WAIT).toBe(3)
    const again = open[2]!.subscribe(HISTORY_CHANGED, { id: tracker.id })
    await subscribed({ historyChanged: 4 })
    expect(again.errors).toEqual([])
  })

  it('revoking a token closes its sockets: at once on this replica, within API_TOKEN_CACHE_TTL when revoked elsewhere', async () => {
    const admin = await createApiToken(api.database.db, { name: 'admin', scope: 'admin' })
    const here = await createApiToken(api.database.db, { name: 'revoked here', scope: 'read' })
    const elsewhere = await createApiToken(api.database.db, { name: 'revoked elsewhere', scope: 'read' })
    const a = connect(here.token)
    const b = connect(elsewhere.token)
    await expect.poll(() => a.acknowledged && b.acknowledged, WAIT).toBe(true)

    const revoked = await api.gql(`mutation { revokeApiToken(id: "${here.id}") { revokedAt } }`, {
      token: admin.token,
    })
    expect(revoked.body.errors).toBeUndefined()
    // The mutation's reply comes after the socket was told: closed now, not at the next check.
    await expect.poll(() => a.closes.map((c) => c.code), { timeout: 500 }).toEqual([4401])

    await revokeApiToken(api.database.db, elsewhere.id) // as the CLI or another replica does
    await expect.poll(() => b.closes.map((c) => c.code), WAIT).toEqual([4401])
  })

  it('the web session cookie authenticates from this origin; signing out closes its socket; another origin is 4403', async () => {
    const signIn = await api.app.inject({
      method: 'POST',
      url: '/session',
      payload: { token: api.readToken },
    })
    const secret = /tracker_session=([^;]+)/.exec(String(signIn.headers['set-cookie']))![1]!
    const origin = new URL(url.replace(/^ws/, 'http')).origin
    const ok = connect(null, { cookie: `tracker_session=${secret}`, origin })
    await expect.poll(() => ok.acknowledged, WAIT).toBe(true)
    const foreign = connect(null, { cookie: `tracker_session=${secret}`, origin: 'https://evil.example' })
    await expect.poll(() => foreign.closes.map((c) => c.code), WAIT).toEqual([4403])

    const out = await api.app.inject({
      method: 'DELETE',
      url: '/session',
      headers: { cookie: `tracker_session=${secret}` },
    })
    expect(out.statusCode).toBe(204)
    await expect.poll(() => ok.closes.map((c) => c.code), WAIT).toEqual([4401])
  })
})
