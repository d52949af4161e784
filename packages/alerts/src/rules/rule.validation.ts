import type { AlertRuleKind, BatteryThreshold } from '@tracker/db'
import { AlertInputError, idList, inRange, validName } from '../validation/alert-input-error.ts'

/**
 * Bounds of a rule's settings.
 *
 * hysteresisM 0 to 5,000 m (default 50): a position counts as outside only beyond the boundary plus
 * this margin (and inside only within the boundary), so a tracker reported on both sides of the line
 * by turns fires nothing; Find My accuracy is tens to hundreds of metres, more is a different place.
 * confirmations 1 to 10 (default 2): reports in a row on the new side that a change takes.
 * notSeenSeconds 15 minutes to 366 days: below that a Find My tracker is "not seen" between two
 * passing phones all the time.
 */
export const RULE_LIMITS = {
  hysteresisM: { min: 0, max: 5_000, default: 50 },
  confirmations: { min: 1, max: 10, default: 2 },
  notSeenSeconds: { min: 15 * 60, max: 366 * 86_400 },
  maxTrackers: 1_000,
  maxChannels: 20,
} as const

export const BATTERY_THRESHOLDS: readonly BatteryThreshold[] = ['medium', 'low', 'critical']
export const RULE_KINDS: readonly AlertRuleKind[] = ['enter', 'leave', 'not_seen', 'battery']

export interface RuleInput {
  name: string
  kind: AlertRuleKind
  /** enter / leave only. */
  placeId?: string | null
  /** enter / leave only. */
  hysteresisM?: number | null
  /** enter / leave only. */
  confirmations?: number | null
  /** not_seen only. */
  notSeenSeconds?: number | null
  /** battery only. */
  batteryAtOrBelow?: BatteryThreshold | null
  /** null (or left out): every tracker. */
  trackerIds?: readonly string[] | null
  channelIds?: readonly string[] | null
  enabled?: boolean | null
  muted?: boolean | null
}

/** A rule as it is stored: the kind's own settings set, the others null (place kinds: defaults applied). */
export interface ValidRule {
  name: string
  kind: AlertRuleKind
  placeId: string | null
  hysteresisM: number
  confirmations: number
  notSeenSeconds: number | null
  batteryAtOrBelow: BatteryThreshold | null
  trackerIds: string[] | null
  channelIds: string[]
  enabled: boolean
  muted: boolean
}

const given = <T>(value: T | null | undefined): value is T => value !== null && value !== undefined

const KIND_FIELDS: Record<AlertRuleKind, readonly (keyof RuleInput)[]> = {
  enter: ['placeId', 'hysteresisM', 'confirmations'],
  leave: ['placeId', 'hysteresisM', 'confirmations'],
  not_seen: ['notSeenSeconds'],
  battery: ['batteryAtOrBelow'],
}
const KIND_SPECIFIC: readonly (keyof RuleInput)[] = [
  'placeId',
  'hysteresisM',
  'confirmations',
  'notSeenSeconds',
  'batteryAtOrBelow',
]

