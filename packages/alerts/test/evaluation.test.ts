import { sql } from '@tracker/db'
import { createTestDatabase, insertTracker, type TestDatabase } from '@tracker/db/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { evaluateNotSeen, evaluatePending } from '../src/index.ts'
import {
  at,
  DAY,
  DAY_EVENTS,
  eventsOf,
  INSIDE,
  importReports,
  insertChannel,
  insertHome,
  insertRule,
  live,
  minute,
  northOfHome,
  OUTSIDE,
  outboxOf,
  type TestReport,
} from './helpers/alert-fixtures.ts'

let database: TestDatabase
let channelId: string
let homeId: string
beforeAll(async () => {
  database = await createTestDatabase()
  channelId = await insertChannel(database.db)
  homeId = await insertHome(database.db)
})
afterAll(() => database?.close())

/** A tracker with its own enter and leave rules on Home (two reports in a row confirm a change). */
async function trackerWithHomeRules(options: { muted?: boolean; hysteresisM?: number } = {}) {
  const tracker = await insertTracker(database.db)
  for (const kind of ['enter', 'leave'] as const)
    await insertRule(database.db, {
      kind,
      place_id: homeId,
      tracker_ids: [tracker.id],
      channel_ids: [channelId],
      confirmations: 2,
      muted: options.muted ?? false,
      hysteresis_m: options.hysteresisM ?? 50,
    })
  return tracker
}

async function deliver(tracker: Awaited<ReturnType<typeof insertTracker>>, reports: TestReport[]) {
  await importReports(database.db, tracker, reports)
  await evaluatePending(database.db)
}

