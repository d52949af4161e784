import { type Database, type Kysely, type NewAlertRule, sql } from '@tracker/db'
import { reportRow } from '@tracker/db/testing'
import { statusWithBattery } from '@tracker/findmy'
import { queueEvaluation, spansOf } from '../../src/index.ts'

/** Home: a 100 m circle; positions at a bearing due north of its centre, `metres` from it. */
export const HOME = { latitude: 52.52, longitude: 13.405, radiusM: 100 }
export const northOfHome = (metres: number) => ({
  latitude: HOME.latitude + metres / 111_195,
  longitude: HOME.longitude,
})
export const INSIDE = northOfHome(20)
export const OUTSIDE = northOfHome(1_000)

export async function insertHome(db: Kysely<Database>, name = 'Home'): Promise<string> {
  const place = await db
    .insertInto('alert_places')
    .values({
      name,
      shape: 'circle',
      center_latitude: HOME.latitude,
      center_longitude: HOME.longitude,
      radius_m: HOME.radiusM,
    })
    .returning('id')
    .executeTakeFirstOrThrow()
  return place.id
}

export async function insertChannel(db: Kysely<Database>): Promise<string> {
  const channel = await db
    .insertInto('alert_channels')
    .values({ name: 'hook', kind: 'webhook', url: 'http://127.0.0.1:9/hook', secret: 'whsec_dGVzdA==' })
    .returning('id')
    .executeTakeFirstOrThrow()
  return channel.id
}

/** A rule created long before the test's reports, so that every transition counts. */
export async function insertRule(db: Kysely<Database>, rule: Omit<NewAlertRule, 'name'> & { name?: string }) {
  const created = await db
    .insertInto('alert_rules')
    .values({ name: `${rule.kind} rule`, created_at: new Date('2020-01-01T00:00:00Z'), ...rule })
    .returning('id')
    .executeTakeFirstOrThrow()
  return created.id
}

export interface TestReport {
  minute: number
  latitude: number
  longitude: number
  battery?: 'ok' | 'medium' | 'low' | 'critical'
}

export const BASE = Date.UTC(2026, 11, 1, 8, 0)
export const minute = (m: number) => new Date(BASE + m * 60_000)
export const at = (
  m: number,
  position: { latitude: number; longitude: number },
  battery?: TestReport['battery'],
) => ({
  minute: m,
  ...position,
  ...(battery ? { battery } : {}),
})

/** What the importer does: inserts reports and queues their span for the evaluator, in one transaction. */
export async function importReports(
  db: Kysely<Database>,
  tracker: { id: string; hashedAdvKeys: string[] },
  reports: readonly TestReport[],
): Promise<void> {
  const key = tracker.hashedAdvKeys[0]!
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('location_reports')
      .values(
        reports.map((r) =>
          reportRow(key, minute(r.minute), {
            tracker_id: tracker.id,
            latitude: r.latitude,
            longitude: r.longitude,
            status: r.battery ? statusWithBattery(r.battery) : 0,
          }),
        ),
      )
      .onConflict((oc) => oc.doNothing())
      .execute()
    await queueEvaluation(
      trx,
      spansOf(reports.map((r) => ({ trackerId: tracker.id, timestamp: minute(r.minute) }))),
    )
  })
}

/** A tracker's events, oldest first, as minutes since BASE (null: none known). */
export async function eventsOf(db: Kysely<Database>, trackerId: string) {
  const rows = await db
    .selectFrom('alert_events')
    .selectAll()
    .where('tracker_id', '=', trackerId)
    .orderBy('occurred_before')
    .orderBy('detected_at')
    .execute()
  const m = (d: Date | null) => (d === null ? null : (d.getTime() - BASE) / 60_000)
  return rows.map((e) => ({
    id: e.id,
    kind: e.kind,
    after: m(e.occurred_after),
    before: m(e.occurred_before),
    cancelled: e.cancelled_at !== null,
    refined: e.refined_at !== null,
    reason: e.cancel_reason,
  }))
}

export const live = (events: Awaited<ReturnType<typeof eventsOf>>) =>
  events.filter((e) => !e.cancelled).map(({ kind, after, before }) => ({ kind, after, before }))

export async function outboxOf(db: Kysely<Database>, trackerId: string) {
  const { rows } = await sql<{ action: string; kind: string; before: Date }>`
    SELECT o.action, e.kind, e.occurred_before AS before
      FROM alert_outbox o JOIN alert_events e ON e.id = o.event_id
     WHERE e.tracker_id = ${trackerId}
     ORDER BY o.created_at, o.action DESC`.execute(db)
  return rows.map((r) => `${r.action} ${r.kind}@${(r.before.getTime() - BASE) / 60_000}`)
}

/** A day out and back: home, out for the morning, home, out again, with a stray report at home. */
export const DAY: TestReport[] = [
  at(0, INSIDE),
  at(30, INSIDE),
  at(60, OUTSIDE),
  at(90, OUTSIDE),
  at(120, OUTSIDE),
  at(150, INSIDE),
  at(180, INSIDE),
  at(200, OUTSIDE), // a stray report: not confirmed
  at(210, INSIDE),
  at(300, OUTSIDE),
  at(330, OUTSIDE),
]
export const DAY_EVENTS = [
  { kind: 'leave', after: 30, before: 60 },
  { kind: 'enter', after: 120, before: 150 },
  { kind: 'leave', after: 210, before: 300 },
]
