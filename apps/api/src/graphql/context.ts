import type { ApiTokenScope } from '@tracker/db'
import type { MercuriusContext } from 'mercurius'
import type { Services } from '../services/services.ts'

/** The token a request authenticated with; never the token itself. */
export interface AuthenticatedToken {
  id: string
  name: string
  scope: ApiTokenScope
  /** The trackers the token is limited to; null: every tracker. */
  trackerIds: readonly string[] | null
}

/** A list result that was cut at its limit: reported in the response's extensions.truncated. */
export interface Truncation {
  path: (string | number)[]
  limit: number
  endCursor: string | null
}

export interface GraphQLContext extends MercuriusContext {
  services: Services
  token: AuthenticatedToken | undefined
  /** One "now" per request, so a tracker's status and a status filter agree. */
  requestTime: Date
  requestId: string
  truncations: Truncation[]
}
