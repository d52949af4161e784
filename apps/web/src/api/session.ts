import { ApiError, requestJson, SignedOutError } from './client.ts'

export interface Session {
  token: { id: string; name: string; scope: 'READ' | 'WRITE' | 'ADMIN' | string; trackerIds: string[] | null }
  expiresAt: string
}

export interface WebConfig {
  tiles: { url: string; attribution: string } | null
  sessionTtlSeconds: number
}

export const loadWebConfig = () => requestJson<WebConfig>('GET', '/web-config.json')

/** The current session, or null when signed out (an expired session is signed out too). */
export async function currentSession(): Promise<Session | null> {
  try {
    return await requestJson<Session>('GET', '/session')
  } catch (error) {
    if (error instanceof SignedOutError) return null
    throw error
  }
}

/** Exchanges an API token for a session cookie; the token is not kept anywhere by the page. */
export async function signIn(token: string): Promise<Session> {
  try {
    return await requestJson<Session>('POST', '/session', { token })
  } catch (error) {
    if (error instanceof SignedOutError)
      throw new ApiError('This token was refused: it is wrong, or it has been revoked.', error.code, 401)
    throw error
  }
}

export async function signOut(): Promise<void> {
  await requestJson<void>('DELETE', '/session')
}

export const canWrite = (session: Session) => session.token.scope !== 'READ'
