import type { AlertRuleKind, OutboxAction } from '@tracker/db'

/**
 * The JSON every channel delivers (the webhook's body, the MQTT message, the source of ntfy's text):
 * what happened, in report time, and how late we learnt it. Built in the evaluation's transaction
 * and stored in the outbox, so a retry sends exactly what the first attempt sent.
 */
export interface AlertPayload {
  /** alert.fired: a transition; alert.cancelled: a later report showed an earlier one did not happen. */
  type: `alert.${OutboxAction}`
  event: {
    id: string
    kind: AlertRuleKind
    /** ISO 8601 UTC. The last report in the old state (null: none known). */
    occurredAfter: string | null
    /** The first report in the new state (not_seen: last seen + the rule's duration). */
    occurredBefore: string
    /** When the evaluator learnt it. */
    detectedAt: string
    /** detectedAt − occurredBefore, in whole seconds (never negative). */
    lateBySeconds: number
    latitude: number | null
    longitude: number | null
    /** Why it was cancelled (alert.cancelled only). */
    cancelReason: string | null
    /** Kind-specific facts: battery level, distance to the place, last seen, … */
    detail: Record<string, unknown>
  }
  rule: { id: string; name: string; kind: AlertRuleKind }
  tracker: { id: string; name: string }
  place: { id: string; name: string } | null
}
