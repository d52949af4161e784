export type { AlertPayload } from './outbox/alert-payload.ts'
