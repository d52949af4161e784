import {
  type AlertChannel,
  afterKeyset,
  type Database,
  exactTime,
  type KeysetPosition,
  type Kysely,
  sql,
} from '@tracker/db'
import type { ValidChannel } from '../channels/channel.validation.ts'
import { removeChannelFromRules } from './alert-rule.repository.ts'

/**
 * alert_channels: where alerts go. Reads here never select the secret: the deliverer reads it
 * where it signs (its own query), nothing else ever needs it back.
 */

export type AlertChannelView = Omit<AlertChannel, 'secret'> & { has_secret: boolean }
export type AlertChannelPageRow = AlertChannelView & { cursor_time: string }

const VIEW_COLUMNS = ['id', 'name', 'kind', 'url', 'topic', 'created_at', 'updated_at'] as const
const hasSecret = sql<boolean>`secret IS NOT NULL`.as('has_secret')

export async function insertChannel(db: Kysely<Database>, channel: ValidChannel): Promise<AlertChannelView> {
  return db
    .insertInto('alert_channels')
    .values(channel)
    .returning([...VIEW_COLUMNS, hasSecret])
    .executeTakeFirstOrThrow()
}

/**
 * True when it existed. In one transaction, the rules that named it stop naming it, and its
 * deliveries (pending ones included) go with it.
 */
export async function deleteChannel(db: Kysely<Database>, id: string): Promise<boolean> {
  const remove = async (trx: Kysely<Database>) => {
    await removeChannelFromRules(trx, id)
    const deleted = await trx.deleteFrom('alert_channels').where('id', '=', id).executeTakeFirst()
    return deleted.numDeletedRows > 0n
  }
  return db.isTransaction ? remove(db) : db.transaction().execute(remove)
}

/** One query for many ids; results in input order, undefined where an id does not exist. */
export async function findChannelsByIds(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<(AlertChannelView | undefined)[]> {
  if (ids.length === 0) return []
  const rows = await db
    .selectFrom('alert_channels')
    .select([...VIEW_COLUMNS, hasSecret])
    .where('id', 'in', [...new Set(ids)])
    .execute()
  const byId = new Map(rows.map((row) => [row.id, row]))
  return ids.map((id) => byId.get(id))
}

/** Channels oldest first, by (created_at, id). */
export async function selectChannelPage(
  db: Kysely<Database>,
  q: { after?: KeysetPosition; limit: number },
): Promise<AlertChannelPageRow[]> {
  let query = db
    .selectFrom('alert_channels')
    .select([...VIEW_COLUMNS, hasSecret])
    .select(exactTime('created_at').as('cursor_time'))
    .orderBy('created_at')
    .orderBy('id')
    .limit(q.limit)
  if (q.after) query = query.where(afterKeyset(q.after))
  return query.execute()
}
