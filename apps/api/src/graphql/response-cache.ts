import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { type DocumentNode, Kind, type SelectionSetNode } from 'graphql'
import type { CacheLookup, ChangeFeedCache } from '../cache/change-feed-cache.ts'

export interface CachedResponse {
  /** The serialized response body, as sent the first time; encoded once, not on every send. */
  payload: Buffer
  /** The metrics label of the operation (request.graphqlOperation). */
  operation: string | undefined
}

interface CacheSlot {
  key: string
  verdictKey: string
  generation: number
}

declare module 'fastify' {
  interface FastifyRequest {
    responseCacheSlot: CacheSlot | undefined
  }
}

/** Root fields that read location history and nothing else. */
const HISTORY_ROOT_FIELDS = new Set(['locationHistoryAggregated', 'locationHistoryPage', '__typename'])
/** The one field below them that reads something else (trackers: renamed, seen, status by the clock). */
const NON_HISTORY_FIELDS = new Set(['tracker'])
const MAX_VERDICTS = 1_000

/**
 * True when the operation `operationName` picks from `document` is a query whose every field reads
 * location history: its answer then changes only when the history does, which the change feed
 * announces. Anything else (a tracker's status moves with the clock, mutations) is never kept.
 */
export function readsOnlyHistory(document: DocumentNode, operationName: string | undefined): boolean {
  const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION)
  const operation = operationName
    ? operations.find((o) => o.name?.value === operationName)
    : operations.length === 1
      ? operations[0]
      : undefined
  if (operation?.operation !== 'query') return false
  const fragments = new Map(
    document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d]] : [])),
  )
  const visited = new Set<string>()
  const check = (set: SelectionSetNode, root: boolean): boolean =>
    set.selections.every((selection) => {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value
        if (root ? !HISTORY_ROOT_FIELDS.has(name) : NON_HISTORY_FIELDS.has(name)) return false
        return !selection.selectionSet || check(selection.selectionSet, false)
      }
      if (selection.kind === Kind.INLINE_FRAGMENT) return check(selection.selectionSet, root)
      const fragment = fragments.get(selection.name.value)
      if (!fragment) return false
      // Validation rejects cycles before execution; a fragment seen before was checked already.
      if (visited.has(`${root}:${fragment.name.value}`)) return true
      visited.add(`${root}:${fragment.name.value}`)
      return check(fragment.selectionSet, root)
    })
  return check(operation.selectionSet, true)
}

interface GraphQLBody {
  query: string
  operationName?: string | null
  variables?: Record<string, unknown> | null
}

function graphqlBody(body: unknown): GraphQLBody | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined
  const { query, operationName } = body as Record<string, unknown>
  if (typeof query !== 'string') return undefined
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string')
    return undefined
  return body as GraphQLBody
}

/**
 * Whole responses of history-only queries, kept until the history changes: a repeated query (a
 * dashboard polling the same range) is answered without parsing, executing or serializing again.
 * The response is what the API answered the first time, byte for byte; only error-free 200
 * answers are kept. Authentication and the rate limit still run for every request: the lookup
 * is the last hook of the GraphQL POST route.
 *
 * Call `routeHooks` before Mercurius registers its routes and `graphqlHooks` after.
 */
export function responseCache(
  cache: ChangeFeedCache<CachedResponse>,
  onLookup: (result: CacheLookup) => void,
) {
  // Per query text and operation name: may its answers be kept? Learnt from the parsed document
  // at its first execution, so a lookup never parses.
  const verdicts = new Map<string, boolean>()

  const lookup = async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.method !== 'POST' || !cache.serving) return
    // Kept answers are shared by every token and checked by none: a token limited to trackers
    // neither reads them (it might get another tracker's history) nor adds to them.
    if (request.apiToken?.trackerIds) return
    const body = graphqlBody(request.body)
    if (!body) return
    const verdictKey = `${body.operationName ?? ''}\u0000${body.query}`
    const verdict = verdicts.get(verdictKey)
    if (verdict === false) return
    const key = `${verdictKey}\u0000${JSON.stringify(body.variables ?? null)}`
    if (verdict === true) {
      const found = cache.lookup(key)
      onLookup(found.result)
      if (found.value) {
        request.graphqlOperation = found.value.operation
        return reply
          .header('content-type', 'application/json; charset=utf-8')
          .header('x-history-cache', 'hit')
          .send(found.value.payload)
      }
    }
    request.responseCacheSlot = { key, verdictKey, generation: cache.generation() }
  }

  return {
    routeHooks(scope: FastifyInstance): void {
      scope.decorateRequest('responseCacheSlot', undefined)
      // A route-level hook, added after the rate limit's own (also route-level): a kept answer is
      // still counted against the token's limit.
      scope.addHook('onRoute', (route: RouteOptions) => {
        if (route.url !== '/graphql') return
        const existing = route.preHandler ? [route.preHandler].flat() : []
        route.preHandler = [...existing, lookup] as RouteOptions['preHandler']
      })
      scope.addHook('onSend', async (request, reply, payload) => {
        const slot = request.responseCacheSlot
        // The verdict is known once the document executed; a parse or validation error never got there.
        if (
          slot &&
          reply.statusCode === 200 &&
          typeof payload === 'string' &&
          verdicts.get(slot.verdictKey)
        ) {
          const body = Buffer.from(payload, 'utf8')
          cache.store(
            slot.key,
            { payload: body, operation: request.graphqlOperation },
            body.length + slot.key.length,
            slot.generation,
          )
        }
        return payload
      })
    },

    graphqlHooks(scope: FastifyInstance): void {
      scope.graphql.addHook('preExecution', async (_schema, document, context) => {
        const request = context.reply.request
        const slot = request.responseCacheSlot
        if (!slot) return
        let verdict = verdicts.get(slot.verdictKey)
        if (verdict === undefined) {
          const body = graphqlBody(request.body)
          verdict = readsOnlyHistory(document, body?.operationName ?? undefined)
          if (verdicts.size >= MAX_VERDICTS) verdicts.delete(verdicts.keys().next().value as string)
          verdicts.set(slot.verdictKey, verdict)
        }
        if (!verdict) request.responseCacheSlot = undefined
      })
      scope.graphql.addHook('onResolution', async (execution, context) => {
        if (execution.errors && execution.errors.length > 0)
          context.reply.request.responseCacheSlot = undefined
      })
    },
  }
}
