import type { HistoryPoint, Tracker } from '../api/queries.ts'
import { BATTERY_LABEL, formatMeters, formatTime, relativeTime, STATUS_LABEL } from '../format.ts'
import { h } from '../ui/dom.ts'

/** A history point's popup: built as DOM nodes, never HTML strings (names come from users). */
export function pointPopup(tracker: Tracker, point: HistoryPoint): HTMLElement {
  const hourly = point.resolution === 'HOUR'
  return h('div', { className: 'popup', dataset: { pointId: point.id } }, [
    h('strong', {}, tracker.name),
    h('dl', {}, [
      h('dt', {}, 'Time'),
      h('dd', { dataset: { field: 'time' } }, formatTime(point.timestamp, point.resolution)),
      h('dt', {}, 'City'),
      h('dd', { dataset: { field: 'city' } }, point.nearestCity ?? 'unknown'),
      h('dt', {}, 'Reports'),
      h('dd', { dataset: { field: 'reports' } }, String(point.reportCount)),
      h('dt', {}, 'Accuracy'),
      h('dd', { dataset: { field: 'accuracy' } }, formatMeters(point.accuracy)),
      h('dt', {}, 'Resolution'),
      h('dd', { dataset: { field: 'resolution' } }, hourly ? 'Hourly point' : 'Daily point'),
    ]),
  ])
}

export function trackerPopup(tracker: Tracker): HTMLElement {
  return h('div', { className: 'popup' }, [
    h('strong', {}, tracker.name),
    h('dl', {}, [
      h('dt', {}, 'Status'),
      h('dd', {}, STATUS_LABEL[tracker.currentStatus]),
      h('dt', {}, 'Last seen'),
      h('dd', {}, tracker.lastSeenAt ? relativeTime(tracker.lastSeenAt) : 'never'),
      h('dt', {}, 'City'),
      h('dd', {}, tracker.lastNearestCity ?? 'unknown'),
      h('dt', {}, 'Battery'),
      h('dd', {}, tracker.battery ? BATTERY_LABEL[tracker.battery] : 'not reported'),
    ]),
  ])
}
