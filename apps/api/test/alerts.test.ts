import { insertTracker } from '@tracker/db/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApiToken } from '../src/index.ts'
import { createTestApi, type TestApi } from './helpers.ts'

// Alerts through GraphQL: places, rules and channels (CRUD, validation, scopes, tokens limited to
// trackers) and the alert history with its deliveries, set up with rows written directly.
let api: TestApi
let bike: { id: string; name: string }
let car: { id: string; name: string }
beforeAll(async () => {
  api = await createTestApi()
  bike = await insertTracker(api.database.db, { name: 'Bike' })
  car = await insertTracker(api.database.db, { name: 'Car' })
})
afterAll(() => api?.close())

type GqlError = { message: string; extensions: { code: string; [key: string]: unknown } }
const errorOf = (body: { errors?: GqlError[] }) => {
  expect(body.errors, JSON.stringify(body)).toHaveLength(1)
  return body.errors![0]!
}
const dataOf = <T>(response: { body: { data?: Record<string, unknown> | null; errors?: unknown } }): T => {
  expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined()
  return response.body.data as T
}

const PLACE_FIELDS =
  'id name shape center { latitude longitude } radiusM polygon trackerIds createdAt updatedAt'
const RULE_FIELDS = `id name kind place { id name } hysteresisM confirmations notSeenSeconds batteryAtOrBelow
  trackerIds channelIds enabled muted`

const createPlace = (input: Record<string, unknown>, token?: string) =>
  api.gql(`mutation ($input: CreatePlaceInput!) { createPlace(input: $input) { ${PLACE_FIELDS} } }`, {
    variables: { input },
    ...(token ? { token } : {}),
  })
const createRule = (input: Record<string, unknown>, token?: string) =>
  api.gql(`mutation ($input: CreateAlertRuleInput!) { createAlertRule(input: $input) { ${RULE_FIELDS} } }`, {
    variables: { input },
    ...(token ? { token } : {}),
  })
const createChannel = (input: Record<string, unknown>, token?: string) =>
  api.gql(
    `mutation ($input: CreateAlertChannelInput!) {
      createAlertChannel(input: $input) { signingSecret channel { id name kind url topic hasSecret } }
    }`,
    { variables: { input }, ...(token ? { token } : {}) },
  )

const square = (x: number, y: number, size: number) => [
  [x, y],
  [x + size, y],
  [x + size, y + size],
  [x, y + size],
  [x, y],
]

interface PlaceResult {
  id: string
  name: string
  shape: string
  center: { latitude: number; longitude: number } | null
  radiusM: number | null
  polygon: number[][][] | null
  trackerIds: string[] | null
}
interface RuleResult {
  id: string
  kind: string
  place: { id: string; name: string } | null
  hysteresisM: number | null
  confirmations: number | null
  trackerIds: string[] | null
  channelIds: string[]
  enabled: boolean
  muted: boolean
}

