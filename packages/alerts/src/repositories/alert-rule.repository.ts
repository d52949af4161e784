import {
  type AlertRule,
  afterKeyset,
  type Database,
  exactTime,
  forAnyOfTrackers,
  type KeysetPosition,
  type Kysely,
  sql,
} from '@tracker/db'
import type { ValidRule } from '../rules/rule.validation.ts'

/** alert_rules: what to watch, for which trackers, and where to send it. */

export type AlertRulePageRow = AlertRule & { cursor_time: string }

export interface RulePageQuery {
  /** A token limited to trackers: only rules for every tracker or for one of these. */
  visibleTo: readonly string[] | null
  /** Only rules of this place. */
  placeId?: string
  after?: KeysetPosition
  limit: number
}

/** The rule's row as a validated rule, for patching. */
export function ruleOfRow(row: AlertRule): ValidRule {
  return {
    name: row.name,
    kind: row.kind,
    placeId: row.place_id,
    hysteresisM: row.hysteresis_m,
    confirmations: row.confirmations,
    notSeenSeconds: row.not_seen_seconds,
    batteryAtOrBelow: row.battery_at_or_below,
    trackerIds: row.tracker_ids,
    channelIds: row.channel_ids,
    enabled: row.enabled,
    muted: row.muted,
  }
}

function columnsOf(rule: ValidRule) {
  return {
    name: rule.name,
    kind: rule.kind,
    place_id: rule.placeId,
    hysteresis_m: rule.hysteresisM,
    confirmations: rule.confirmations,
    not_seen_seconds: rule.notSeenSeconds,
    battery_at_or_below: rule.batteryAtOrBelow,
    tracker_ids: rule.trackerIds,
    channel_ids: rule.channelIds,
    enabled: rule.enabled,
    muted: rule.muted,
  }
}

export async function insertRule(db: Kysely<Database>, rule: ValidRule): Promise<AlertRule> {
  return db.insertInto('alert_rules').values(columnsOf(rule)).returningAll().executeTakeFirstOrThrow()
}

/** The changed rule; undefined when it does not exist. Kind and place stay as they are. */
export async function updateRule(
  db: Kysely<Database>,
  id: string,
  rule: ValidRule,
): Promise<AlertRule | undefined> {
  const { kind: _kind, place_id: _place, ...changeable } = columnsOf(rule)
  return db
    .updateTable('alert_rules')
    .set({ ...changeable, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst()
}

/** True when it existed. Its alerts (and their deliveries) go with it. */
export async function deleteRule(db: Kysely<Database>, id: string): Promise<boolean> {
  const deleted = await db.deleteFrom('alert_rules').where('id', '=', id).executeTakeFirst()
  return deleted.numDeletedRows > 0n
}

export async function findRule(db: Kysely<Database>, id: string): Promise<AlertRule | undefined> {
  return db.selectFrom('alert_rules').selectAll().where('id', '=', id).executeTakeFirst()
}

/** One query for many ids; results in input order, undefined where an id does not exist (loaders). */
export async function findRulesByIds(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<(AlertRule | undefined)[]> {
  if (ids.length === 0) return []
  const rows = await db
    .selectFrom('alert_rules')
    .selectAll()
    .where('id', 'in', [...new Set(ids)])
    .execute()
  const byId = new Map(rows.map((row) => [row.id, row]))
  return ids.map((id) => byId.get(id))
}

/** The rules that watch a place (deleting the place deletes them). */
export async function rulesWatchingPlace(
  db: Kysely<Database>,
  placeId: string,
): Promise<Pick<AlertRule, 'id' | 'name'>[]> {
  return db
    .selectFrom('alert_rules')
    .select(['id', 'name'])
    .where('place_id', '=', placeId)
    .orderBy('created_at')
    .execute()
}

/** A deleted channel leaves every rule that named it (the outbox could not send to it anyway). */
export async function removeChannelFromRules(db: Kysely<Database>, channelId: string): Promise<void> {
  await db
    .updateTable('alert_rules')
    .set({
      channel_ids: sql<string[]>`array_remove(channel_ids, ${channelId}::uuid)`,
      updated_at: sql<Date>`now()`,
    })
    .where(sql<boolean>`${channelId}::uuid = ANY(channel_ids)`)
    .execute()
}

/** Rules oldest first, by (created_at, id). */
export async function selectRulePage(db: Kysely<Database>, q: RulePageQuery): Promise<AlertRulePageRow[]> {
  let query = db
    .selectFrom('alert_rules')
    .selectAll()
    .select(exactTime('created_at').as('cursor_time'))
    .orderBy('created_at')
    .orderBy('id')
    .limit(q.limit)
  if (q.visibleTo) query = query.where(forAnyOfTrackers(q.visibleTo))
  if (q.placeId) query = query.where('place_id', '=', q.placeId)
  if (q.after) query = query.where(afterKeyset(q.after))
  return query.execute()
}
