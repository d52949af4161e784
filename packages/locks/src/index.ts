export * from './in-process-lock-service.ts'
export * from './lock-service.ts'
export * from './redis-keys.ts'
export * from './redis-lock-service.ts'
