import { type Database, findTrackersByIds, type Kysely } from '@tracker/db'
import { isUuid, unknownReferences } from './alert-input-error.ts'

/** Every id names a tracker; else BAD_USER_INPUT naming the unknown ones (a non-UUID among them). */
export async function checkTrackersExist(
  db: Kysely<Database>,
  ids: readonly string[] | null,
  field = 'trackerIds',
): Promise<void> {
  if (!ids || ids.length === 0) return
  const wellFormed = ids.filter(isUuid)
  const found = await findTrackersByIds(db, wellFormed)
  const existing = new Set(found.flatMap((tracker) => (tracker ? [tracker.id] : [])))
  const unknown = ids.filter((id) => !existing.has(id))
  if (unknown.length > 0) throw unknownReferences(field, 'tracker', unknown)
}