describe('places', () => {
  it('a circle and a polygon with a hole are created, listed, changed and deleted', async () => {
    const home = dataOf<{ createPlace: PlaceResult }>(
      await createPlace({ name: ' Home ', circle: { latitude: 52.52, longitude: 13.405, radiusM: 150 } }),
    ).createPlace
    expect(home).toMatchObject({
      name: 'Home',
      shape: 'CIRCLE',
      center: { latitude: 52.52, longitude: 13.405 },
      radiusM: 150,
      polygon: null,
      trackerIds: null,
    })
    const park = dataOf<{ createPlace: PlaceResult }>(
      await createPlace({
        name: 'Park',
        polygon: [square(13.3, 52.5, 0.05), square(13.31, 52.51, 0.01)],
        trackerIds: [bike.id.toUpperCase()],
      }),
    ).createPlace
    expect(park).toMatchObject({ shape: 'POLYGON', center: null, radiusM: null, trackerIds: [bike.id] })
    expect(park.polygon).toEqual([square(13.3, 52.5, 0.05), square(13.31, 52.51, 0.01)])

    const listed = dataOf<{ places: { nodes: { id: string }[] } }>(
      await api.gql('{ places(first: 100) { nodes { id name } pageInfo { hasNextPage endCursor } } }'),
    )
    expect(listed.places.nodes.map((p) => p.id)).toEqual(expect.arrayContaining([home.id, park.id]))

    // A polygon replaces the circle; left-out fields stay.
    const changed = dataOf<{ updatePlace: PlaceResult }>(
      await api.gql(
        `mutation ($id: ID!, $input: UpdatePlaceInput!) { updatePlace(id: $id, input: $input) { ${PLACE_FIELDS} } }`,
        {
          variables: { id: home.id, input: { polygon: [square(13.4, 52.52, 0.002)], trackerIds: [car.id] } },
        },
      ),
    ).updatePlace
    expect(changed).toMatchObject({
      name: 'Home',
      shape: 'POLYGON',
      center: null,
      radiusM: null,
      trackerIds: [car.id],
    })
    const everyTracker = dataOf<{ updatePlace: PlaceResult }>(
      await api.gql(
        `mutation ($id: ID!) { updatePlace(id: $id, input: { trackerIds: null }) { trackerIds } }`,
        {
          variables: { id: home.id },
        },
      ),
    ).updatePlace
    expect(everyTracker.trackerIds).toBeNull()

    expect(
      dataOf<{ deletePlace: string }>(await api.gql(`mutation { deletePlace(id: "${park.id}") }`))
        .deletePlace,
    ).toBe(park.id)
    expect(errorOf((await api.gql(`mutation { deletePlace(id: "${park.id}") }`)).body).extensions.code).toBe(
      'NOT_FOUND',
    )
  })

  it('a radius out of bounds is BAD_USER_INPUT naming the field, the reason and the bounds', async () => {
    for (const radiusM of [5, 100_001]) {
      const error = errorOf(
        (await createPlace({ name: 'x', circle: { latitude: 0, longitude: 0, radiusM } })).body,
      )
      expect(error.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'circle.radiusM',
        reason: 'OUT_OF_RANGE',
        min: 10,
        max: 100_000,
      })
      expect(error.message).toContain('circle.radiusM')
    }
  })

  it('a self-intersecting polygon is refused with where it crosses; nothing is stored', async () => {
    const before = await api.database.db.selectFrom('alert_places').select('id').execute()
    const bowTie = [
      [
        [13, 52],
        [13.1, 52.1],
        [13.1, 52],
        [13, 52.1],
        [13, 52],
      ],
    ]
    const error = errorOf((await createPlace({ name: 'Bow tie', polygon: bowTie })).body)
    expect(error.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'polygon',
      reason: 'SELF_INTERSECTING',
    })
    expect(error.extensions.at).toEqual([13.05, 52.05])
    expect(await api.database.db.selectFrom('alert_places').select('id').execute()).toEqual(before)
  })

  it('other refusals: an open ring, both shapes, no shape, an unknown tracker, an unknown place', async () => {
    const open = square(0, 0, 1).slice(0, 4)
    expect(errorOf((await createPlace({ name: 'x', polygon: [open] })).body).extensions).toMatchObject({
      field: 'polygon[0]',
      reason: 'RING_NOT_CLOSED',
    })
    expect(
      errorOf(
        (
          await createPlace({
            name: 'x',
            circle: { latitude: 0, longitude: 0, radiusM: 50 },
            polygon: [square(0, 0, 1)],
          })
        ).body,
      ).extensions,
    ).toMatchObject({ reason: 'SHAPE_AMBIGUOUS' })
    expect(errorOf((await createPlace({ name: 'x' })).body).extensions).toMatchObject({
      reason: 'SHAPE_REQUIRED',
    })
    const unknown = '00000000-0000-4000-8000-000000000000'
    expect(
      errorOf(
        (
          await createPlace({
            name: 'x',
            circle: { latitude: 0, longitude: 0, radiusM: 50 },
            trackerIds: [bike.id, unknown, 'nope'],
          })
        ).body,
      ).extensions,
    ).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'trackerIds',
      reason: 'UNKNOWN_REFERENCE',
      unknown: [unknown, 'nope'],
    })
    for (const id of [unknown, 'not-a-uuid'])
      expect(
        errorOf((await api.gql(`mutation { updatePlace(id: "${id}", input: { name: "y" }) { id } }`)).body)
          .extensions.code,
      ).toBe('NOT_FOUND')
  })

  it('a place its rules watch is deleted only with deleteRules: true, and its rules with it', async () => {
    const place = dataOf<{ createPlace: PlaceResult }>(
      await createPlace({ name: 'Office', circle: { latitude: 48.1, longitude: 11.5, radiusM: 80 } }),
    ).createPlace
    const rule = dataOf<{ createAlertRule: RuleResult }>(
      await createRule({ name: 'At the office', kind: 'ENTER', placeId: place.id }),
    ).createAlertRule
    const refused = errorOf((await api.gql(`mutation { deletePlace(id: "${place.id}") }`)).body)
    expect(refused.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      reason: 'IN_USE',
      rules: [{ id: rule.id, name: 'At the office' }],
    })
    expect(dataOf(await api.gql(`mutation { deletePlace(id: "${place.id}", deleteRules: true) }`))).toEqual({
      deletePlace: place.id,
    })
    expect(await api.database.db.selectFrom('alert_rules').where('id', '=', rule.id).execute()).toEqual([])
  })
})

