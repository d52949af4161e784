import {
  applyRulePatch,
  checkRuleReferences,
  deleteRule,
  findRule,
  findRulesByIds,
  insertRule,
  isUuid,
  type RuleInput,
  type RulePatch,
  ruleOfRow,
  selectRulePage,
  updateRule,
  validateRule,
} from '@tracker/alerts'
import type { AlertRule, AlertRuleKind, BatteryThreshold, Database } from '@tracker/db'
import type { Kysely } from 'kysely'
import { ForbiddenError, NotFoundApiError } from '../errors.ts'
import type { AlertRuleModel, Page } from '../graphql/models.ts'
import type { CreateAlertRuleInput, UpdateAlertRuleInput } from '../graphql/schema.generated.ts'
import { toAlertRuleModel } from '../mappers/alert.mapper.ts'
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

const lower = <T extends string>(value: string | null | undefined): T | null | undefined =>
  value === null || value === undefined ? value : (value.toLowerCase() as T)

/** The GraphQL input in the alerts package's terms (enums lower case; OK stays OK and is refused there). */
function ruleInput(input: UpdateAlertRuleInput & { kind?: string | null; placeId?: string | null }) {
  const { kind, batteryAtOrBelow, ...rest } = input
  return {
    ...rest,
    ...(kind !== undefined ? { kind: lower<AlertRuleKind>(kind) } : {}),
    ...(batteryAtOrBelow !== undefined
      ? { batteryAtOrBelow: lower<BatteryThreshold>(batteryAtOrBelow) }
      : {}),
  }
}

/** `visible` everywhere: the trackers the token may see, null for every tracker (access.ts). */
export function createAlertRuleService(db: Kysely<Database>, options: { pagination: Pagination }) {
  /** As for places: a limited token may change only rules limited to its trackers; any other id is FORBIDDEN. */
  const changeable = async (
    id: string,
    visible: readonly string[] | null,
    what: string,
  ): Promise<AlertRule> => {
    const forbidden = () =>
      new ForbiddenError(`${what}: a token limited to trackers may change only rules limited to its trackers`)
    if (visible && !isUuid(id)) throw forbidden()
    const row = await findRule(db, requireId('alert rule', id))
    if (visible && (!row || !withinTrackers(visible, row.tracker_ids))) throw forbidden()
    if (!row) throw new NotFoundApiError('alert rule', id)
    return row
  }

  return {
    async list(
      args: PageArgs & { placeId?: string | null },
      visible: readonly string[] | null,
    ): Promise<Page<AlertRuleModel>> {
      const { limit, after } = pageArgs(args, options.pagination)
      if (args.placeId && !isUuid(args.placeId))
        return { nodes: [], pageInfo: { hasNextPage: false, endCursor: null } }
      const rows = await selectRulePage(db, {
        visibleTo: visible,
        ...(args.placeId ? { placeId: args.placeId.toLowerCase() } : {}),
        ...(after ? { after } : {}),
        limit: limit + 1,
      })
      return pageOf(rows, limit, toAlertRuleModel)
    },

    /** Loaders: input order; every alert has its rule (deleting a rule deletes its alerts). */
    async byIds(ids: readonly string[]): Promise<(AlertRuleModel | null)[]> {
      const rows = await findRulesByIds(db, ids)
      return rows.map((row) => (row ? toAlertRuleModel(row) : null))
    },

    async create(input: CreateAlertRuleInput, visible: readonly string[] | null): Promise<AlertRuleModel> {
      const rule = await alertInput(() => validateRule(ruleInput(input) as RuleInput))
      if (!withinTrackers(visible, rule.trackerIds)) throw refusedForLimitedToken('createAlertRule')
      await alertInput(() => checkRuleReferences(db, rule, { placesVisibleTo: visible }))
      return toAlertRuleModel(await insertRule(db, rule))
    },

    async update(
      id: string,
      input: UpdateAlertRuleInput,
      visible: readonly string[] | null,
    ): Promise<AlertRuleModel> {
      const row = await changeable(id, visible, 'updateAlertRule')
      const rule = await alertInput(() => applyRulePatch(ruleOfRow(row), ruleInput(input) as RulePatch))
      if (!withinTrackers(visible, rule.trackerIds)) throw refusedForLimitedToken('updateAlertRule')
      await alertInput(() => checkRuleReferences(db, rule, { placesVisibleTo: visible }))
      const updated = await updateRule(db, row.id, rule)
      if (!updated) throw new NotFoundApiError('alert rule', id)
      return toAlertRuleModel(updated)
    },

    async delete(id: string, visible: readonly string[] | null): Promise<string> {
      const row = await changeable(id, visible, 'deleteAlertRule')
      await deleteRule(db, row.id)
      return row.id
    },
  }
}

export type AlertRuleService = ReturnType<typeof createAlertRuleService>
