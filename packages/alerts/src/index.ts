// Places, rules, channels and the alert history (the API's side).

export type { KeysetPosition } from '@tracker/db'
export {
  CHANNEL_KINDS,
  CHANNEL_LIMITS,
  type ChannelInput,
  generateWebhookSecret,
  type ValidChannel,
  validateChannel,
  validateHttpUrl,
  validateMqttTopic,
  validateWebhookSecret,
} from './channels/channel.validation.ts'
export {
  type AlertDelivery,
  type AlertDeliverySettings,
  startAlertDelivery,
} from './deliver/alert-delivery.ts'
export { type AlertMessage, describeAlert } from './deliver/alert-message.ts'
export type { ChannelSender, SendResult } from './deliver/channels/channel-sender.ts'
export {
  type AlertsMqttSettings,
  createMqttSender,
  IDEMPOTENCY_PROPERTY,
  type MqttSender,
} from './deliver/channels/mqtt.channel.ts'
export { createNtfySender, type NtfyMessage, ntfyMessage } from './deliver/channels/ntfy.channel.ts'
export { createWebhookSender, signWebhook } from './deliver/channels/webhook.channel.ts'
export {
  Deliverer,
  type DelivererOptions,
  type DeliveryAttemptEvent,
  type DeliveryPass,
} from './deliver/deliverer.ts'
export {
  DeliveryWorker,
  type DeliveryWorkerOptions,
  type DeliveryWorkerStatus,
} from './deliver/delivery-worker.ts'
export { type BackoffPolicy, retryDelayMs } from './deliver/retry-backoff.ts'
export { queueEvaluation, type ReportSpan, spansOf } from './evaluate/alert-pending.repository.ts'
export type { EvaluationCounts } from './evaluate/evaluate-tracker.ts'
export { evaluateNotSeen, evaluatePending } from './evaluate/evaluator.ts'
export { EvaluatorLoop, type EvaluatorLoopOptions } from './evaluate/evaluator-loop.ts'
export { type PlaceGeometry, signedDistanceToPlace } from './evaluate/place-distance.ts'
export { deriveTransitions, type SidedReport, type Transition } from './evaluate/transitions.ts'
export * from './outbox/alert-outbox.repository.ts'
export type { AlertPayload } from './outbox/alert-payload.ts'
export {
  applyPlacePatch,
  type CircleInput,
  PLACE_LIMITS,
  type PlaceInput,
  type PlacePatch,
  type ValidPlace,
  validateCircle,
  validatePlace,
  validatePolygon,
} from './places/place.validation.ts'
export * from './repositories/alert-channel.repository.ts'
export * from './repositories/alert-history.repository.ts'
export * from './repositories/alert-place.repository.ts'
export * from './repositories/alert-rule.repository.ts'
export { checkRuleReferences } from './rules/rule.references.ts'
export {
  applyRulePatch,
  BATTERY_THRESHOLDS,
  RULE_KINDS,
  RULE_LIMITS,
  type RuleInput,
  type RulePatch,
  type ValidRule,
  validateRule,
} from './rules/rule.validation.ts'
export { AlertInputError, type AlertInputReason, isUuid } from './validation/alert-input-error.ts'
export { checkTrackersExist } from './validation/tracker-references.ts'
