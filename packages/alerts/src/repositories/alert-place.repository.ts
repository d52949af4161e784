import {
  type AlertPlace,
  afterKeyset,
  type Database,
  exactTime,
  forAnyOfTrackers,
  type KeysetPosition,
  type Kysely,
  sql,
} from '@tracker/db'
import type { ValidPlace } from '../places/place.validation.ts'

/** alert_places: named circles and polygons. */

export type AlertPlacePageRow = AlertPlace & { cursor_time: string }

export interface PlacePageQuery {
  /** A token limited to trackers: only places for every tracker or for one of these. */
  visibleTo: readonly string[] | null
  after?: KeysetPosition
  limit: number
}

/** The place's row as a validated place, for patching. */
export function placeOfRow(row: AlertPlace): ValidPlace {
  return {
    name: row.name,
    shape: row.shape,
    circle:
      row.shape === 'circle'
        ? { latitude: row.center_latitude!, longitude: row.center_longitude!, radiusM: row.radius_m! }
        : null,
    polygon: row.polygon,
    trackerIds: row.tracker_ids,
  }
}

function columnsOf(place: ValidPlace) {
  return {
    name: place.name,
    shape: place.shape,
    center_latitude: place.circle?.latitude ?? null,
    center_longitude: place.circle?.longitude ?? null,
    radius_m: place.circle?.radiusM ?? null,
    polygon: place.polygon ? JSON.stringify(place.polygon) : null,
    tracker_ids: place.trackerIds,
  }
}

export async function insertPlace(db: Kysely<Database>, place: ValidPlace): Promise<AlertPlace> {
  return db.insertInto('alert_places').values(columnsOf(place)).returningAll().executeTakeFirstOrThrow()
}

/** The changed place; undefined when it does not exist. */
export async function updatePlace(
  db: Kysely<Database>,
  id: string,
  place: ValidPlace,
): Promise<AlertPlace | undefined> {
  return db
    .updateTable('alert_places')
    .set({ ...columnsOf(place), updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst()
}

/** True when it existed. Its rules go with it (and their alerts): see rulesWatchingPlace. */
export async function deletePlace(db: Kysely<Database>, id: string): Promise<boolean> {
  const deleted = await db.deleteFrom('alert_places').where('id', '=', id).executeTakeFirst()
  return deleted.numDeletedRows > 0n
}

/** `forUpdate` (in a transaction): no rule can be created for it until the transaction ends. */
export async function findPlace(
  db: Kysely<Database>,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<AlertPlace | undefined> {
  const query = db.selectFrom('alert_places').selectAll().where('id', '=', id)
  return (options.forUpdate ? query.forUpdate() : query).executeTakeFirst()
}

/** One query for many ids; results in input order, undefined where an id does not exist (loaders). */
export async function findPlacesByIds(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<(AlertPlace | undefined)[]> {
  if (ids.length === 0) return []
  const rows = await db
    .selectFrom('alert_places')
    .selectAll()
    .where('id', 'in', [...new Set(ids)])
    .execute()
  const byId = new Map(rows.map((row) => [row.id, row]))
  return ids.map((id) => byId.get(id))
}

/** Places oldest first, by (created_at, id). */
export async function selectPlacePage(db: Kysely<Database>, q: PlacePageQuery): Promise<AlertPlacePageRow[]> {
  let query = db
    .selectFrom('alert_places')
    .selectAll()
    .select(exactTime('created_at').as('cursor_time'))
    .orderBy('created_at')
    .orderBy('id')
    .limit(q.limit)
  if (q.visibleTo) query = query.where(forAnyOfTrackers(q.visibleTo))
  if (q.after) query = query.where(afterKeyset(q.after))
  return query.execute()
}
