import type { ApiTokenScope } from '@tracker/db'
import type { GraphQLResolveInfo } from 'graphql'
import { requireAllTrackers, requireScope, requireTracker, visibleTrackers } from '../services/access.ts'
import { actorOfToken } from '../services/tracker-deletion.service.ts'
import { trackerStatus } from '../services/tracker-status.ts'
import type { GraphQLContext } from './context.ts'
import { DateTime, PrivateKey } from './scalars.ts'
import type { MutationResolvers, Resolvers } from './schema.generated.ts'

function pathOf(info: GraphQLResolveInfo): (string | number)[] {
  const path: (string | number)[] = []
  for (let p: GraphQLResolveInfo['path'] | undefined = info.path; p; p = p.prev) path.unshift(p.key)
  return path
}

/** Mutations that manage API tokens; every other mutation needs write scope (admin includes it). */
const ADMIN_MUTATIONS = new Set(['createApiToken', 'revokeApiToken'])

/** Every mutation needs a write-scoped token (admin for tokens); checked before any of them runs. */
function requireMutationScope(mutations: Required<MutationResolvers>): MutationResolvers {
  const guarded: Record<string, unknown> = {}
  for (const [name, resolve] of Object.entries(mutations)) {
    const scope: ApiTokenScope = ADMIN_MUTATIONS.has(name) ? 'admin' : 'write'
    guarded[name] = (parent: unknown, args: unknown, ctx: GraphQLContext, info: GraphQLResolveInfo) => {
      requireScope(ctx.token, scope, name)
      return (resolve as (...a: unknown[]) => unknown)(parent, args, ctx, info)
    }
  }
  return guarded as MutationResolvers
}

/** Resolvers only translate: arguments to service calls, service results to the schema's shapes. */
export const resolvers: Resolvers = {
  DateTime,
  PrivateKey,
  Query: {
    async locationHistoryAggregated(_parent, args, ctx, info) {
      requireTracker(ctx.token, args.trackerId, 'locationHistoryAggregated')
      const page = await ctx.services.history.page(args)
      if (page.truncated)
        ctx.truncations.push({ path: pathOf(info), limit: page.limit, endCursor: page.endCursor })
      return page.points
    },
    async locationHistoryPage(_parent, args, ctx) {
      requireTracker(ctx.token, args.trackerId, 'locationHistoryPage')
      const page = await ctx.services.history.page(args)
      return {
        points: page.points,
        truncated: page.truncated,
        limit: page.limit,
        pageInfo: { hasNextPage: page.truncated, endCursor: page.endCursor },
      }
    },
    // A token limited to trackers: lists leave the others out, a field naming another is FORBIDDEN.
    trackers: (_parent, args, ctx) =>
      ctx.services.trackers.list(args, ctx.requestTime, visibleTrackers(ctx.token)),
    tracker: (_parent, args, ctx) => {
      requireTracker(ctx.token, args.id, 'tracker')
      return ctx.services.trackers.get(args.id)
    },
    locationReports: (_parent, args, ctx) => {
      requireTracker(ctx.token, args.trackerId, 'locationReports')
      return ctx.services.reports.list(args, ctx.requestTime)
    },
    // The ledger covers every tracker at once.
    importRuns: (_parent, args, ctx) => {
      requireAllTrackers(ctx.token, 'importRuns')
      return ctx.services.importRuns.list(args)
    },
    // The endpoint serves every tracker's keys.
    endpointHealth: (_parent, args, ctx) => {
      requireAllTrackers(ctx.token, 'endpointHealth')
      return ctx.services.endpointHealth.health(args, ctx.requestTime)
    },
    apiTokens: (_parent, _args, ctx) => {
      requireScope(ctx.token, 'admin', 'apiTokens')
      return ctx.services.apiTokens.list()
    },
    trackerDeletions: (_parent, args, ctx) => {
      requireScope(ctx.token, 'admin', 'trackerDeletions')
      return ctx.services.deletions.list(args.first)
    },
  },
  Mutation: requireMutationScope({
    refreshLocationHistoryAggregates: (_parent, args, ctx) => {
      requireTracker(ctx.token, args.trackerId, 'refreshLocationHistoryAggregates')
      return ctx.services.refresh.refresh(args)
    },
    createTracker: (_parent, { input }, ctx) => {
      requireAllTrackers(ctx.token, 'createTracker')
      return ctx.services.trackers.create(input)
    },
    importKeyFile: (_parent, args, ctx) => {
      requireAllTrackers(ctx.token, 'importKeyFile')
      return ctx.services.trackers.importKeyFile(args)
    },
    renameTracker: (_parent, args, ctx) => {
      requireTracker(ctx.token, args.id, 'renameTracker')
      return ctx.services.trackers.rename(args.id, args.name)
    },
    deactivateTracker: (_parent, args, ctx) => {
      requireTracker(ctx.token, args.id, 'deactivateTracker')
      return ctx.services.trackers.deactivate(args.id)
    },
    setTrackerPolling: (_parent, args, ctx) => {
      requireTracker(ctx.token, args.id, 'setTrackerPolling')
      return ctx.services.polling.set(args.id, args.pollEveryMinutes)
    },
    reactivateTracker: (_parent, args, ctx) => {
      requireTracker(ctx.token, args.id, 'reactivateTracker')
      return ctx.services.trackers.reactivate(args.id)
    },
    deleteTracker: (_parent, args, ctx) => {
      requireTracker(ctx.token, args.id, 'deleteTracker')
      return ctx.services.deletions.delete(args, actorOfToken(ctx.token))
    },
    addTrackerKey: (_parent, args, ctx) => {
      requireTracker(ctx.token, args.trackerId, 'addTrackerKey')
      return ctx.services.trackers.addKey(args.trackerId, args.privateKey)
    },
    removeTrackerKey: (_parent, args, ctx) => {
      requireTracker(ctx.token, args.trackerId, 'removeTrackerKey')
      return ctx.services.trackers.removeKey(args.trackerId, args.hashedAdvKey)
    },
    createApiToken: (_parent, args, ctx) => ctx.services.apiTokens.create(args),
    revokeApiToken: (_parent, args, ctx) => ctx.services.apiTokens.revoke(args.id),
  }),
  Tracker: {
    currentStatus: (tracker, _args, ctx) => trackerStatus(tracker, ctx.requestTime, ctx.services.status),
    coverageGaps: (tracker, args, ctx) => ctx.services.coverage.gaps(tracker.id, args),
    coverage: (tracker, args, ctx) => ctx.services.coverage.coverage(tracker.id, args),
    polling: (tracker, _args, ctx) => ctx.services.polling.of(tracker.id),
  },
}
