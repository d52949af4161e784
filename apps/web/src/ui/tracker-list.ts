import type { Tracker, TrackerStatus } from '../api/queries.ts'
import { BATTERY_LABEL, relativeTime, STATUS_LABEL, STATUS_MEANING } from '../format.ts'
import { h } from './dom.ts'

export interface TrackerListOptions {
  colourOf: (id: string) => string
  selected: Set<string>
  onSelectionChange: () => void
}

/** The list of trackers with their status, battery, last seen and city; filtered by name or status. */
export class TrackerList {
  readonly element: HTMLElement
  private readonly list = h('ul', { className: 'trackers', attrs: { 'aria-label': 'Trackers' } })
  private readonly nameFilter = h('input', { type: 'search', id: 'tracker-filter', placeholder: 'Name' })
  private readonly statusFilter = h('select', { id: 'status-filter' }, [
    h('option', { value: '' }, 'All statuses'),
    ...(Object.keys(STATUS_LABEL) as TrackerStatus[]).map((status) =>
      h('option', { value: status, title: STATUS_MEANING[status] }, STATUS_LABEL[status]),
    ),
  ])
  private readonly empty = h('p', { className: 'empty' })
  private trackers: Tracker[] = []

  private readonly options: TrackerListOptions

  constructor(options: TrackerListOptions) {
    this.options = options
    this.element = h(
      'section',
      { className: 'tracker-panel', attrs: { 'aria-labelledby': 'trackers-title' } },
      [
        h('h2', { id: 'trackers-title' }, 'Trackers'),
        h('div', { className: 'filters' }, [
          h('label', { htmlFor: 'tracker-filter' }, 'Filter by name'),
          this.nameFilter,
          h('label', { htmlFor: 'status-filter' }, 'Status'),
          this.statusFilter,
        ]),
        this.list,
        this.empty,
      ],
    )
    this.nameFilter.addEventListener('input', () => this.render())
    this.statusFilter.addEventListener('change', () => this.render())
  }

  update(trackers: Tracker[]): void {
    this.trackers = trackers
    this.render()
  }

  private render(): void {
    const name = this.nameFilter.value.trim().toLowerCase()
    const status = this.statusFilter.value
    const shown = this.trackers.filter(
      (t) => (!name || t.name.toLowerCase().includes(name)) && (!status || t.currentStatus === status),
    )
    // Live updates re-render the list at any moment: focus stays on the same tracker's checkbox.
    const focused = this.list.contains(document.activeElement) ? document.activeElement!.id : ''
    this.list.replaceChildren(...shown.map((tracker) => this.item(tracker)))
    if (focused) document.getElementById(focused)?.focus()
    this.empty.hidden = shown.length > 0
    this.empty.textContent =
      this.trackers.length === 0
        ? 'No trackers yet. Add one under Manage by uploading its key file (or: npm run importer -- trackers import <file>).'
        : 'No tracker matches this filter.'
  }

  private item(tracker: Tracker): HTMLElement {
    const id = `select-${tracker.id}`
    const checkbox = h('input', { type: 'checkbox', id, checked: this.options.selected.has(tracker.id) })
    checkbox.addEventListener('change', () => {
      if (checkbox.checked) this.options.selected.add(tracker.id)
      else this.options.selected.delete(tracker.id)
      this.options.onSelectionChange()
    })
    const status = h(
      'span',
      {
        className: `status status-${tracker.currentStatus.toLowerCase()}`,
        title: STATUS_MEANING[tracker.currentStatus],
        dataset: { status: tracker.currentStatus },
      },
      STATUS_LABEL[tracker.currentStatus],
    )
    const lastSeen = tracker.lastSeenAt
      ? h(
          'time',
          { dateTime: tracker.lastSeenAt, title: new Date(tracker.lastSeenAt).toLocaleString() },
          relativeTime(tracker.lastSeenAt),
        )
      : h('span', {}, 'never seen')
    const swatch = h('span', { className: 'swatch', attrs: { 'aria-hidden': 'true' } })
    swatch.style.background = this.options.colourOf(tracker.id)
    return h('li', { className: 'tracker', dataset: { trackerId: tracker.id } }, [
      checkbox,
      swatch,
      h('label', { htmlFor: id, className: 'tracker-name' }, tracker.name),
      status,
      h('span', { className: 'meta' }, [
        lastSeen,
        ' · ',
        h('span', { className: 'city' }, tracker.lastNearestCity ?? 'no city yet'),
        ' · ',
        h(
          'span',
          { className: 'battery' },
          tracker.battery ? BATTERY_LABEL[tracker.battery] : 'battery unknown',
        ),
      ]),
    ])
  }
}
