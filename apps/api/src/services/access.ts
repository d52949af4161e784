import type { ApiTokenScope } from '@tracker/db'
import { ForbiddenError } from '../errors.ts'
import type { AuthenticatedToken } from '../graphql/context.ts'

/** Each scope includes the ones before it: admin may do what write may, write what read may. */
const RANK: Record<ApiTokenScope, number> = { read: 0, write: 1, admin: 2 }

export function hasScope(token: AuthenticatedToken | undefined, scope: ApiTokenScope): boolean {
  return token !== undefined && RANK[token.scope] >= RANK[scope]
}

export function requireScope(
  token: AuthenticatedToken | undefined,
  scope: ApiTokenScope,
  what: string,
): void {
  if (!hasScope(token, scope)) {
    throw new ForbiddenError(
      `${what} needs a token with ${scope} scope; this token has ${token?.scope ?? 'no'} scope`,
    )
  }
}

/** The trackers the token may see and change; null: every tracker. */
export function visibleTrackers(token: AuthenticatedToken | undefined): readonly string[] | null {
  return token?.trackerIds ?? null
}

/**
 * A token limited to trackers may name only those: any other id (existing or not) is FORBIDDEN,
 * before anything is read, so a limited token learns nothing about other trackers.
 */
export function requireTracker(token: AuthenticatedToken | undefined, trackerId: string, what: string): void {
  const allowed = visibleTrackers(token)
  if (allowed && !allowed.includes(trackerId.toLowerCase())) {
    throw new ForbiddenError(`${what}: this token is limited to other trackers than ${trackerId}`)
  }
}

/** What concerns every tracker (the import ledger, creating trackers) is not for a limited token. */
export function requireAllTrackers(token: AuthenticatedToken | undefined, what: string): void {
  if (visibleTrackers(token)) {
    throw new ForbiddenError(`${what} needs a token that is not limited to chosen trackers`)
  }
}
