import type { Kysely } from 'kysely'
import type { Database } from '../schema/database.ts'
import type { BatteryLevel, Tracker } from '../schema/tracker.table.ts'
import { NotFoundError } from './errors.ts'
import type { SealingKey } from './key-sealing-check.repository.ts'
import { insertTrackerKeys, type PlainTrackerKey } from './tracker-key.repository.ts'

export async function createTrackerWithKeys(
  db: Kysely<Database>,
  sealing: SealingKey,
  input: { name: string; keys: PlainTrackerKey[] },
): Promise<Tracker> {
  const create = async (tx: Kysely<Database>) => {
    const tracker = await tx
      .insertInto('trackers')
      .values({ name: input.name.trim() })
      .returningAll()
      .executeTakeFirstOrThrow()
    await insertTrackerKeys(tx, sealing, tracker.id, input.keys)
    return tracker
  }
  // Joins the caller's transaction when given one (e.g. importing a file of several trackers).
  return db.isTransaction ? create(db) : db.transaction().execute(create)
}

export async function findTracker(db: Kysely<Database>, id: string): Promise<Tracker | undefined> {
  return db.selectFrom('trackers').selectAll().where('id', '=', id).executeTakeFirst()
}

export async function getTracker(db: Kysely<Database>, id: string): Promise<Tracker> {
  const tracker = await findTracker(db, id)
  if (!tracker) throw new NotFoundError('tracker', id)
  return tracker
}

/** One query for many ids; results in input order, undefined where an id does not exist (loaders). */
export async function findTrackersByIds(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<(Tracker | undefined)[]> {
  if (ids.length === 0) return []
  const rows = await db
    .selectFrom('trackers')
    .selectAll()
    .where('id', 'in', [...new Set(ids)])
    .execute()
  const byId = new Map(rows.map((row) => [row.id, row]))
  return ids.map((id) => byId.get(id))
}

export async function listAllTrackers(db: Kysely<Database>): Promise<Tracker[]> {
  // Trackers created in one transaction share created_at (now()): the name keeps their order stable.
  return db.selectFrom('trackers').selectAll().orderBy('created_at').orderBy('name').orderBy('id').execute()
}

export async function renameTracker(db: Kysely<Database>, id: string, name: string): Promise<Tracker> {
  const tracker = await db
    .updateTable('trackers')
    .set({ name: name.trim(), updated_at: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst()
  if (!tracker) throw new NotFoundError('tracker', id)
  return tracker
}

/** Stops imports for the tracker; its history stays. Idempotent. */
export async function deactivateTracker(db: Kysely<Database>, id: string): Promise<Tracker> {
  const tracker = await db
    .updateTable('trackers')
    .set((eb) => ({
      is_active: false,
      deactivated_at: eb.fn.coalesce('deactivated_at', eb.val(new Date())),
      updated_at: new Date(),
    }))
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst()
  if (!tracker) throw new NotFoundError('tracker', id)
  return tracker
}

/** Imports the tracker again from the next run on; undoes deactivateTracker. Idempotent. */
export async function reactivateTracker(db: Kysely<Database>, id: string): Promise<Tracker> {
  const tracker = await db
    .updateTable('trackers')
    .set({ is_active: true, deactivated_at: null, updated_at: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst()
  if (!tracker) throw new NotFoundError('tracker', id)
  return tracker
}

export interface TrackerSighting {
  trackerId: string
  seenAt: Date
  latitude: number
  longitude: number
  nearestCity: string | null
  batteryLevel: BatteryLevel | null
}

/**
 * Moves a tracker's last-seen state forward; a sighting older than what is stored changes nothing, so
 * importing late reports never makes a tracker look as if it went back in time.
 */
export async function recordTrackerSighting(db: Kysely<Database>, sighting: TrackerSighting): Promise<void> {
  await db
    .updateTable('trackers')
    .set((eb) => ({
      last_seen_at: sighting.seenAt,
      last_latitude: sighting.latitude,
      last_longitude: sighting.longitude,
      last_nearest_city: sighting.nearestCity,
      battery_level: eb.fn.coalesce(eb.val(sighting.batteryLevel), 'battery_level'),
      updated_at: new Date(),
    }))
    .where('id', '=', sighting.trackerId)
    .where((eb) => eb.or([eb('last_seen_at', 'is', null), eb('last_seen_at', '<', sighting.seenAt)]))
    .execute()
}