describe('rules', () => {
  let place: PlaceResult
  let channelId: string
  beforeAll(async () => {
    place = dataOf<{ createPlace: PlaceResult }>(
      await createPlace({ name: 'Garage', circle: { latitude: 50, longitude: 8, radiusM: 40 } }),
    ).createPlace
    channelId = dataOf<{ createAlertChannel: { channel: { id: string } } }>(
      await createChannel({ name: 'Phone', kind: 'NTFY', url: 'https://ntfy.example.test', topic: 'garage' }),
    ).createAlertChannel.channel.id
  })

  it('each kind is created with its own settings; enter gets the default hysteresis and confirmations', async () => {
    const leave = dataOf<{ createAlertRule: RuleResult }>(
      await createRule({
        name: 'Bike left the garage',
        kind: 'LEAVE',
        placeId: place.id,
        trackerIds: [bike.id],
        channelIds: [channelId],
      }),
    ).createAlertRule
    expect(leave).toMatchObject({
      kind: 'LEAVE',
      place: { id: place.id, name: 'Garage' },
      hysteresisM: 50,
      confirmations: 2,
      notSeenSeconds: null,
      batteryAtOrBelow: null,
      trackerIds: [bike.id],
      channelIds: [channelId],
      enabled: true,
      muted: false,
    })
    const quiet = dataOf<{ createAlertRule: RuleResult }>(
      await createRule({ name: 'Quiet for a day', kind: 'NOT_SEEN', notSeenSeconds: 86_400 }),
    ).createAlertRule
    expect(quiet).toMatchObject({ kind: 'NOT_SEEN', notSeenSeconds: 86_400, hysteresisM: null, place: null })
    const battery = dataOf<{ createAlertRule: RuleResult }>(
      await createRule({ name: 'Low battery', kind: 'BATTERY', batteryAtOrBelow: 'LOW' }),
    ).createAlertRule
    expect(battery).toMatchObject({ kind: 'BATTERY', batteryAtOrBelow: 'LOW', confirmations: null })
  })

  it('enabled and muted (and the settings) change; left-out fields stay', async () => {
    const rule = dataOf<{ createAlertRule: RuleResult }>(
      await createRule({ name: 'Home again', kind: 'ENTER', placeId: place.id, confirmations: 3 }),
    ).createAlertRule
    const update = (input: Record<string, unknown>) =>
      api.gql(
        `mutation ($id: ID!, $input: UpdateAlertRuleInput!) { updateAlertRule(id: $id, input: $input) { ${RULE_FIELDS} } }`,
        { variables: { id: rule.id, input } },
      )
    expect(
      dataOf<{ updateAlertRule: RuleResult }>(await update({ muted: true })).updateAlertRule,
    ).toMatchObject({
      muted: true,
      enabled: true,
      confirmations: 3,
    })
    expect(
      dataOf<{ updateAlertRule: RuleResult }>(await update({ enabled: false, hysteresisM: 120 }))
        .updateAlertRule,
    ).toMatchObject({ muted: true, enabled: false, hysteresisM: 120, confirmations: 3 })
    expect(errorOf((await update({ confirmations: 11 })).body).extensions).toMatchObject({
      field: 'confirmations',
      reason: 'OUT_OF_RANGE',
      min: 1,
      max: 10,
    })
    expect(errorOf((await update({ notSeenSeconds: 3600 })).body).extensions).toMatchObject({
      field: 'notSeenSeconds',
      reason: 'NOT_FOR_KIND',
    })
    expect(dataOf(await api.gql(`mutation { deleteAlertRule(id: "${rule.id}") }`))).toEqual({
      deleteAlertRule: rule.id,
    })
  })

  it('an unknown place, channel or tracker is BAD_USER_INPUT naming it; missing settings too', async () => {
    const unknown = '00000000-0000-4000-8000-000000000001'
    expect(
      errorOf((await createRule({ name: 'x', kind: 'ENTER', placeId: unknown })).body).extensions,
    ).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'placeId',
      reason: 'UNKNOWN_REFERENCE',
      unknown: [unknown],
    })
    expect(
      errorOf(
        (await createRule({ name: 'x', kind: 'BATTERY', batteryAtOrBelow: 'LOW', channelIds: [unknown] }))
          .body,
      ).extensions,
    ).toMatchObject({ field: 'channelIds', reason: 'UNKNOWN_REFERENCE', unknown: [unknown] })
    expect(
      errorOf(
        (await createRule({ name: 'x', kind: 'BATTERY', batteryAtOrBelow: 'LOW', trackerIds: [unknown] }))
          .body,
      ).extensions,
    ).toMatchObject({ field: 'trackerIds', reason: 'UNKNOWN_REFERENCE' })
    expect(errorOf((await createRule({ name: 'x', kind: 'NOT_SEEN' })).body).extensions).toMatchObject({
      field: 'notSeenSeconds',
      reason: 'REQUIRED',
    })
    expect(
      errorOf((await createRule({ name: 'x', kind: 'NOT_SEEN', notSeenSeconds: 60 })).body).extensions,
    ).toMatchObject({ field: 'notSeenSeconds', reason: 'OUT_OF_RANGE' })
    expect(
      errorOf((await createRule({ name: 'x', kind: 'BATTERY', batteryAtOrBelow: 'OK' })).body).extensions,
    ).toMatchObject({ field: 'batteryAtOrBelow', reason: 'OUT_OF_RANGE' })
    expect(
      errorOf(
        (await createRule({ name: 'x', kind: 'BATTERY', batteryAtOrBelow: 'LOW', placeId: place.id })).body,
      ).extensions,
    ).toMatchObject({ field: 'placeId', reason: 'NOT_FOR_KIND' })
  })

  it("a rule whose trackers share none with its place's is refused (it could never fire)", async () => {
    const bikesOnly = dataOf<{ createPlace: PlaceResult }>(
      await createPlace({
        name: 'Bike shed',
        circle: { latitude: 50, longitude: 8, radiusM: 20 },
        trackerIds: [bike.id],
      }),
    ).createPlace
    expect(
      errorOf(
        (await createRule({ name: 'x', kind: 'ENTER', placeId: bikesOnly.id, trackerIds: [car.id] })).body,
      ).extensions,
    ).toMatchObject({ field: 'trackerIds', reason: 'NO_COMMON_TRACKER' })
  })
})

