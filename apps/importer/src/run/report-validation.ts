import type { DecryptedReport } from '@tracker/findmy'

export type ValidationRejection = 'future_timestamp' | 'older_than_safe_horizon'

export interface ValidationLimits {
  now: Date
  /** Reports later than now + skew are from a broken clock or a forged payload. */
  clockSkewMs: number
  /**
   * Reports older than this horizon would land where raw retention may have dropped chunks; a refresh
   * there would rebuild the day's bucket from them alone and overwrite the real daily history.
   */
  safeLateHorizonMs: number
}

/** null: the report may be stored; otherwise why it may not. */
export function validateReport(
  report: DecryptedReport,
  limits: ValidationLimits,
): ValidationRejection | null {
  const t = report.timestamp.getTime()
  if (t > limits.now.getTime() + limits.clockSkewMs) return 'future_timestamp'
  if (t < limits.now.getTime() - limits.safeLateHorizonMs) return 'older_than_safe_horizon'
  return null
}
