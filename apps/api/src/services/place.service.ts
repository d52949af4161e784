import {
  applyPlacePatch,
  checkTrackersExist,
  deletePlace,
  findPlace,
  findPlacesByIds,
  insertPlace,
  isUuid,
  type PlacePatch,
  placeOfRow,
  rulesWatchingPlace,
  selectPlacePage,
  updatePlace,
  validatePlace,
} from '@tracker/alerts'
import type { AlertPlace, Database } from '@tracker/db'
import type { Kysely } from 'kysely'
import { BadUserInputError, ForbiddenError, NotFoundApiError } from '../errors.ts'
import type { Page, PlaceModel } from '../graphql/models.ts'
import type { CreatePlaceInput, UpdatePlaceInput } from '../graphql/schema.generated.ts'
import { toPlaceModel } from '../mappers/alert.mapper.ts'
import {
  alertInput,
  type PageArgs,
  type Pagination,
  pageArgs,
  pageOf,
  refusedForLimitedToken,
  withinTrackers,
} from './alert-input.ts'
import { requireId } from './input.ts'

/** `visible` everywhere: the trackers the token may see, null for every tracker (access.ts). */
export function createPlaceService(db: Kysely<Database>, options: { pagination: Pagination }) {
  /**
   * The place a token may change. A limited token may change only places limited to its trackers,
   * and any other id (existing or not) is FORBIDDEN, so it learns nothing about other places.
   */
  const changeable = async (
    q: Kysely<Database>,
    id: string,
    visible: readonly string[] | null,
    what: string,
    lock = false,
  ): Promise<AlertPlace> => {
    const forbidden = () =>
      new ForbiddenError(
        `${what}: a token limited to trackers may change only places limited to its trackers`,
      )
    if (visible && !isUuid(id)) throw forbidden()
    const row = await findPlace(q, requireId('place', id), { forUpdate: lock })
    if (visible && (!row || !withinTrackers(visible, row.tracker_ids))) throw forbidden()
    if (!row) throw new NotFoundApiError('place', id)
    return row
  }

  return {
    async list(args: PageArgs, visible: readonly string[] | null): Promise<Page<PlaceModel>> {
      const { limit, after } = pageArgs(args, options.pagination)
      const rows = await selectPlacePage(db, {
        visibleTo: visible,
        ...(after ? { after } : {}),
        limit: limit + 1,
      })
      return pageOf(rows, limit, toPlaceModel)
    },

    /** Loaders: input order, null where a place does not exist. */
    async byIds(ids: readonly (string | null)[]): Promise<(PlaceModel | null)[]> {
      const wanted = ids.filter((id): id is string => id !== null)
      const rows = await findPlacesByIds(db, wanted)
      const byId = new Map(rows.flatMap((row) => (row ? [[row.id, toPlaceModel(row)] as const] : [])))
      return ids.map((id) => (id === null ? null : (byId.get(id) ?? null)))
    },

    async create(input: CreatePlaceInput, visible: readonly string[] | null): Promise<PlaceModel> {
      const place = await alertInput(() => validatePlace(input))
      if (!withinTrackers(visible, place.trackerIds)) throw refusedForLimitedToken('createPlace')
      await alertInput(() => checkTrackersExist(db, place.trackerIds))
      return toPlaceModel(await insertPlace(db, place))
    },

    async update(
      id: string,
      input: UpdatePlaceInput,
      visible: readonly string[] | null,
    ): Promise<PlaceModel> {
      const row = await changeable(db, id, visible, 'updatePlace')
      const place = await alertInput(() => applyPlacePatch(placeOfRow(row), input as PlacePatch))
      if (!withinTrackers(visible, place.trackerIds)) throw refusedForLimitedToken('updatePlace')
      await alertInput(() => checkTrackersExist(db, place.trackerIds))
      const updated = await updatePlace(db, row.id, place)
      if (!updated) throw new NotFoundApiError('place', id)
      return toPlaceModel(updated)
    },

    /**
     * Deletes a place unless rules watch it and `deleteRules` is not set: the place is locked first,
     * so no rule can be created for it between the check and the delete.
     */
    async delete(id: string, deleteRules: boolean, visible: readonly string[] | null): Promise<string> {
      return db.transaction().execute(async (trx) => {
        const row = await changeable(trx, id, visible, 'deletePlace', true)
        const rules = await rulesWatchingPlace(trx, row.id)
        if (rules.length > 0 && !deleteRules) {
          throw new BadUserInputError(
            `deletePlace: ${rules.length} rule${rules.length === 1 ? '' : 's'} watch${rules.length === 1 ? 'es' : ''} ` +
              `this place (${rules.map((r) => JSON.stringify(r.name)).join(', ')}); they and their alert history ` +
              'would be deleted with it: pass deleteRules: true to do so, or delete or disable them first',
            { field: 'deleteRules', reason: 'IN_USE', rules: rules.map((r) => ({ id: r.id, name: r.name })) },
          )
        }
        await deletePlace(trx, row.id)
        return row.id
      })
    },
  }
}

export type PlaceService = ReturnType<typeof createPlaceService>
