import type { SendResult } from './channel-sender.ts'

export const USER_AGENT = 'tracker-alerts/0.1'

/** Longest part of a failing answer's body kept in the attempt's error. */
const ERROR_BODY_CHARS = 300

/**
 * POSTs `body` and classifies the answer the Standard Webhooks way (www.standardwebhooks.com,
 * "Delivery success and failure"): 2xx delivered; 3xx failed (redirects are not followed: the
 * channel's URL should be the final one); 410 Gone given up at once (the receiver says it wants no
 * more); anything else, timeouts and network errors retried, with Retry-After honoured on 429 and
 * 503. Other 4xx are retried too, within the attempt limit: 401, 403 or 404 are usually a receiver
 * being set up or a secret being rotated, which the owner fixes while the retries run.
 */
export async function postJson(
  url: string | null,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<SendResult> {
  if (!url) return { ok: false, error: 'the channel has no URL' }
  let target: URL
  try {
    target = new URL(url)
  } catch {
    return { ok: false, error: 'the channel URL is not a URL' }
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:')
    return { ok: false, error: `the channel URL must be http(s), not ${target.protocol}` }
  let response: Response
  const signal = AbortSignal.timeout(timeoutMs)
  try {
    response = await fetch(target, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'user-agent': USER_AGENT, ...headers },
      redirect: 'manual',
      signal,
    })
  } catch (error) {
    return { ok: false, error: fetchError(error, signal, timeoutMs) }
  }
  const status = response.status
  let text = ''
  try {
    text = status >= 200 && status < 300 ? '' : (await response.text()).slice(0, ERROR_BODY_CHARS)
  } catch {
    // The status decides; a body cut off (or timed out) after it adds nothing.
  } finally {
    await response.body?.cancel().catch(() => {})
  }
  if (status >= 200 && status < 300) return { ok: true, statusCode: status }
  const said = text.trim() ? `: ${text.trim().replace(/\s+/g, ' ')}` : ''
  if (status >= 300 && status < 400) {
    const location = response.headers.get('location')
    return {
      ok: false,
      statusCode: status,
      error: `HTTP ${status} redirect${location ? ` to ${location}` : ''}: redirects are not followed, set the channel's URL to the final one`,
    }
  }
  const retryAfterMs =
    status === 429 || status === 503 ? parseRetryAfter(response.headers.get('retry-after')) : undefined
  return {
    ok: false,
    statusCode: status,
    error: `HTTP ${status}${said}`,
    ...(status === 410 ? { permanent: true } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  }
}

function fetchError(error: unknown, signal: AbortSignal, timeoutMs: number): string {
  if (signal.aborted) return `no answer within ${timeoutMs} ms`
  const cause = (error as { cause?: { code?: string; message?: string } }).cause
  const detail = cause?.code ?? cause?.message
  return `${(error as Error).message}${detail ? ` (${detail})` : ''}`
}

/** Retry-After as milliseconds from now: delay-seconds or an HTTP-date (RFC 9110 10.2.3). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  // An HTTP-date names its day and month ("Thu, 17 Dec 2026 10:01:30 GMT").
  if (!/[a-z]{3}/i.test(trimmed)) return undefined
  const at = Date.parse(trimmed)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}