describe('channels', () => {
  it('a webhook gets a generated secret, shown once: never in a list, never in any answer again', async () => {
    const created = dataOf<{
      createAlertChannel: { signingSecret: string; channel: { id: string; kind: string; hasSecret: boolean } }
    }>(
      await createChannel({
        name: 'Home Assistant',
        kind: 'WEBHOOK',
        url: 'http://127.0.0.1:8123/api/webhook/x',
      }),
    ).createAlertChannel
    expect(created.signingSecret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)
    expect(created.channel).toMatchObject({ kind: 'WEBHOOK', hasSecret: true })
    const stored = await api.database.db
      .selectFrom('alert_channels')
      .select('secret')
      .where('id', '=', created.channel.id)
      .executeTakeFirstOrThrow()
    expect(stored.secret).toBe(created.signingSecret)
    const listed = await api.gql(
      '{ alertChannels(first: 100) { nodes { id name kind url topic hasSecret } } }',
    )
    expect(listed.body.errors).toBeUndefined()
    expect(listed.raw).toContain(created.channel.id)
    expect(listed.raw).not.toContain(created.signingSecret.slice(6, 20))
  })

  it('a given secret is kept; ntfy and mqtt need their topic; bad ones are refused', async () => {
    const secret = `whsec_${Buffer.alloc(32, 9).toString('base64')}`
    expect(
      dataOf<{ createAlertChannel: { signingSecret: string } }>(
        await createChannel({ name: 'Hook', kind: 'WEBHOOK', url: 'https://hooks.example.test/a', secret }),
      ).createAlertChannel.signingSecret,
    ).toBe(secret)
    const mqtt = dataOf<{
      createAlertChannel: { signingSecret: null; channel: { topic: string; hasSecret: boolean } }
    }>(await createChannel({ name: 'HA', kind: 'MQTT', topic: 'tracker/alerts' })).createAlertChannel
    expect(mqtt).toEqual({
      signingSecret: null,
      channel: expect.objectContaining({ topic: 'tracker/alerts', hasSecret: false }),
    })
    expect(
      errorOf((await createChannel({ name: 'x', kind: 'MQTT', topic: 'tracker/#' })).body).extensions,
    ).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'topic',
      reason: 'TOPIC_INVALID',
    })
    expect(
      errorOf((await createChannel({ name: 'x', kind: 'WEBHOOK', url: 'ftp://example.test/' })).body)
        .extensions,
    ).toMatchObject({ field: 'url', reason: 'URL_INVALID' })
    expect(
      errorOf(
        (await createChannel({ name: 'x', kind: 'WEBHOOK', url: 'https://a.test/', secret: 'hunter2' })).body,
      ).extensions,
    ).toMatchObject({ field: 'secret', reason: 'SECRET_INVALID' })
    expect(
      errorOf((await createChannel({ name: 'x', kind: 'NTFY', url: 'https://ntfy.sh' })).body).extensions,
    ).toMatchObject({ field: 'topic', reason: 'REQUIRED' })
  })

  it('a deleted channel leaves the rules that named it', async () => {
    const channel = dataOf<{ createAlertChannel: { channel: { id: string } } }>(
      await createChannel({ name: 'Old', kind: 'MQTT', topic: 'old/alerts' }),
    ).createAlertChannel.channel
    const rule = dataOf<{ createAlertRule: RuleResult }>(
      await createRule({
        name: 'Uses old',
        kind: 'BATTERY',
        batteryAtOrBelow: 'CRITICAL',
        channelIds: [channel.id],
      }),
    ).createAlertRule
    expect(dataOf(await api.gql(`mutation { deleteAlertChannel(id: "${channel.id}") }`))).toEqual({
      deleteAlertChannel: channel.id,
    })
    const after = await api.database.db
      .selectFrom('alert_rules')
      .select('channel_ids')
      .where('id', '=', rule.id)
      .executeTakeFirstOrThrow()
    expect(after.channel_ids).toEqual([])
    expect(
      errorOf((await api.gql(`mutation { deleteAlertChannel(id: "${channel.id}") }`)).body).extensions.code,
    ).toBe('NOT_FOUND')
  })
})

