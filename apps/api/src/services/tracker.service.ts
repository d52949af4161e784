import {
  addTrackerKeys,
  createTrackerWithKeys,
  type Database,
  DuplicateKeyError,
  deactivateTracker,
  ensureSealingKey,
  findTracker,
  findTrackersByIds,
  getTracker,
  type KeySealer,
  KeySealingKeyMismatchError,
  KeySealingKeyNotRecordedError,
  type Logger,
  listAllTrackers,
  reactivateTracker,
  removeTrackerKey,
  renameTracker,
} from '@tracker/db'
import { detectAndParseKeyFile, type FindMyKeyPair, KeyFileError, type ParsedTracker } from '@tracker/findmy'
import type { Kysely } from 'kysely'
import { BadUserInputError, NotFoundApiError, ServiceUnavailableError } from '../errors.ts'
import type { Page, TrackerModel } from '../graphql/models.ts'
import type { TrackerKey } from '../graphql/schema.generated.ts'
import { toTrackerKey, toTrackerModel } from '../mappers/tracker.mapper.ts'
import {
  selectKeysOfTrackers,
  selectTrackerPage,
  type TrackerStatusName,
} from '../repositories/tracker-page.repository.ts'
import { cursorId, cursorTime, decodeCursor, encodeCursor, pageSize, requireId } from './input.ts'
import { type StatusThresholds, statusBoundaries } from './tracker-status.ts'

export interface TrackerServiceOptions {
  /** Seals keys to the database's public key; it has no way to open them. */
  sealer: KeySealer
  pagination: { defaultPageSize: number; maxPageSize: number }
  maxKeysPerMutation: number
  status: StatusThresholds
  logger?: Logger
}

function trackerName(name: string, what = 'name'): string {
  const trimmed = name.trim()
  if (trimmed.length < 1 || trimmed.length > 200) {
    throw new BadUserInputError(`${what} must be 1 to 200 characters (got ${trimmed.length})`, {
      argument: 'name',
    })
  }
  return trimmed
}

/** The database's duplicate-key error, as the client's input error it is. */
async function refusingDuplicates<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    if (error instanceof DuplicateKeyError) {
      throw new BadUserInputError(error.message, { hashedAdvKey: error.hashedAdvKey })
    }
    throw error
  }
}

const plainKey = (pair: FindMyKeyPair) => ({ hashedAdvKey: pair.hashedAdvKey, privateKey: pair.privateKey })

