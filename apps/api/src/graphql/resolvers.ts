import type { ApiTokenScope } from '@tracker/db'
import type { GraphQLResolveInfo } from 'graphql'
import { requireAllTrackers, requireScope, requireTracker, visibleTrackers } from '../services/access.ts'
import { visibleTrackerIds } from '../services/alert-input.ts'
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
    // Alerts: a limited token sees places and rules for every tracker or for one of its own, and
    // only its trackers' alerts; channels serve every rule, so they are for unlimited tokens only.
    places: (_parent, args, ctx) => ctx.services.places.list(args, visibleTrackers(ctx.token)),
    alertRules: (_parent, args, ctx) => ctx.services.alertRules.list(args, visibleTrackers(ctx.token)),
    alertChannels: (_parent, args, ctx) => {
      requireAllTrackers(ctx.token, 'alertChannels')
      return ctx.services.alertChannels.list(args)
    },
    alerts: (_parent, args, ctx) => {
      if (args.trackerId) requireTracker(ctx.token, args.trackerId, 'alerts')
      return ctx.services.alerts.list(args, visibleTrackers(ctx.token))
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
    // Places and rules check a limited token against what they name (the services read them).
    createPlace: (_parent, args, ctx) => ctx.services.places.create(args.input, visibleTrackers(ctx.token)),
    updatePlace: (_parent, args, ctx) =>
      ctx.services.places.update(args.id, args.input, visibleTrackers(ctx.token)),
    deletePlace: (_parent, args, ctx) =>
      ctx.services.places.delete(args.id, args.deleteRules ?? false, visibleTrackers(ctx.token)),
    createAlertRule: (_parent, args, ctx) =>
      ctx.services.alertRules.create(args.input, visibleTrackers(ctx.token)),
    updateAlertRule: (_parent, args, ctx) =>
      ctx.services.alertRules.update(args.id, args.input, visibleTrackers(ctx.token)),
    deleteAlertRule: (_parent, args, ctx) =>
      ctx.services.alertRules.delete(args.id, visibleTrackers(ctx.token)),
    createAlertChannel: (_parent, args, ctx) => {
      requireAllTrackers(ctx.token, 'createAlertChannel')
      return ctx.services.alertChannels.create(args.input)
    },
    deleteAlertChannel: (_parent, args, ctx) => {
      requireAllTrackers(ctx.token, 'deleteAlertChannel')
      return ctx.services.alertChannels.delete(args.id)
    },
  }),
  Tracker: {
    currentStatus: (tracker, _args, ctx) => trackerStatus(tracker, ctx.requestTime, ctx.services.status),
    coverageGaps: (tracker, args, ctx) => ctx.services.coverage.gaps(tracker.id, args),
    coverage: (tracker, args, ctx) => ctx.services.coverage.coverage(tracker.id, args),
    polling: (tracker, _args, ctx) => ctx.services.polling.of(tracker.id),
  },
  // A limited token sees only its own trackers among a place's or a rule's.
  Place: {
    trackerIds: (place, _args, ctx) => visibleTrackerIds(place.trackerIds, visibleTrackers(ctx.token)),
  },
  AlertRule: {
    trackerIds: (rule, _args, ctx) => visibleTrackerIds(rule.trackerIds, visibleTrackers(ctx.token)),
  },
}
