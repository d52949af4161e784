import { ApiUnreachableError, SignedOutError } from '../api/client.ts'
import { listTrackers, type Tracker } from '../api/queries.ts'
import { canWrite, currentSession, type Session, signOut, type WebConfig } from '../api/session.ts'
import { trackColour } from '../format.ts'
import { loadHistories, MAX_POINTS_PER_TRACKER } from '../history/load-history.ts'
import { historyRequests } from '../history/ranges.ts'
import { type DrawnTrack, MapView } from '../map/map-view.ts'
import { h } from './dom.ts'
import { HistoryPanel } from './history-panel.ts'
import { ManageView } from './manage.ts'
import { RangePicker } from './range-picker.ts'
import { TrackerList } from './tracker-list.ts'

const TRACKERS_EVERY_MS = 30_000
const HISTORY_EVERY_MS = 60_000
const RETRY_EVERY_MS = 5_000
/** Up to this many trackers, the page opens with every one's history drawn; more open on the overview. */
const OPEN_WITH_ALL_UP_TO = 10

/** Resolves once the browser has painted what was drawn before the call. */
const nextPaint = () =>
  new Promise<void>((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve())))

/**
 * The signed-in app: the map with the tracker list, range and history; the manage view. Errors never
 * throw away the page: an unreachable API shows a banner and retries, an ended session returns to
 * the sign-in form.
 */
export class App {
  private readonly selected = new Set<string>()
  private trackers: Tracker[] = []
  private readonly colours = new Map<string, string>()
  private readonly banner = h('div', { id: 'connection', className: 'banner', attrs: { role: 'alert' } })
  private readonly mapElement = h('div', {
    id: 'map',
    dataset: { state: 'overview', points: '0' },
    attrs: { role: 'region', 'aria-label': 'Map' },
  })
  private readonly list: TrackerList
  private readonly picker: RangePicker
  private readonly panel: HistoryPanel
  private readonly manage: ManageView
  private readonly mapTab: HTMLElement
  private map!: MapView
  private generation = 0
  private timers: number[] = []
  private retrying = false
  private stopped = false
  private firstOverview = true

  private readonly root: HTMLElement
  private readonly config: WebConfig
  private readonly session: Session
  private readonly onSignedOut: (notice: string) => void

  constructor(root: HTMLElement, config: WebConfig, session: Session, onSignedOut: (notice: string) => void) {
    this.root = root
    this.config = config
    this.session = session
    this.onSignedOut = onSignedOut
    this.banner.hidden = true
    this.list = new TrackerList({
      colourOf: (id) => this.colourOf(id),
      selected: this.selected,
      onSelectionChange: () => void this.showHistory(true),
    })
    this.picker = new RangePicker(() => void this.showHistory(true))
    this.panel = new HistoryPanel({
      fit: () => this.map.fitToTracks(),
      openPoint: (trackerId, pointId) => this.map.openPoint(trackerId, pointId),
      playback: (time) => this.map.setPlaybackTime(time),
    })
    this.manage = new ManageView({
      canWrite: canWrite(session),
      onError: (error) => this.handleError(error),
      onTrackersChanged: () => this.refreshTrackers(),
    })
    const selectAll = h('button', { type: 'button', id: 'select-all' }, 'Show all')
    selectAll.addEventListener('click', () => {
      for (const tracker of this.trackers) this.selected.add(tracker.id)
      this.list.update(this.trackers)
      void this.showHistory(true)
    })
    const clear = h('button', { type: 'button', id: 'select-none' }, 'Clear')
    clear.addEventListener('click', () => {
      this.selected.clear()
      this.list.update(this.trackers)
      void this.showHistory(true)
    })
    this.mapTab = h('div', { className: 'map-tab' }, [
      h('aside', { className: 'sidebar' }, [
        this.list.element,
        h('div', { className: 'row' }, [selectAll, clear]),
        this.picker.element,
        this.panel.element,
      ]),
      this.mapElement,
    ])
  }

  async start(): Promise<void> {
    const mapButton = h('button', { type: 'button', attrs: { 'aria-pressed': 'true' } }, 'Map')
    const manageButton = h('button', { type: 'button', attrs: { 'aria-pressed': 'false' } }, 'Manage')
    const manageTab = h('div', { className: 'manage-tab' }, this.manage.element)
    manageTab.hidden = true
    const showTab = (manage: boolean) => {
      mapButton.setAttribute('aria-pressed', String(!manage))
      manageButton.setAttribute('aria-pressed', String(manage))
      this.mapTab.hidden = manage
      manageTab.hidden = !manage
      if (manage) void this.manage.refreshRuns()
      else this.map.invalidateSize()
    }
    mapButton.addEventListener('click', () => showTab(false))
    manageButton.addEventListener('click', () => showTab(true))
    const signOutButton = h('button', { type: 'button', id: 'sign-out' }, 'Sign out')
    signOutButton.addEventListener('click', async () => {
      try {
        await signOut()
        this.stop()
        this.onSignedOut('Signed out.')
      } catch (error) {
        this.handleError(error)
      }
    })
    this.root.replaceChildren(
      h('header', { className: 'top' }, [
        h('h1', {}, 'Tracker'),
        h('nav', { attrs: { 'aria-label': 'Views' } }, [mapButton, manageButton]),
        h(
          'span',
          { className: 'who', title: `Session ends ${new Date(this.session.expiresAt).toLocaleString()}` },
          this.session.token.name,
        ),
        signOutButton,
      ]),
      this.banner,
      h('main', {}, [this.mapTab, manageTab]),
    )
    this.map = new MapView(this.mapElement, this.config)
    await this.refreshTrackers()
    // A small fleet opens on its last day's tracks, all of them: what most visits come to see.
    if (this.trackers.length > 0 && this.trackers.length <= OPEN_WITH_ALL_UP_TO) {
      for (const tracker of this.trackers) this.selected.add(tracker.id)
      this.list.update(this.trackers)
      void this.showHistory(true)
    }
    this.timers.push(
      window.setInterval(() => void this.refreshTrackers(), TRACKERS_EVERY_MS),
      window.setInterval(() => {
        if (this.selected.size > 0 && this.picker.preset !== 'custom') void this.showHistory(false)
      }, HISTORY_EVERY_MS),
    )
  }