export function createTrackerService(db: Kysely<Database>, options: TrackerServiceOptions) {
  const existing = async (id: string) => {
    const tracker = await findTracker(db, requireId('tracker', id))
    if (!tracker) throw new NotFoundApiError('tracker', id)
    return tracker
  }

  // Keys sealed to another public key than the database's could never be opened: refused before
  // anything is written (checked at start too; this catches a database set up since with another,
  // and one whose importer has not recorded its key yet).
  const sealingWithTheDatabasesKey = async () => {
    try {
      await ensureSealingKey(db, options.sealer)
    } catch (error) {
      if (error instanceof KeySealingKeyNotRecordedError) {
        options.logger?.warn({ err: error }, 'refused to seal tracker keys')
        throw new ServiceUnavailableError(
          'No public key is recorded for tracker keys yet: the importer records it when it starts. ' +
            'Nothing was stored; try again once the importer has started.',
        )
      }
      if (!(error instanceof KeySealingKeyMismatchError)) throw error
      options.logger?.error({ err: error }, 'refused to seal tracker keys')
      throw new ServiceUnavailableError(
        "The server's KEY_SEALING_PUBLIC_KEY is not the public key this database's tracker keys are sealed to, " +
          'so it cannot store keys; nothing was stored. Its operator must correct KEY_SEALING_PUBLIC_KEY.',
      )
    }
  }

  const keyLimit = (count: number, what: string) => {
    if (count > options.maxKeysPerMutation) {
      throw new BadUserInputError(
        `${what} may be created with at most ${options.maxKeysPerMutation} keys (got ${count})`,
        { argument: 'privateKeys', max: options.maxKeysPerMutation },
      )
    }
  }

  return {
    async get(id: string): Promise<TrackerModel> {
      return toTrackerModel(await existing(id))
    },

    /** For loaders: one query, input order, null where an id names no tracker. */
    async byIds(ids: readonly string[]): Promise<(TrackerModel | null)[]> {
      const rows = await findTrackersByIds(db, ids)
      return rows.map((row) => (row ? toTrackerModel(row) : null))
    },

    /** Every tracker (the live updates' catch-up after a listener reconnect). */
    async all(): Promise<TrackerModel[]> {
      return (await listAllTrackers(db)).map(toTrackerModel)
    },

    async keysOf(ids: readonly string[]): Promise<TrackerKey[][]> {
      const lists = await selectKeysOfTrackers(db, ids)
      return lists.map((rows) => rows.map(toTrackerKey))
    },

    async list(
      args: { status?: TrackerStatusName | null; first?: number | null; after?: string | null },
      now: Date,
      /** Only these trackers (a token limited to them); null: every tracker. */
      only: readonly string[] | null = null,
    ): Promise<Page<TrackerModel>> {
      const limit = pageSize(args.first, {
        defaultSize: options.pagination.defaultPageSize,
        maxSize: options.pagination.maxPageSize,
      })
      let after: { createdAt: string; id: string } | undefined
      if (args.after) {
        const [createdAt, id] = decodeCursor<[string, string]>(args.after, ['string', 'string'])
        after = { createdAt: cursorTime(createdAt), id: cursorId(id) }
      }
      const rows = await selectTrackerPage(db, {
        ...(args.status ? { status: args.status } : {}),
        ...statusBoundaries(now, options.status),
        ...(after ? { after } : {}),
        ...(only ? { only } : {}),
        limit: limit + 1,
      })
      const kept = rows.slice(0, limit)
      const last = kept.at(-1)
      return {
        nodes: kept.map(toTrackerModel),
        pageInfo: {
          hasNextPage: rows.length > limit,
          endCursor: last ? encodeCursor([last.cursor_time, last.id]) : null,
        },
      }
    },

    async create(input: { name: string; privateKeys: FindMyKeyPair[] }): Promise<TrackerModel> {
      const name = trackerName(input.name)
      keyLimit(input.privateKeys.length, 'a tracker')
      await sealingWithTheDatabasesKey()
      const tracker = await refusingDuplicates(() =>
        createTrackerWithKeys(db, options.sealer, { name, keys: input.privateKeys.map(plainKey) }),
      )
      return toTrackerModel(tracker)
    },

    /**
     * The trackers of a key file, parsed here with the importer's reader, created in one
     * transaction: a bad entry (or a key already stored) creates nothing.
     */
    async importKeyFile(input: {
      fileName: string
      content: string
      name?: string | null | undefined
    }): Promise<TrackerModel[]> {
      let parsed: ParsedTracker[]
      try {
        parsed = detectAndParseKeyFile(input.content, input.fileName).trackers
      } catch (error) {
        if (!(error instanceof KeyFileError)) throw error
        throw new BadUserInputError(error.message, { argument: 'content', entry: error.entry })
      }
      if (input.name !== null && input.name !== undefined) {
        if (parsed.length !== 1) {
          throw new BadUserInputError(
            `name renames the tracker of a file that holds one; ${input.fileName} holds ${parsed.length}`,
            { argument: 'name' },
          )
        }
        parsed = [{ ...parsed[0]!, name: trackerName(input.name) }]
      }
      const trackers = parsed.map((tracker, index) => {
        const what = `tracker ${index + 1} ("${tracker.name.slice(0, 50)}")`
        keyLimit(tracker.keys.length, what)
        return { name: trackerName(tracker.name, `the name of ${what}`), keys: tracker.keys.map(plainKey) }
      })
      await sealingWithTheDatabasesKey()
      const created = await refusingDuplicates(() =>
        db.transaction().execute(async (tx) => {
          const rows = []
          for (const tracker of trackers) rows.push(await createTrackerWithKeys(tx, options.sealer, tracker))
          return rows
        }),
      )
      options.logger?.info(
        { trackers: created.map((t) => t.id), fileName: input.fileName.slice(0, 200) },
        'trackers imported from a key file',
      )
      return created.map(toTrackerModel)
    },

    async rename(id: string, name: string): Promise<TrackerModel> {
      return toTrackerModel(await renameTracker(db, requireId('tracker', id), trackerName(name)))
    },

    async deactivate(id: string): Promise<TrackerModel> {
      return toTrackerModel(await deactivateTracker(db, requireId('tracker', id)))
    },

    async reactivate(id: string): Promise<TrackerModel> {
      return toTrackerModel(await reactivateTracker(db, requireId('tracker', id)))
    },

    async addKey(trackerId: string, pair: FindMyKeyPair): Promise<TrackerModel> {
      const id = requireId('tracker', trackerId)
      await sealingWithTheDatabasesKey()
      await refusingDuplicates(() => addTrackerKeys(db, options.sealer, id, [plainKey(pair)]))
      return toTrackerModel(await getTracker(db, id))
    },

    async removeKey(trackerId: string, hashedAdvKey: string): Promise<TrackerModel> {
      const tracker = await existing(trackerId)
      await removeTrackerKey(db, tracker.id, hashedAdvKey)
      return toTrackerModel(tracker)
    },
  }
}

export type TrackerService = ReturnType<typeof createTrackerService>