/** Checks a rule's fields without the database (references are checked by checkRuleReferences). */
export function validateRule(input: RuleInput): ValidRule {
  const name = validName(input.name)
  if (!RULE_KINDS.includes(input.kind))
    throw new AlertInputError('kind', 'OUT_OF_RANGE', `must be one of ${RULE_KINDS.join(', ')}`)
  const own = KIND_FIELDS[input.kind]
  for (const field of KIND_SPECIFIC) {
    if (!own.includes(field) && given(input[field]))
      throw new AlertInputError(field, 'NOT_FOR_KIND', `is not a setting of a ${input.kind} rule`)
  }
  const rule: ValidRule = {
    name,
    kind: input.kind,
    placeId: null,
    hysteresisM: RULE_LIMITS.hysteresisM.default,
    confirmations: RULE_LIMITS.confirmations.default,
    notSeenSeconds: null,
    batteryAtOrBelow: null,
    trackerIds: idList(input.trackerIds, 'trackerIds', {
      max: RULE_LIMITS.maxTrackers,
      allowEmpty: false,
      emptyHint: 'leave trackerIds out (null) for every tracker',
    }),
    channelIds:
      idList(input.channelIds, 'channelIds', { max: RULE_LIMITS.maxChannels, allowEmpty: true }) ?? [],
    enabled: input.enabled ?? true,
    muted: input.muted ?? false,
  }
  switch (input.kind) {
    case 'enter':
    case 'leave':
      if (!given(input.placeId) || input.placeId.trim() === '')
        throw new AlertInputError('placeId', 'REQUIRED', `a ${input.kind} rule watches a place: give its id`)
      rule.placeId = input.placeId.trim().toLowerCase()
      if (given(input.hysteresisM))
        rule.hysteresisM = inRange(input.hysteresisM, 'hysteresisM', {
          ...RULE_LIMITS.hysteresisM,
          unit: 'm',
        })
      if (given(input.confirmations))
        rule.confirmations = inRange(input.confirmations, 'confirmations', {
          ...RULE_LIMITS.confirmations,
          integer: true,
        })
      break
    case 'not_seen':
      if (!given(input.notSeenSeconds))
        throw new AlertInputError(
          'notSeenSeconds',
          'REQUIRED',
          'a not_seen rule needs the duration, in seconds',
        )
      rule.notSeenSeconds = inRange(input.notSeenSeconds, 'notSeenSeconds', {
        ...RULE_LIMITS.notSeenSeconds,
        integer: true,
        unit: 's',
      })
      break
    case 'battery':
      if (!given(input.batteryAtOrBelow))
        throw new AlertInputError('batteryAtOrBelow', 'REQUIRED', 'a battery rule needs the level to fire at')
      if (!BATTERY_THRESHOLDS.includes(input.batteryAtOrBelow))
        throw new AlertInputError(
          'batteryAtOrBelow',
          'OUT_OF_RANGE',
          `must be one of ${BATTERY_THRESHOLDS.join(', ')} (a full battery never alerts)`,
        )
      rule.batteryAtOrBelow = input.batteryAtOrBelow
      break
  }
  return rule
}

/**
 * What updateAlertRule may change; left out: unchanged. The kind and the place are not: the alerts
 * a rule recorded name them, so a rule watching something else is a new rule.
 */
export type RulePatch = Partial<Omit<RuleInput, 'kind' | 'placeId'>> & {
  kind?: AlertRuleKind | null
  placeId?: string | null
}

/** The rule after a patch, checked whole. */
export function applyRulePatch(current: ValidRule, patch: RulePatch): ValidRule {
  if (given(patch.kind) && patch.kind !== current.kind)
    throw new AlertInputError('kind', 'NOT_CHANGEABLE', 'a rule keeps its kind: create a new rule instead')
  if (given(patch.placeId) && patch.placeId.trim().toLowerCase() !== current.placeId)
    throw new AlertInputError(
      'placeId',
      'NOT_CHANGEABLE',
      'a rule keeps its place: create a new rule instead',
    )
  const place = current.kind === 'enter' || current.kind === 'leave'
  return validateRule({
    name: patch.name ?? current.name,
    kind: current.kind,
    placeId: current.placeId,
    hysteresisM: patch.hysteresisM ?? (place ? current.hysteresisM : null),
    confirmations: patch.confirmations ?? (place ? current.confirmations : null),
    notSeenSeconds: patch.notSeenSeconds ?? current.notSeenSeconds,
    batteryAtOrBelow: patch.batteryAtOrBelow ?? current.batteryAtOrBelow,
    trackerIds: patch.trackerIds === undefined ? current.trackerIds : patch.trackerIds,
    channelIds: patch.channelIds ?? current.channelIds,
    enabled: patch.enabled ?? current.enabled,
    muted: patch.muted ?? current.muted,
  })
}
