/** Exponential backoff with jitter, capped: when the attempt after a failed one should come. */
export interface BackoffPolicy {
  /** The wait after the first failed attempt (before jitter); it doubles per attempt. */
  initialMs: number
  /** No wait is longer (Retry-After included). */
  maxMs: number
}

/**
 * The wait after failed attempt number `attempt` (1-based): initialMs · 2^(attempt−1), capped at
 * maxMs, with "equal jitter" (a random point in the upper half), so receivers that fail together
 * are not retried together. A receiver's Retry-After is honoured when it asks for longer, up to the cap.
 */
export function retryDelayMs(
  policy: BackoffPolicy,
  attempt: number,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, attempt - 1))
  const jittered = exponential / 2 + random() * (exponential / 2)
  const asked = retryAfterMs === undefined ? 0 : Math.min(policy.maxMs, retryAfterMs)
  return Math.round(Math.max(jittered, asked))
}