/** A deterministic shuffle (a fixed LCG), so a failure reproduces. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items]
  let state = seed
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    const j = state % (i + 1)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

describe('evaluation in report time', () => {
  it('decides arrivals and departures from reports in time order, ignoring a stray report', async () => {
    const tracker = await trackerWithHomeRules()
    for (const report of DAY) await deliver(tracker, [report])
    expect(live(await eventsOf(database.db, tracker.id))).toEqual(DAY_EVENTS)
    expect(await outboxOf(database.db, tracker.id)).toEqual([
      'fired leave@60',
      'fired enter@150',
      'fired leave@300',
    ])
  })

  it('gives the same events whatever order the reports arrive in', async () => {
    for (const seed of [1, 7, 42]) {
      const tracker = await trackerWithHomeRules()
      const order = shuffled(DAY, seed)
      // Arrival in batches of one to three, each evaluated before the next arrives.
      for (let i = 0; i < order.length; ) {
        const size = 1 + ((i + seed) % 3)
        await deliver(tracker, order.slice(i, i + size))
        i += size
      }
      expect(live(await eventsOf(database.db, tracker.id)), `seed ${seed}`).toEqual(DAY_EVENTS)
    }
  })

  it('cancels a departure that a late report shows did not happen, and says so to where it was sent', async () => {
    const tracker = await trackerWithHomeRules()
    await deliver(tracker, [at(0, INSIDE), at(30, INSIDE), at(60, OUTSIDE), at(90, OUTSIDE)])
    expect(live(await eventsOf(database.db, tracker.id))).toEqual([{ kind: 'leave', after: 30, before: 60 }])
    // Learnt late: at 75 it was home, so 60 was a stray report and 90 alone confirms nothing yet.
    await deliver(tracker, [at(75, INSIDE)])
    const events = await eventsOf(database.db, tracker.id)
    expect(events).toMatchObject([{ kind: 'leave', before: 60, cancelled: true }])
    expect(events[0]!.reason).toMatch(/did not happen/)
    expect(await outboxOf(database.db, tracker.id)).toEqual(['fired leave@60', 'cancelled leave@60'])
  })

  it('creates a transition missed between two known reports, telling how late it was learnt', async () => {
    const tracker = await trackerWithHomeRules()
    await deliver(tracker, [at(0, INSIDE), at(240, INSIDE), at(250, INSIDE)])
    expect(await eventsOf(database.db, tracker.id)).toEqual([])
    await deliver(tracker, [at(60, OUTSIDE), at(90, OUTSIDE), at(120, OUTSIDE)])
    expect(live(await eventsOf(database.db, tracker.id))).toEqual([
      { kind: 'leave', after: 0, before: 60 },
      { kind: 'enter', after: 120, before: 240 },
    ])
    const { rows } = await sql<{ late: number }>`
      SELECT extract(epoch FROM detected_at - occurred_before)::float8 AS late FROM alert_events
       WHERE tracker_id = ${tracker.id} ORDER BY occurred_before`.execute(database.db)
    // The reports are from 2026-12-01: learnt long after they happened.
    expect(rows[0]!.late).toBeGreaterThan(60)
  })

  it('narrows a known departure when a late report moves it, without sending it again', async () => {
    const tracker = await trackerWithHomeRules()
    await deliver(tracker, [at(0, INSIDE), at(60, OUTSIDE), at(90, OUTSIDE)])
    await deliver(tracker, [at(45, INSIDE)])
    const events = await eventsOf(database.db, tracker.id)
    expect(events).toMatchObject([{ kind: 'leave', after: 45, before: 60, cancelled: false, refined: true }])
    expect(await outboxOf(database.db, tracker.id)).toEqual(['fired leave@60'])
  })

  it('does not flap on a boundary: reports scattering just past the radius stay within the margin', async () => {
    const tracker = await trackerWithHomeRules({ hysteresisM: 50 })
    const edge = northOfHome(130) // 30 m outside the 100 m radius, inside the 50 m margin
    await deliver(tracker, [
      at(0, INSIDE),
      at(10, edge),
      at(20, INSIDE),
      at(30, edge),
      at(40, edge),
      at(50, edge),
    ])
    expect(await eventsOf(database.db, tracker.id)).toEqual([])
  })

  it("records a muted rule's events without queuing deliveries", async () => {
    const tracker = await trackerWithHomeRules({ muted: true })
    await deliver(tracker, [at(0, INSIDE), at(30, OUTSIDE), at(60, OUTSIDE)])
    expect(live(await eventsOf(database.db, tracker.id))).toEqual([{ kind: 'leave', after: 0, before: 30 }])
    expect(await outboxOf(database.db, tracker.id)).toEqual([])
  })

  it("empties its queue, and leaves a tracker's whole when its evaluation fails, without holding up the others", async () => {
    const tracker = await trackerWithHomeRules()
    await importReports(database.db, tracker, [at(0, INSIDE), at(30, OUTSIDE), at(60, OUTSIDE)])
    const queued = () =>
      database.db.selectFrom('alert_pending').select('id').where('tracker_id', '=', tracker.id).execute()
    expect(await queued()).toHaveLength(1)
    // A rule whose place is corrupt makes the evaluation throw: nothing of it is kept.
    const broken = await database.db
      .insertInto('alert_places')
      .values({
        name: 'broken',
        shape: 'polygon',
        polygon: JSON.stringify([[[0, 0]]]),
        tracker_ids: [tracker.id],
      })
      .returning('id')
      .executeTakeFirstOrThrow()
    await insertRule(database.db, { kind: 'enter', place_id: broken.id, tracker_ids: [tracker.id] })
    // Another tracker queued behind it is not held up.
    const other = await trackerWithHomeRules()
    await importReports(database.db, other, [at(0, INSIDE), at(30, OUTSIDE), at(60, OUTSIDE)])
    await expect(evaluatePending(database.db)).rejects.toThrow(new RegExp(tracker.id))
    expect(await queued()).toHaveLength(1)
    expect(await eventsOf(database.db, tracker.id)).toEqual([])
    expect(live(await eventsOf(database.db, other.id))).toEqual([{ kind: 'leave', after: 0, before: 30 }])
    await database.db.deleteFrom('alert_places').where('id', '=', broken.id).execute()
    await evaluatePending(database.db)
    expect(await queued()).toHaveLength(0)
    expect(live(await eventsOf(database.db, tracker.id))).toEqual([{ kind: 'leave', after: 0, before: 30 }])
  })
})

describe('two evaluators at once', () => {
  it('record one event per transition: the tracker lock orders them and the database refuses a second live event', async () => {
    const trackers = await Promise.all(Array.from({ length: 6 }, () => trackerWithHomeRules()))
    for (const tracker of trackers) await importReports(database.db, tracker, DAY)
    // A second handle on the same database, as a second importer replica would have.
    await Promise.all([evaluatePending(database.db), evaluatePending(database.db)])
    for (const tracker of trackers) {
      const events = await eventsOf(database.db, tracker.id)
      expect(live(events)).toEqual(DAY_EVENTS)
      expect(events.filter((e) => e.cancelled)).toEqual([])
      expect(await outboxOf(database.db, tracker.id)).toHaveLength(3)
    }
    const [first] = await eventsOf(database.db, trackers[0]!.id)
    const copy = sql`
      INSERT INTO alert_events (rule_id, tracker_id, kind, occurred_after, occurred_before, confirmed_at)
      SELECT rule_id, tracker_id, kind, occurred_after, occurred_before, confirmed_at FROM alert_events WHERE id = ${first!.id}`
    await expect(copy.execute(database.db)).rejects.toThrow(/alert_events_one_live_per_transition/)
  })
})

describe('episodes', () => {
  it('fires not-seen once per quiet spell, re-arms when the tracker is seen, and cancels when a late report fills the spell', async () => {
    const tracker = await insertTracker(database.db)
    await insertRule(database.db, {
      kind: 'not_seen',
      not_seen_seconds: 3600,
      tracker_ids: [tracker.id],
      channel_ids: [channelId],
    })
    const seen = async (m: number) => {
      await deliver(tracker, [at(m, INSIDE)])
      await database.db
        .updateTable('trackers')
        .set({ last_seen_at: minute(m) })
        .where('id', '=', tracker.id)
        .execute()
    }
    await seen(0)
    await evaluateNotSeen(database.db, minute(30))
    expect(await eventsOf(database.db, tracker.id)).toEqual([])
    await evaluateNotSeen(database.db, minute(61))
    await evaluateNotSeen(database.db, minute(90))
    expect(live(await eventsOf(database.db, tracker.id))).toEqual([
      { kind: 'not_seen', after: 0, before: 60 },
    ])
    // Seen again at 120: a new spell, which fires an hour later, once.
    await seen(120)
    await evaluateNotSeen(database.db, minute(200))
    await evaluateNotSeen(database.db, minute(210))
    expect(live(await eventsOf(database.db, tracker.id))).toEqual([
      { kind: 'not_seen', after: 0, before: 60 },
      { kind: 'not_seen', after: 120, before: 180 },
    ])
    // A report from 150 arrives late: it was seen within the hour after 120.
    await deliver(tracker, [at(150, INSIDE)])
    const events = await eventsOf(database.db, tracker.id)
    expect(events[1]).toMatchObject({ before: 180, cancelled: true })
    expect(events[1]!.reason).toMatch(/seen at .* within the rule's duration/)
    expect(await outboxOf(database.db, tracker.id)).toEqual([
      'fired not_seen@60',
      'fired not_seen@180',
      'cancelled not_seen@180',
    ])
  })

  it('fires a low battery once per episode and re-arms when the battery reads above the level', async () => {
    const tracker = await insertTracker(database.db)
    await insertRule(database.db, {
      kind: 'battery',
      battery_at_or_below: 'low',
      tracker_ids: [tracker.id],
      channel_ids: [channelId],
    })
    await deliver(tracker, [at(0, INSIDE, 'medium'), at(10, INSIDE, 'low'), at(20, INSIDE, 'critical')])
    await deliver(tracker, [at(30, INSIDE), at(40, INSIDE, 'low')])
    expect(live(await eventsOf(database.db, tracker.id))).toEqual([{ kind: 'battery', after: 0, before: 10 }])
    await deliver(tracker, [at(50, INSIDE, 'ok'), at(60, INSIDE, 'low')])
    expect(live(await eventsOf(database.db, tracker.id))).toEqual([
      { kind: 'battery', after: 0, before: 10 },
      { kind: 'battery', after: 50, before: 60 },
    ])
  })
})
