import type { Alert, AlertDelivery } from '../api/alert-queries.ts'

/** "45 s", "20 min", "3 h 5 min", "2 days 4 h": the two largest units, for how late or how long. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s} s`
  const minutes = Math.floor(s / 60)
  if (minutes < 60) return `${minutes} min`
  const hours = Math.floor(minutes / 60)
  if (hours < 24) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`
  const days = Math.floor(hours / 24)
  const dayWord = days === 1 ? 'day' : 'days'
  return hours % 24 === 0 ? `${days} ${dayWord}` : `${days} ${dayWord} ${hours % 24} h`
}

const BATTERY_WORD = { OK: 'OK', MEDIUM: 'medium', LOW: 'low', CRITICAL: 'critical' } as const

/** What happened, in words: "Bike left Home", "Bike not seen for 1 day". */
export function alertHeadline(alert: Alert): string {
  const place = alert.place?.name ?? 'its place'
  switch (alert.kind) {
    case 'ENTER':
      return `${alert.tracker.name} entered ${place}`
    case 'LEAVE':
      return `${alert.tracker.name} left ${place}`
    case 'NOT_SEEN':
      return alert.rule.notSeenSeconds
        ? `${alert.tracker.name} not seen for ${formatDuration(alert.rule.notSeenSeconds)}`
        : `${alert.tracker.name} not seen`
    case 'BATTERY':
      return alert.rule.batteryAtOrBelow
        ? `${alert.tracker.name}: battery ${BATTERY_WORD[alert.rule.batteryAtOrBelow]} or lower`
        : `${alert.tracker.name}: battery low`
  }
}

/** Date and time with the zone's name, in the browser's zone (or the one given, for tests). */
function dateTimeFormat(timeZone?: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    timeZoneName: 'short',
    ...(timeZone ? { timeZone } : {}),
  })
}

/**
 * When it happened, as the interval the reports allow: "between <after> and <before>" (the range
 * written once where the two share a day), or "by <before>" when nothing earlier is known.
 */
export function formatInterval(after: string | null, before: string, timeZone?: string): string {
  const format = dateTimeFormat(timeZone)
  const end = new Date(before)
  if (!after) return `by ${format.format(end)}`
  const start = new Date(after)
  if (start.getTime() === end.getTime()) return `at ${format.format(end)}`
  return `between ${format.formatRange(start, end)}`
}

/** How late it was learnt: the Find My network hands reports over hours after they were made. */
export function lateText(lateBySeconds: number): string {
  return lateBySeconds < 60 ? 'learnt within a minute' : `learnt ${formatDuration(lateBySeconds)} later`
}

const CHANNEL_WORD = { WEBHOOK: 'webhook', NTFY: 'ntfy', MQTT: 'MQTT' } as const

/** One delivery's state: "Phone (ntfy): gave up after 8 attempts: connect ECONNREFUSED". */
export function deliveryText(delivery: AlertDelivery): string {
  const what = delivery.action === 'CANCELLED' ? 'cancellation ' : ''
  const attempts = `${delivery.attempts} attempt${delivery.attempts === 1 ? '' : 's'}`
  let state: string
  switch (delivery.status) {
    case 'DELIVERED':
      state = `${what}delivered${delivery.attempts > 1 ? ` after ${attempts}` : ''}`
      break
    case 'FAILED':
      state = `${what}gave up after ${attempts}${delivery.lastError ? `: ${delivery.lastError}` : ''}`
      break
    case 'PENDING':
      state =
        delivery.attempts === 0
          ? `${what}pending`
          : `${what}retrying (${attempts} so far${delivery.lastError ? `: ${delivery.lastError}` : ''})`
      break
  }
  return `${delivery.channelName} (${CHANNEL_WORD[delivery.channelKind]}): ${state}`
}
