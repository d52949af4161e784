import type { LiveState } from '../api/live.ts'
import { h } from './dom.ts'

const TEXT: Record<LiveState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  offline: 'Offline – polling',
}

const MEANING: Record<LiveState, string> = {
  connecting: 'Opening the live connection to the API.',
  live: 'Changes appear as they happen (live connection to the API).',
  offline:
    'The live connection is down: the page checks for changes every 30 seconds and reconnects on its own.',
}

/**
 * Whether changes show up as they happen or by polling. A status region, so a screen reader hears
 * the change; the words say it, the dot's colour only repeats them.
 */
export class LiveIndicator {
  readonly element = h('span', { id: 'live-status', className: 'live', attrs: { role: 'status' } })

  constructor() {
    this.show('connecting')
  }

  show(state: LiveState): void {
    this.element.dataset.state = state
    this.element.textContent = TEXT[state]
    this.element.title = MEANING[state]
  }
}
