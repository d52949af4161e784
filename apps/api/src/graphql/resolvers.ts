import type { GraphQLResolveInfo } from 'graphql'
import { ForbiddenError } from '../errors.ts'
import { trackerStatus } from '../services/tracker-status.ts'
import type { GraphQLContext } from './context.ts'
import { DateTime, PrivateKey } from './scalars.ts'
import type { MutationResolvers, Resolvers } from './schema.generated.ts'

function pathOf(info: GraphQLResolveInfo): (string | number)[] {
  const path: (string | number)[] = []
  for (let p: GraphQLResolveInfo['path'] | undefined = info.path; p; p = p.prev) path.unshift(p.key)
  return path
}

/** Every mutation needs a write-scoped token; checked before any of them runs. */
function requireWriteScope(mutations: Required<MutationResolvers>): MutationResolvers {
  const guarded: Record<string, unknown> = {}
  for (const [name, resolve] of Object.entries(mutations)) {
    guarded[name] = (parent: unknown, args: unknown, ctx: GraphQLContext, info: GraphQLResolveInfo) => {
      if (ctx.token?.scope !== 'write') {
        throw new ForbiddenError(
          `${name} needs a token with write scope; this token has ${ctx.token?.scope ?? 'no'} scope`,
        )
      }
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
      const page = await ctx.services.history.page(args)
      if (page.truncated)
        ctx.truncations.push({ path: pathOf(info), limit: page.limit, endCursor: page.endCursor })
      return page.points
    },
    async locationHistoryPage(_parent, args, ctx) {
      const page = await ctx.services.history.page(args)
      return {
        points: page.points,
        truncated: page.truncated,
        limit: page.limit,
        pageInfo: { hasNextPage: page.truncated, endCursor: page.endCursor },
      }
    },
    trackers: (_parent, args, ctx) => ctx.services.trackers.list(args, ctx.requestTime),
    tracker: (_parent, args, ctx) => ctx.services.trackers.get(args.id),
    locationReports: (_parent, args, ctx) => ctx.services.reports.list(args, ctx.requestTime),
    importRuns: (_parent, args, ctx) => ctx.services.importRuns.list(args),
  },
  Mutation: requireWriteScope({
    refreshLocationHistoryAggregates: (_parent, args, ctx) => ctx.services.refresh.refresh(args),
    createTracker: (_parent, { input }, ctx) => ctx.services.trackers.create(input),
    renameTracker: (_parent, args, ctx) => ctx.services.trackers.rename(args.id, args.name),
    deactivateTracker: (_parent, args, ctx) => ctx.services.trackers.deactivate(args.id),
    addTrackerKey: (_parent, args, ctx) => ctx.services.trackers.addKey(args.trackerId, args.privateKey),
    removeTrackerKey: (_parent, args, ctx) =>
      ctx.services.trackers.removeKey(args.trackerId, args.hashedAdvKey),
  }),
  Tracker: {
    currentStatus: (tracker, _args, ctx) => trackerStatus(tracker, ctx.requestTime, ctx.services.status),
  },
}
