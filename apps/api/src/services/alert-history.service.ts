import { attemptsOfDeliveries, deliveriesOfEvents, selectAlertHistoryPage } from '@tracker/alerts'
import { type Database, findTracker } from '@tracker/db'
import type { Kysely } from 'kysely'
import { BadUserInputError, NotFoundApiError } from '../errors.ts'
import type { AlertDeliveryModel, AlertModel, Page } from '../graphql/models.ts'
import type { AlertDeliveryAttempt } from '../graphql/schema.generated.ts'
import { toAlertDeliveryAttempt, toAlertDeliveryModel, toAlertModel } from '../mappers/alert.mapper.ts'
import { type PageArgs, type Pagination, pageArgs, pageOf } from './alert-input.ts'
import { requireId } from './input.ts'

export interface AlertHistoryArgs extends PageArgs {
  trackerId?: string | null
  from?: Date | null
  to?: Date | null
  includeCancelled?: boolean | null
}

/** The alert history: alerts newest first, their deliveries and attempts (loaders). */
export function createAlertHistoryService(db: Kysely<Database>, options: { pagination: Pagination }) {
  return {
    /**
     * `visible`: the trackers the token may see (null: every tracker); the resolver has refused a
     * trackerId outside them already.
     */
    async list(args: AlertHistoryArgs, visible: readonly string[] | null): Promise<Page<AlertModel>> {
      const { limit, after } = pageArgs(args, options.pagination)
      if (args.from && args.to && args.from.getTime() > args.to.getTime())
        throw new BadUserInputError(
          `from (${args.from.toISOString()}) must not be after to (${args.to.toISOString()})`,
        )
      let trackerIds = visible
      if (args.trackerId) {
        const id = requireId('tracker', args.trackerId)
        if (!(await findTracker(db, id))) throw new NotFoundApiError('tracker', args.trackerId)
        trackerIds = [id]
      }
      const rows = await selectAlertHistoryPage(db, {
        trackerIds,
        ...(args.from ? { from: args.from } : {}),
        ...(args.to ? { to: args.to } : {}),
        includeCancelled: args.includeCancelled ?? true,
        ...(after ? { after } : {}),
        limit: limit + 1,
      })
      return pageOf(rows, limit, toAlertModel)
    },

    async deliveriesOf(eventIds: readonly string[]): Promise<AlertDeliveryModel[][]> {
      return (await deliveriesOfEvents(db, eventIds)).map((rows) => rows.map(toAlertDeliveryModel))
    },

    async attemptsOf(deliveryIds: readonly string[]): Promise<AlertDeliveryAttempt[][]> {
      return (await attemptsOfDeliveries(db, deliveryIds)).map((rows) => rows.map(toAlertDeliveryAttempt))
    },
  }
}

export type AlertHistoryService = ReturnType<typeof createAlertHistoryService>