  private colourOf(id: string): string {
    let colour = this.colours.get(id)
    if (!colour) {
      colour = trackColour(this.colours.size)
      this.colours.set(id, colour)
    }
    return colour
  }

  async refreshTrackers(): Promise<void> {
    try {
      this.trackers = await listTrackers()
      for (const id of this.selected) if (!this.trackers.some((t) => t.id === id)) this.selected.delete(id)
      this.list.update(this.trackers)
      this.manage.showTrackers(this.trackers)
      this.map.showOverview(
        this.trackers,
        (id) => this.colourOf(id),
        this.firstOverview && this.selected.size === 0,
      )
      this.firstOverview = false
    } catch (error) {
      this.handleError(error)
    }
  }

  /** Loads and draws the selected trackers' history over the chosen range; `fit` zooms to it. */
  async showHistory(fit: boolean): Promise<void> {
    const generation = ++this.generation
    const range = this.picker.current()
    const chosen = this.trackers.filter((t) => this.selected.has(t.id))
    if (chosen.length === 0 || !range) {
      this.map.clearHistory()
      this.map.setOverviewVisible(true)
      this.panel.show(
        [],
        null,
        chosen.length === 0 ? 'Pick one or more trackers to see their history.' : 'Choose the dates.',
      )
      Object.assign(this.mapElement.dataset, { state: 'overview', points: '0' })
      return
    }
    performance.clearMarks()
    performance.clearMeasures()
    performance.mark('history-requested')
    this.mapElement.dataset.state = 'loading'
    this.panel.show(
      [],
      range,
      `Loading ${chosen.length === 1 ? chosen[0]!.name : `${chosen.length} trackers`}…`,
    )
    try {
      const histories = await loadHistories(new Map(chosen.map((t) => [t.id, historyRequests(t.id, range)])))
      if (generation !== this.generation) return
      performance.mark('history-fetched')
      const tracks: DrawnTrack[] = histories.map((history, index) => ({
        tracker: chosen[index]!,
        colour: this.colourOf(history.trackerId),
        points: history.points,
      }))
      this.map.setOverviewVisible(false)
      const drawn = this.map.showHistory(tracks)
      if (fit) this.map.fitToTracks()
      const cut = histories.filter((h) => h.cut).map((h) => chosen.find((t) => t.id === h.trackerId)!.name)
      this.panel.show(tracks, range)
      if (cut.length > 0) {
        this.panel.warn(
          `Cut: ${cut.join(', ')} had more than ${MAX_POINTS_PER_TRACKER} points in this range; the oldest ${MAX_POINTS_PER_TRACKER} are shown. Choose a shorter range for the rest.`,
        )
      }
      await nextPaint()
      if (generation !== this.generation) return
      performance.mark('history-drawn')
      performance.measure('history', 'history-requested', 'history-drawn')
      performance.measure('history-fetch', 'history-requested', 'history-fetched')
      Object.assign(this.mapElement.dataset, { state: 'drawn', points: String(drawn) })
    } catch (error) {
      if (generation !== this.generation) return
      this.mapElement.dataset.state = 'error'
      this.panel.show([], range, 'The history could not be loaded.')
      this.handleError(error)
    }
  }

  /** An ended session returns to sign-in; an unreachable API shows the banner and retries. */
  handleError(error: unknown): void {
    if (this.stopped) return
    if (error instanceof SignedOutError) {
      this.stop()
      this.onSignedOut(
        error.code === 'SESSION_EXPIRED'
          ? 'Your session expired: sign in again.'
          : 'Your session has ended: sign in again.',
      )
      return
    }
    if (error instanceof ApiUnreachableError) {
      this.banner.textContent = `${error.message} Retrying…`
      this.banner.hidden = false
      void this.retry()
      return
    }
    this.banner.textContent = (error as Error).message || 'Something went wrong.'
    this.banner.hidden = false
  }

  private async retry(): Promise<void> {
    if (this.retrying) return
    this.retrying = true
    while (!this.stopped) {
      await new Promise((resolve) => setTimeout(resolve, RETRY_EVERY_MS))
      try {
        const session = await currentSession()
        if (!session) {
          this.handleError(new SignedOutError('signed out'))
          break
        }
        this.banner.hidden = true
        await this.refreshTrackers()
        break
      } catch {
        // Still unreachable: the banner stays, the next attempt follows.
      }
    }
    this.retrying = false
  }

  stop(): void {
    this.stopped = true
    for (const timer of this.timers) window.clearInterval(timer)
    this.timers = []
  }
}
