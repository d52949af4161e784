import type { AlertPayload } from '../outbox/alert-payload.ts'

/** A payload as people read it: a headline and a sentence or two (ntfy; anything else that wants text). */
export interface AlertMessage {
  title: string
  message: string
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

const pad = (n: number) => String(n).padStart(2, '0')
const timeOf = (d: Date) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`
const dayOf = (d: Date) => `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`
const at = (d: Date) => `${timeOf(d)} UTC on ${dayOf(d)}`

/** "between 10:02 and 10:31 UTC on 17 Dec 2026"; "by 10:31 UTC on …" when the start is unknown. */
export function describeInterval(after: Date | null, before: Date): string {
  if (!after) return `by ${at(before)}`
  if (dayOf(after) === dayOf(before)) return `between ${timeOf(after)} and ${at(before)}`
  return `between ${at(after)} and ${at(before)}`
}

/** 45 s, 12 min, 2 h, 3 days: rounded, as a notification says it. */
export function describeDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s < 90) return `${s} s`
  if (s < 90 * 60) return `${Math.round(s / 60)} min`
  if (s < 48 * 3600) return `${Math.round(s / 3600)} h`
  return `${Math.round(s / 86_400)} days`
}

/** The battery level a battery event's detail names, if it names one. */
function batteryLevel(detail: Record<string, unknown>): string | null {
  for (const key of ['battery', 'batteryLevel', 'level']) {
    const value = detail[key]
    if (typeof value === 'string' && value) return value
  }
  return null
}

/**
 * "Keys left Home between 10:02 and 10:31 UTC on 17 Dec 2026 — learnt 2 h later." In report time:
 * when it happened, and how late we learnt it (Find My reports arrive hours late). A cancellation
 * says that a later report showed the earlier alert was wrong.
 */
export function describeAlert(payload: AlertPayload): AlertMessage {
  const { event, tracker, rule } = payload
  const who = tracker.name
  const place = payload.place?.name ?? 'the place'
  const after = event.occurredAfter ? new Date(event.occurredAfter) : null
  const before = new Date(event.occurredBefore)
  const when = describeInterval(after, before)
  const learnt = event.lateBySeconds >= 60 ? ` — learnt ${describeDuration(event.lateBySeconds)} later` : ''
  const level = batteryLevel(event.detail) ?? 'low'
  const ruleLine = `Rule: ${rule.name}`

  let headline: string
  let happened: string
  let undone: string
  switch (event.kind) {
    case 'enter':
      headline = `${who} arrived at ${place}`
      happened = `${who} arrived at ${place} ${when}`
      undone = `${who} did not arrive at ${place} ${when} after all`
      break
    case 'leave':
      headline = `${who} left ${place}`
      happened = `${who} left ${place} ${when}`
      undone = `${who} did not leave ${place} ${when} after all`
      break
    case 'not_seen': {
      const quiet = after ? describeDuration((before.getTime() - after.getTime()) / 1000) : null
      headline = quiet ? `${who} not seen for ${quiet}` : `${who} not seen`
      happened = after
        ? `${who} has not been seen since ${at(after)} (${quiet} by ${at(before)})`
        : `${who} has not been seen by ${at(before)}`
      undone = `${who} was seen again before ${at(before)}: it was not missing after all`
      break
    }
    case 'battery':
      headline = `${who}: battery ${level}`
      happened = `${who} reported its battery ${level} ${when}`
      undone = `${who}'s battery was not ${level} ${when} after all`
      break
  }

  if (payload.type === 'alert.cancelled') {
    const reason = event.cancelReason ? ` (${event.cancelReason})` : ''
    return {
      title: `Cancelled: ${headline}`,
      message: `A later report showed that ${undone}${reason}; the earlier alert is withdrawn.\n${ruleLine}`,
    }
  }
  return { title: headline, message: `${happened}${learnt}.\n${ruleLine}` }
}
