import type { AlertEvent, OutboxAction } from '@tracker/db'
import type { AlertPayload } from './alert-payload.ts'

export interface PayloadContext {
  rule: { id: string; name: string; kind: AlertEvent['kind'] }
  tracker: { id: string; name: string }
  place: { id: string; name: string } | null
}

/** The payload of an event's firing or cancellation, as every channel delivers it. */
export function buildPayload(action: OutboxAction, event: AlertEvent, context: PayloadContext): AlertPayload {
  return {
    type: `alert.${action}`,
    event: {
      id: event.id,
      kind: event.kind,
      occurredAfter: event.occurred_after?.toISOString() ?? null,
      occurredBefore: event.occurred_before.toISOString(),
      detectedAt: event.detected_at.toISOString(),
      lateBySeconds: Math.max(
        0,
        Math.round((event.detected_at.getTime() - event.occurred_before.getTime()) / 1000),
      ),
      latitude: event.latitude,
      longitude: event.longitude,
      cancelReason: event.cancel_reason,
      detail: event.detail,
    },
    rule: context.rule,
    tracker: context.tracker,
    place: context.place,
  }
}
