export { type ApiDeps, buildApp } from './app.ts'
export { TOKENS_USAGE } from './cli/tokens-command.ts'
export {
  type ApiConfig,
  ApiConfigError,
  apiEnvSchema,
  describeConfig,
  parseApiEnv,
  parseDatabaseEnv,
} from './env.ts'
export type { ApiMetrics } from './http/metrics.ts'
export { copyText } from './repositories/embedded-copy.ts'
export { reportExportQuery } from './repositories/location-report.repository.ts'
export {
  type CreatedApiToken,
  createApiToken,
  hashToken,
  listApiTokens,
  revokeApiToken,
  TokenAuthenticator,
} from './services/api-tokens.ts'
export { createSignInLink, SESSION_COOKIE, SIGN_IN_LINK_TTL_MS } from './services/session.service.ts'
export { type RunningApi, startApi } from './start-api.ts'