describe('scopes and tokens limited to trackers', () => {
  let limited: string
  let limitedRead: string
  beforeAll(async () => {
    limited = (
      await createApiToken(api.database.db, { name: 'bike rw', scope: 'write', trackerIds: [bike.id] })
    ).token
    limitedRead = (
      await createApiToken(api.database.db, { name: 'bike r', scope: 'read', trackerIds: [bike.id] })
    ).token
  })

  it('a read-only token lists but may not create, change or delete (FORBIDDEN, nothing written)', async () => {
    const before = await api.database.db.selectFrom('alert_places').select('id').execute()
    for (const token of [api.readToken, limitedRead]) {
      const refused = await createPlace(
        { name: 'x', circle: { latitude: 0, longitude: 0, radiusM: 50 } },
        token,
      )
      expect(errorOf(refused.body).extensions.code).toBe('FORBIDDEN')
      expect(
        errorOf((await createRule({ name: 'x', kind: 'NOT_SEEN', notSeenSeconds: 3600 }, token)).body)
          .extensions.code,
      ).toBe('FORBIDDEN')
    }
    expect(await api.database.db.selectFrom('alert_places').select('id').execute()).toEqual(before)
    expect(
      (
        await api.gql('{ places { nodes { id } } alertRules { nodes { id } } alerts { nodes { id } } }', {
          token: api.readToken,
        })
      ).body.errors,
    ).toBeUndefined()
  })

  it('creates places and rules only for its own trackers', async () => {
    const forAll = await createPlace(
      { name: 'x', circle: { latitude: 0, longitude: 0, radiusM: 50 } },
      limited,
    )
    expect(errorOf(forAll.body).extensions.code).toBe('FORBIDDEN')
    const forCar = await createRule(
      { name: 'x', kind: 'NOT_SEEN', notSeenSeconds: 3600, trackerIds: [car.id] },
      limited,
    )
    expect(errorOf(forCar.body).extensions.code).toBe('FORBIDDEN')
    const forEveryTracker = await createRule({ name: 'x', kind: 'NOT_SEEN', notSeenSeconds: 3600 }, limited)
    expect(errorOf(forEveryTracker.body).extensions.code).toBe('FORBIDDEN')
    const own = dataOf<{ createAlertRule: RuleResult }>(
      await createRule(
        { name: 'Bike quiet', kind: 'NOT_SEEN', notSeenSeconds: 3600, trackerIds: [bike.id] },
        limited,
      ),
    ).createAlertRule
    expect(own.trackerIds).toEqual([bike.id])
    // Channels serve every rule: not for a limited token.
    expect(
      errorOf((await api.gql('{ alertChannels { nodes { id } } }', { token: limited })).body).extensions.code,
    ).toBe('FORBIDDEN')
  })

  it("sees places and rules for every tracker or its own, with others' trackers left out", async () => {
    const shared = dataOf<{ createPlace: PlaceResult }>(
      await createPlace({
        name: 'Shared yard',
        circle: { latitude: 1, longitude: 1, radiusM: 50 },
        trackerIds: [bike.id, car.id],
      }),
    ).createPlace
    const carOnly = dataOf<{ createPlace: PlaceResult }>(
      await createPlace({
        name: 'Car park',
        circle: { latitude: 1, longitude: 1, radiusM: 50 },
        trackerIds: [car.id],
      }),
    ).createPlace
    const seen = dataOf<{ places: { nodes: PlaceResult[] } }>(
      await api.gql('{ places(first: 100) { nodes { id trackerIds } } }', { token: limited }),
    ).places.nodes
    expect(seen.find((p) => p.id === shared.id)?.trackerIds).toEqual([bike.id])
    expect(seen.find((p) => p.id === carOnly.id)).toBeUndefined()
    // It may not change a place that is also another tracker's, nor one it cannot see (both FORBIDDEN).
    for (const id of [shared.id, carOnly.id, '00000000-0000-4000-8000-000000000000'])
      expect(
        errorOf(
          (
            await api.gql(`mutation { updatePlace(id: "${id}", input: { name: "Mine" }) { id } }`, {
              token: limited,
            })
          ).body,
        ).extensions.code,
      ).toBe('FORBIDDEN')
    // Nor name a place it cannot see in a rule: as if it did not exist.
    expect(
      errorOf(
        (await createRule({ name: 'x', kind: 'ENTER', placeId: carOnly.id, trackerIds: [bike.id] }, limited))
          .body,
      ).extensions,
    ).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'UNKNOWN_REFERENCE' })
  })
})

