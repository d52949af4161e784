import type { GraphQLContext } from './context.ts'
import type {
  AlertDeliveryModel,
  AlertModel,
  AlertRuleModel,
  HistoryPointModel,
  LocationReportModel,
  TrackerModel,
} from './models.ts'

interface LoaderQuery<T> {
  obj: T
  params: unknown
}

/**
 * Every relation field goes through a Mercurius loader: the whole batch of a request's parents is
 * answered with one query, results in input order. 500 history points cost one tracker query.
 */
export const loaders = {
  LocationHistoryPoint: {
    tracker: (queries: LoaderQuery<HistoryPointModel>[], ctx: GraphQLContext) =>
      ctx.services.trackers.byIds(queries.map((q) => q.obj.trackerId)),
  },
  LocationReport: {
    tracker: (queries: LoaderQuery<LocationReportModel>[], ctx: GraphQLContext) =>
      ctx.services.trackers.byIds(queries.map((q) => q.obj.trackerId)),
  },
  Tracker: {
    keys: (queries: LoaderQuery<TrackerModel>[], ctx: GraphQLContext) =>
      ctx.services.trackers.keysOf(queries.map((q) => q.obj.id)),
  },
  AlertRule: {
    place: (queries: LoaderQuery<AlertRuleModel>[], ctx: GraphQLContext) =>
      ctx.services.places.byIds(queries.map((q) => q.obj.placeId)),
  },
  Alert: {
    rule: (queries: LoaderQuery<AlertModel>[], ctx: GraphQLContext) =>
      ctx.services.alertRules.byIds(queries.map((q) => q.obj.ruleId)),
    tracker: (queries: LoaderQuery<AlertModel>[], ctx: GraphQLContext) =>
      ctx.services.trackers.byIds(queries.map((q) => q.obj.trackerId)),
    place: (queries: LoaderQuery<AlertModel>[], ctx: GraphQLContext) =>
      ctx.services.places.byIds(queries.map((q) => q.obj.placeId)),
    deliveries: (queries: LoaderQuery<AlertModel>[], ctx: GraphQLContext) =>
      ctx.services.alerts.deliveriesOf(queries.map((q) => q.obj.id)),
  },
  AlertDelivery: {
    attemptLog: (queries: LoaderQuery<AlertDeliveryModel>[], ctx: GraphQLContext) =>
      ctx.services.alerts.attemptsOf(queries.map((q) => q.obj.id)),
  },
}
