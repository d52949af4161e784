import { parseArgs } from 'node:util'
import type { ApiTokenScope, Database } from '@tracker/db'
import type { Kysely } from 'kysely'
import { ApiError, BadUserInputError } from '../errors.ts'
import { createApiToken, listApiTokens, revokeApiToken } from '../services/api-tokens.ts'
import { createSignInLink } from '../services/session.service.ts'

export const TOKENS_USAGE = `API tokens (stored as SHA-256 hashes; a token is shown once, when created):
  tokens create --name NAME --scope read|write|admin [--tracker ID ...]
                                                  create a token and print it; admin also manages
                                                  tokens; --tracker limits it to those trackers
                                                  (repeat it for several; not with admin)
  tokens list                                     list tokens (never the tokens themselves)
  tokens revoke ID                                revoke a token: requests with it fail from then on
                                                  (within API_TOKEN_CACHE_TTL on running replicas)
  tokens sign-in-link ID                          print the path of a one-time link (/sign-in/CODE,
                                                  valid 24 hours) that signs a browser in to the web
                                                  app with that token; append it to the API's address`

/** A usage error: main.ts prints it with the usage and exits 2. */
export class UsageError extends Error {
  readonly code = 'USAGE'
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const iso = (d: Date | null) => (d ? d.toISOString() : '-')

/** Parses `args` first, so a usage error never needs the database. */
export function parseTokensCommand(
  args: string[],
):
  | { command: 'create'; name: string; scope: ApiTokenScope; trackerIds: string[] | null }
  | { command: 'list' }
  | { command: 'revoke'; id: string }
  | { command: 'sign-in-link'; id: string } {
  const [command, ...rest] = args
  let parsed: ReturnType<
    typeof parseArgs<{
      options: {
        name: { type: 'string' }
        scope: { type: 'string' }
        tracker: { type: 'string'; multiple: true }
      }
      allowPositionals: true
    }>
  >
  try {
    parsed = parseArgs({
      args: rest,
      options: {
        name: { type: 'string' },
        scope: { type: 'string' },
        tracker: { type: 'string', multiple: true },
      },
      allowPositionals: true,
    })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  const { values, positionals } = parsed
  switch (command) {
    case 'create': {
      if (!values.name?.trim()) throw new UsageError('tokens create needs --name NAME')
      if (values.scope !== 'read' && values.scope !== 'write' && values.scope !== 'admin')
        throw new UsageError('tokens create needs --scope read, --scope write or --scope admin')
      if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`)
      const trackerIds = values.tracker ?? null
      for (const id of trackerIds ?? []) {
        if (!UUID.test(id)) throw new UsageError(`--tracker ${id} is not a tracker ID (see trackers list)`)
      }
      if (trackerIds && values.scope === 'admin')
        throw new UsageError('an admin token cannot be limited to trackers (--tracker)')
      return { command, name: values.name, scope: values.scope, trackerIds }
    }
    case 'list':
      if (positionals.length > 0 || values.name || values.scope || values.tracker)
        throw new UsageError('tokens list takes no arguments')
      return { command }
    case 'revoke': {
      const id = positionals[0]
      if (!id || positionals.length > 1) throw new UsageError('tokens revoke needs exactly one token ID')
      if (!UUID.test(id)) throw new UsageError(`${id} is not a token ID (see tokens list)`)
      return { command, id }
    }
    case 'sign-in-link': {
      const id = positionals[0]
      if (!id || positionals.length > 1 || values.name || values.scope || values.tracker)
        throw new UsageError('tokens sign-in-link needs exactly one token ID')
      if (!UUID.test(id)) throw new UsageError(`${id} is not a token ID (see tokens list)`)
      return { command, id }
    }
    default:
      throw new UsageError(command ? `unknown tokens command "${command}"` : 'tokens needs a command')
  }
}

/** Runs a parsed tokens command; returns the exit code. */
export async function runTokensCommand(
  db: Kysely<Database>,
  command: ReturnType<typeof parseTokensCommand>,
  out: (line: string) => void,
): Promise<number> {
  switch (command.command) {
    case 'create': {
      let created: Awaited<ReturnType<typeof createApiToken>>
      try {
        created = await createApiToken(db, {
          name: command.name,
          scope: command.scope,
          trackerIds: command.trackerIds,
        })
      } catch (error) {
        // E.g. a --tracker no tracker has: said plainly, exit 1.
        if (!(error instanceof BadUserInputError)) throw error
        out(`error: ${error.message}`)
        return 1
      }
      const limited = created.tracker_ids ? `, limited to tracker(s) ${created.tracker_ids.join(', ')}` : ''
      out(`Created ${created.scope} token "${created.name}" (id ${created.id}${limited}).`)
      out('The token is shown only now; store it safely:')
      out(created.token)
      return 0
    }
    case 'list': {
      const tokens = await listApiTokens(db)
      if (tokens.length === 0) {
        out('No API tokens. Create one with: tokens create --name NAME --scope read|write|admin')
        return 0
      }
      out(['ID', 'SCOPE', 'NAME', 'CREATED', 'LAST USED', 'REVOKED', 'TRACKERS'].join('\t'))
      for (const t of tokens) {
        const trackers = t.tracker_ids ? t.tracker_ids.join(',') || '(none left)' : 'all'
        out(
          [t.id, t.scope, t.name, iso(t.created_at), iso(t.last_used_at), iso(t.revoked_at), trackers].join(
            '\t',
          ),
        )
      }
      return 0
    }
    case 'revoke': {
      const revoked = await revokeApiToken(db, command.id)
      if (!revoked) {
        out(`No token has id ${command.id}`)
        return 1
      }
      out(`Revoked token "${revoked.name}" (id ${revoked.id}) at ${iso(revoked.revoked_at)}.`)
      return 0
    }
    case 'sign-in-link': {
      let link: Awaited<ReturnType<typeof createSignInLink>>
      try {
        link = await createSignInLink(db, { apiTokenId: command.id })
      } catch (error) {
        if (!(error instanceof ApiError)) throw error
        out(`error: no unrevoked token has id ${command.id}`)
        return 1
      }
      out(`One-time sign-in link, valid until ${iso(link.expiresAt)} (used once, then void):`)
      out(link.path)
      return 0
    }
  }
}
