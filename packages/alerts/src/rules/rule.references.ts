import type { Database, Kysely } from '@tracker/db'
import { findChannelsByIds } from '../repositories/alert-channel.repository.ts'
import { findPlace } from '../repositories/alert-place.repository.ts'
import { AlertInputError, isUuid, unknownReferences } from '../validation/alert-input-error.ts'
import { checkTrackersExist } from '../validation/tracker-references.ts'
import type { ValidRule } from './rule.validation.ts'

/**
 * What a rule names exists: its place, its channels, its trackers. `placesVisibleTo` (a token limited
 * to trackers): a place for none of these trackers is reported unknown, as if it did not exist. A
 * rule whose trackers and whose place's trackers have none in common could never fire: refused.
 */
export async function checkRuleReferences(
  db: Kysely<Database>,
  rule: ValidRule,
  options: { placesVisibleTo: readonly string[] | null } = { placesVisibleTo: null },
): Promise<void> {
  if (rule.placeId !== null) {
    const place = isUuid(rule.placeId) ? await findPlace(db, rule.placeId) : undefined
    const visible =
      place !== undefined &&
      (options.placesVisibleTo === null ||
        place.tracker_ids === null ||
        place.tracker_ids.some((id) => options.placesVisibleTo!.includes(id)))
    if (!visible) throw unknownReferences('placeId', 'place', [rule.placeId])
    if (
      rule.trackerIds &&
      place.tracker_ids &&
      !rule.trackerIds.some((id) => place.tracker_ids!.includes(id))
    ) {
      throw new AlertInputError(
        'trackerIds',
        'NO_COMMON_TRACKER',
        `none of the rule's trackers is one of place "${place.name}"'s trackers: the rule could never fire`,
      )
    }
  }
  if (rule.channelIds.length > 0) {
    const found = await findChannelsByIds(db, rule.channelIds.filter(isUuid))
    const existing = new Set(found.flatMap((channel) => (channel ? [channel.id] : [])))
    const unknown = rule.channelIds.filter((id) => !existing.has(id))
    if (unknown.length > 0) throw unknownReferences('channelIds', 'channel', unknown)
  }
  await checkTrackersExist(db, rule.trackerIds)
}
