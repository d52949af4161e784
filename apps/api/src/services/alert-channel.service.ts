import { deleteChannel, insertChannel, selectChannelPage, validateChannel } from '@tracker/alerts'
import type { AlertChannelKind, Database } from '@tracker/db'
import type { Kysely } from 'kysely'
import { NotFoundApiError } from '../errors.ts'
import type { Page } from '../graphql/models.ts'
import type {
  AlertChannel,
  CreateAlertChannelInput,
  CreatedAlertChannel,
} from '../graphql/schema.generated.ts'
import { toAlertChannel } from '../mappers/alert.mapper.ts'
import { alertInput, type PageArgs, type Pagination, pageArgs, pageOf } from './alert-input.ts'
import { requireId } from './input.ts'

/** Channels concern every rule that names them: the resolvers keep limited tokens out. */
export function createAlertChannelService(db: Kysely<Database>, options: { pagination: Pagination }) {
  return {
    async list(args: PageArgs): Promise<Page<AlertChannel>> {
      const { limit, after } = pageArgs(args, options.pagination)
      const rows = await selectChannelPage(db, { ...(after ? { after } : {}), limit: limit + 1 })
      return pageOf(rows, limit, toAlertChannel)
    },

    /** The webhook's signing secret is in this answer and nowhere else, ever. */
    async create(input: CreateAlertChannelInput): Promise<CreatedAlertChannel> {
      const channel = await alertInput(() =>
        validateChannel({ ...input, kind: input.kind.toLowerCase() as AlertChannelKind }),
      )
      const row = await insertChannel(db, channel)
      return {
        channel: toAlertChannel(row),
        signingSecret: channel.kind === 'webhook' ? channel.secret : null,
      }
    },

    async delete(id: string): Promise<string> {
      const channelId = requireId('alert channel', id)
      if (!(await deleteChannel(db, channelId))) throw new NotFoundApiError('alert channel', id)
      return channelId
    },
  }
}

export type AlertChannelService = ReturnType<typeof createAlertChannelService>