describe('the alert history', () => {
  const at = (iso: string) => new Date(iso)
  let ids: {
    rule: string
    place: string
    webhook: string
    ntfy: string
    left: string
    cancelled: string
    quiet: string
    carAlert: string
    delivered: string
    failed: string
  }

  beforeAll(async () => {
    const db = api.database.db
    const place = await db
      .insertInto('alert_places')
      .values({ name: 'Depot', shape: 'circle', center_latitude: 52, center_longitude: 13, radius_m: 200 })
      .returning('id')
      .executeTakeFirstOrThrow()
    const [webhook, ntfy] = await db
      .insertInto('alert_channels')
      .values([
        { name: 'Hook', kind: 'webhook', url: 'https://h.example.test/', secret: 'whsec_x' },
        { name: 'Phone', kind: 'ntfy', url: 'https://ntfy.example.test', topic: 't' },
      ])
      .returning('id')
      .execute()
    const rule = await db
      .insertInto('alert_rules')
      .values({
        name: 'Left the depot',
        kind: 'leave',
        place_id: place.id,
        channel_ids: [webhook!.id, ntfy!.id],
      })
      .returning('id')
      .executeTakeFirstOrThrow()
    const quietRule = await db
      .insertInto('alert_rules')
      .values({ name: 'Quiet', kind: 'not_seen', not_seen_seconds: 3600 })
      .returning('id')
      .executeTakeFirstOrThrow()
    const event = (values: Record<string, unknown>) =>
      db
        .insertInto('alert_events')
        .values({ rule_id: rule.id, tracker_id: bike.id, kind: 'leave', ...values } as never)
        .returning('id')
        .executeTakeFirstOrThrow()
    const left = await event({
      occurred_after: at('2026-03-01T08:00:00Z'),
      occurred_before: at('2026-03-01T08:20:00Z'),
      confirmed_at: at('2026-03-01T08:40:00Z'),
      detected_at: at('2026-03-01T11:20:30Z'),
      refined_at: at('2026-03-01T12:00:00Z'),
      latitude: 52.01,
      longitude: 13.01,
      detail: JSON.stringify({ distanceM: 412 }),
    })
    const cancelled = await event({
      occurred_after: at('2026-03-02T08:00:00Z'),
      occurred_before: at('2026-03-02T09:00:00Z'),
      confirmed_at: at('2026-03-02T09:30:00Z'),
      detected_at: at('2026-03-02T10:00:00Z'),
      cancelled_at: at('2026-03-02T15:00:00Z'),
      cancel_reason: 'a late report placed it inside the whole time',
    })
    const quiet = await db
      .insertInto('alert_events')
      .values({
        rule_id: quietRule.id,
        tracker_id: bike.id,
        kind: 'not_seen',
        occurred_after: at('2026-03-03T00:00:00Z'),
        occurred_before: at('2026-03-03T01:00:00Z'),
        confirmed_at: at('2026-03-03T01:00:00Z'),
        detected_at: at('2026-03-03T01:00:05Z'),
      })
      .returning('id')
      .executeTakeFirstOrThrow()
    const carAlert = await db
      .insertInto('alert_events')
      .values({
        rule_id: quietRule.id,
        tracker_id: car.id,
        kind: 'not_seen',
        occurred_before: at('2026-03-03T02:00:00Z'),
        confirmed_at: at('2026-03-03T02:00:00Z'),
        detected_at: at('2026-03-03T02:00:00Z'),
      })
      .returning('id')
      .executeTakeFirstOrThrow()
    const outbox = (values: Record<string, unknown>) =>
      db
        .insertInto('alert_outbox')
        .values({ payload: JSON.stringify({}), ...values } as never)
        .returning('id')
        .executeTakeFirstOrThrow()
    const delivered = await outbox({
      event_id: left.id,
      channel_id: webhook!.id,
      action: 'fired',
      status: 'delivered',
      attempts: 2,
      last_error: 'HTTP 503',
      delivered_at: at('2026-03-01T11:21:10Z'),
      created_at: at('2026-03-01T11:20:30Z'),
    })
    const failed = await outbox({
      event_id: left.id,
      channel_id: ntfy!.id,
      action: 'fired',
      status: 'failed',
      attempts: 8,
      last_error: 'connect ECONNREFUSED',
      created_at: at('2026-03-01T11:20:30Z'),
    })
    await outbox({
      event_id: cancelled.id,
      channel_id: webhook!.id,
      action: 'fired',
      status: 'delivered',
      attempts: 1,
    })
    await outbox({ event_id: cancelled.id, channel_id: webhook!.id, action: 'cancelled', status: 'pending' })
    await db
      .insertInto('alert_delivery_attempts')
      .values([
        {
          outbox_id: delivered.id,
          attempt: 1,
          attempted_at: at('2026-03-01T11:20:31Z'),
          duration_ms: 30,
          ok: false,
          status_code: 503,
          error: 'HTTP 503',
        },
        {
          outbox_id: delivered.id,
          attempt: 2,
          attempted_at: at('2026-03-01T11:21:10Z'),
          duration_ms: 25,
          ok: true,
          status_code: 204,
        },
        {
          outbox_id: failed.id,
          attempt: 8,
          attempted_at: at('2026-03-01T13:00:00Z'),
          duration_ms: 5,
          ok: false,
          error: 'connect ECONNREFUSED',
        },
      ])
      .execute()
    ids = {
      rule: rule.id,
      place: place.id,
      webhook: webhook!.id,
      ntfy: ntfy!.id,
      left: left.id,
      cancelled: cancelled.id,
      quiet: quiet.id,
      carAlert: carAlert.id,
      delivered: delivered.id,
      failed: failed.id,
    }
  })

  // `first` as a literal: as a variable the cost rule counts the largest page (attemptLog makes it too much).
  const historyQuery = (
    first = 10,
  ) => `query ($trackerId: ID, $from: DateTime, $to: DateTime, $includeCancelled: Boolean, $after: String) {
    alerts(trackerId: $trackerId, from: $from, to: $to, includeCancelled: $includeCancelled, first: ${first}, after: $after) {
      nodes {
        id kind rule { id name } tracker { id name } place { id name }
        occurredAfter occurredBefore confirmedAt detectedAt lateBySeconds location { latitude longitude } detail
        refined refinedAt cancelled cancelledAt cancelReason
        deliveries {
          id channelId channelName channelKind action status gaveUp attempts lastError lastAttemptAt lastStatusCode
          nextAttemptAt deliveredAt attemptLog { attempt ok statusCode error durationMs }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }`
  type AlertNode = {
    id: string
    [key: string]: unknown
    deliveries: { id: string; [key: string]: unknown }[]
  }
  const history = async (variables: Record<string, unknown>, token?: string, first?: number) =>
    dataOf<{ alerts: { nodes: AlertNode[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } }>(
      await api.gql(historyQuery(first), { variables, ...(token ? { token } : {}) }),
    ).alerts

  it('an alert says when it happened (an interval), how late it was learnt, and each delivery', async () => {
    const { nodes } = await history({ trackerId: bike.id })
    expect(nodes.map((n) => n.id)).toEqual([ids.quiet, ids.cancelled, ids.left])
    const left = nodes.find((n) => n.id === ids.left)!
    expect(left).toMatchObject({
      kind: 'LEAVE',
      rule: { id: ids.rule, name: 'Left the depot' },
      tracker: { id: bike.id, name: 'Bike' },
      place: { id: ids.place, name: 'Depot' },
      occurredAfter: '2026-03-01T08:00:00.000Z',
      occurredBefore: '2026-03-01T08:20:00.000Z',
      confirmedAt: '2026-03-01T08:40:00.000Z',
      detectedAt: '2026-03-01T11:20:30.000Z',
      lateBySeconds: 3 * 3600 + 30,
      location: { latitude: 52.01, longitude: 13.01 },
      refined: true,
      cancelled: false,
      cancelReason: null,
    })
    expect(JSON.parse(left.detail as string)).toEqual({ distanceM: 412 })
    expect(left.deliveries).toEqual([
      {
        id: ids.delivered,
        channelId: ids.webhook,
        channelName: 'Hook',
        channelKind: 'WEBHOOK',
        action: 'FIRED',
        status: 'DELIVERED',
        gaveUp: false,
        attempts: 2,
        lastError: 'HTTP 503',
        lastAttemptAt: '2026-03-01T11:21:10.000Z',
        lastStatusCode: 204,
        nextAttemptAt: null,
        deliveredAt: '2026-03-01T11:21:10.000Z',
        attemptLog: [
          { attempt: 1, ok: false, statusCode: 503, error: 'HTTP 503', durationMs: 30 },
          { attempt: 2, ok: true, statusCode: 204, error: null, durationMs: 25 },
        ],
      },
      {
        id: ids.failed,
        channelId: ids.ntfy,
        channelName: 'Phone',
        channelKind: 'NTFY',
        action: 'FIRED',
        status: 'FAILED',
        gaveUp: true,
        attempts: 8,
        lastError: 'connect ECONNREFUSED',
        lastAttemptAt: '2026-03-01T13:00:00.000Z',
        lastStatusCode: null,
        nextAttemptAt: null,
        deliveredAt: null,
        attemptLog: [
          { attempt: 8, ok: false, statusCode: null, error: 'connect ECONNREFUSED', durationMs: 5 },
        ],
      },
    ])
    const cancelled = nodes.find((n) => n.id === ids.cancelled)!
    expect(cancelled).toMatchObject({
      cancelled: true,
      cancelledAt: '2026-03-02T15:00:00.000Z',
      cancelReason: 'a late report placed it inside the whole time',
      refined: false,
    })
    expect(cancelled.deliveries.map((d) => [d.action, d.status, d.nextAttemptAt !== null])).toEqual([
      ['FIRED', 'DELIVERED', false],
      ['CANCELLED', 'PENDING', true],
    ])
    const quiet = nodes.find((n) => n.id === ids.quiet)!
    expect(quiet).toMatchObject({ kind: 'NOT_SEEN', place: null, lateBySeconds: 5, deliveries: [] })
  })

  it('pages newest first; from / to and includeCancelled filter', async () => {
    const first = await history({ trackerId: bike.id }, undefined, 1)
    expect(first.nodes.map((n) => n.id)).toEqual([ids.quiet])
    expect(first.pageInfo.hasNextPage).toBe(true)
    const rest = await history({ trackerId: bike.id, after: first.pageInfo.endCursor }, undefined, 5)
    expect(rest.nodes.map((n) => n.id)).toEqual([ids.cancelled, ids.left])
    expect(rest.pageInfo.hasNextPage).toBe(false)
    const march2 = await history({
      trackerId: bike.id,
      from: '2026-03-02T00:00:00Z',
      to: '2026-03-03T00:00:00Z',
    })
    expect(march2.nodes.map((n) => n.id)).toEqual([ids.cancelled])
    const live = await history({ trackerId: bike.id, includeCancelled: false })
    expect(live.nodes.map((n) => n.id)).toEqual([ids.quiet, ids.left])
    const all = await history({ from: '2026-03-01T00:00:00Z', to: '2026-03-04T00:00:00Z' })
    expect(all.nodes.map((n) => n.id)).toEqual([ids.carAlert, ids.quiet, ids.cancelled, ids.left])
    const backwards = await api.gql(historyQuery(), {
      variables: { from: '2026-03-04T00:00:00Z', to: '2026-03-01T00:00:00Z' },
    })
    expect(errorOf(backwards.body).extensions.code).toBe('BAD_USER_INPUT')
    const unknown = await api.gql(historyQuery(), {
      variables: { trackerId: '00000000-0000-4000-8000-000000000000' },
    })
    expect(errorOf(unknown.body).extensions.code).toBe('NOT_FOUND')
  })

  it("a token limited to trackers sees only its trackers' alerts; naming another tracker is FORBIDDEN", async () => {
    const { token } = await createApiToken(api.database.db, {
      name: 'bike only',
      scope: 'read',
      trackerIds: [bike.id],
    })
    const all = await history({ from: '2026-03-01T00:00:00Z', to: '2026-03-04T00:00:00Z' }, token)
    expect(all.nodes.map((n) => n.id)).toEqual([ids.quiet, ids.cancelled, ids.left])
    const other = await api.gql(historyQuery(), { variables: { trackerId: car.id }, token })
    expect(errorOf(other.body).extensions.code).toBe('FORBIDDEN')
    expect(other.raw).not.toContain(ids.carAlert)
  })

  it('counts in the query cost: a page of alerts with every delivery attempt can be too complex', async () => {
    const tooMuch = await api.gql(
      '{ alerts(first: 100) { nodes { id kind deliveries { id status attemptLog { attempt ok error } } } } }',
    )
    expect(tooMuch.status).toBe(400)
    expect(errorOf(tooMuch.body).extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX' })
    const fine = await api.gql(
      '{ alerts(first: 20) { nodes { id kind deliveries { id status attemptLog { attempt ok } } } } }',
    )
    expect(fine.body.errors).toBeUndefined()
  })
})
