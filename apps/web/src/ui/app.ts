import { ApiUnreachableError, SignedOutError } from '../api/client.ts'
import { type HistoryChange, LiveUpdates, subscribeHistory, subscribeTrackers } from '../api/live.ts'
import { listTrackers, type Tracker } from '../api/queries.ts'
import { canWrite, currentSession, type Session, signOut, type WebConfig } from '../api/session.ts'
import { coalesce } from '../coalesce.ts'
import { trackColour } from '../format.ts'
import { loadHistories, MAX_POINTS_PER_TRACKER } from '../history/load-history.ts'
import { historyRequests } from '../history/ranges.ts'
import { type DrawnTrack, MapView } from '../map/map-view.ts'
import { AlertsView } from './alerts-view.ts'
import { h } from './dom.ts'
import { HistoryPanel } from './history-panel.ts'
import { LiveIndicator } from './live-indicator.ts'
import { ManageView } from './manage.ts'
import { RangePicker } from './range-picker.ts'
import { TrackerList } from './tracker-list.ts'

/** Polling, for while the live connection is down. */
const TRACKERS_EVERY_MS = 30_000
const HISTORY_EVERY_MS = 60_000
/**
 * While live, the polls still run this rarely: what changes with the clock alone sends no event (a
 * status going from ACTIVE to STALE, "5 minutes ago", a relative range moving on), nor does a
 * tracker deleted elsewhere.
 */
const LIVE_POLL_EVERY_MS = 5 * 60_000
/** Events within this long become one reload (an import sends one per tracker). */
const LIVE_RELOAD_DELAY_MS = 250
const RETRY_EVERY_MS = 5_000
/**
 * Shown trackers whose history is followed live, at most. The API allows a token
 * API_SUBSCRIPTION_MAX_PER_TOKEN (100 by default) subscriptions across all its sockets, other tabs
 * and clients included; beyond this the history is polled.
 */
const MAX_LIVE_HISTORIES = 20
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
  private readonly alerts: AlertsView
  private readonly mapTab: HTMLElement
  private map!: MapView
  private generation = 0
  private timers: number[] = []
  private retrying = false
  private stopped = false
  private firstOverview = true
  private readonly live: LiveUpdates
  private readonly indicator = new LiveIndicator()
  /** historyChanged subscriptions of shown trackers, by tracker id. */
  private readonly historyFeeds = new Map<string, () => void>()
  /** Shown trackers the API refused to follow (e.g. TOO_MANY_SUBSCRIPTIONS): polled instead. */
  private readonly historyRefused = new Set<string>()
  /** Tracker lists being fetched. */
  private trackersInFlight = 0
  private trackersLoadedAt = 0
  private historyLoadedAt = 0
  private historyLoading = false
  /** A reload was asked for while one ran or during playback: it runs once that is over. */
  private historyPending = false
  /** The load the user asked for zooms to the tracks: a reload that replaces it does too. */
  private fitPending = false
  private readonly trackersReload = coalesce(() => this.refreshTrackers(), LIVE_RELOAD_DELAY_MS)
  private readonly trackersRender = coalesce(() => this.showTrackers(), LIVE_RELOAD_DELAY_MS)
  private readonly historyReload = coalesce(() => this.reloadHistory(), LIVE_RELOAD_DELAY_MS)

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
      playback: (time) => {
        this.map.setPlaybackTime(time)
        // Back at the end of the track: a reload held back while the user looked at the past runs.
        if (time === null && this.historyPending) this.historyReload.schedule()
      },
    })
    this.manage = new ManageView({
      canWrite: canWrite(session),
      onError: (error) => this.handleError(error),
      onTrackersChanged: () => this.refreshTrackers(),
    })
    this.alerts = new AlertsView({
      config,
      session,
      canWrite: canWrite(session),
      onError: (error) => this.handleError(error),
    })
    this.live = new LiveUpdates({
      onState: (state) => this.indicator.show(state),
      onConnected: () => {
        // Whatever changed while the socket was down sent events nobody heard: refetch what is shown.
        this.historyRefused.clear()
        this.syncHistoryFeeds()
        this.trackersReload.schedule()
        if (this.selected.size > 0) this.historyReload.schedule()
      },
      onSignedOut: (error) => this.handleError(error),
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
    const alertsButton = h('button', { type: 'button', attrs: { 'aria-pressed': 'false' } }, 'Alerts')
    const alertsTab = this.alerts.element
    alertsTab.hidden = true
    const showTab = (tab: 'map' | 'manage' | 'alerts') => {
      mapButton.setAttribute('aria-pressed', String(tab === 'map'))
      manageButton.setAttribute('aria-pressed', String(tab === 'manage'))
      alertsButton.setAttribute('aria-pressed', String(tab === 'alerts'))
      this.mapTab.hidden = tab !== 'map'
      manageTab.hidden = tab !== 'manage'
      alertsTab.hidden = tab !== 'alerts'
      if (tab === 'alerts') this.alerts.show()
      else this.alerts.hide()
      if (tab === 'manage') void this.manage.refreshRuns()
      if (tab === 'map') this.map.invalidateSize()
    }
    mapButton.addEventListener('click', () => showTab('map'))
    manageButton.addEventListener('click', () => showTab('manage'))
    alertsButton.addEventListener('click', () => showTab('alerts'))
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
        h('nav', { attrs: { 'aria-label': 'Views' } }, [mapButton, alertsButton, manageButton]),
        h(
          'span',
          { className: 'who', title: `Session ends ${new Date(this.session.expiresAt).toLocaleString()}` },
          this.session.token.name,
        ),
        this.indicator.element,
        signOutButton,
      ]),
      this.banner,
      h('main', {}, [this.mapTab, alertsTab, manageTab]),
    )
    this.map = new MapView(this.mapElement, this.config)
    // Connected before the first load, so what changes during it is heard (or refetched on connect).
    subscribeTrackers(
      this.live,
      (tracker) => this.trackerUpdated(tracker),
      (errors) => console.warn('live tracker updates refused: polling', errors),
    )
    this.live.start()
    await this.refreshTrackers()
    // A small fleet opens on its last day's tracks, all of them: what most visits come to see.
    if (this.trackers.length > 0 && this.trackers.length <= OPEN_WITH_ALL_UP_TO) {
      for (const tracker of this.trackers) this.selected.add(tracker.id)
      this.list.update(this.trackers)
      void this.showHistory(true)
    }
    // The polls: the fallback while the socket is down, and rare while it is up (LIVE_POLL_EVERY_MS).
    this.timers.push(
      window.setInterval(() => {
        if (this.pollDue(this.trackersLoadedAt, this.live.state === 'live')) this.trackersReload.schedule()
      }, TRACKERS_EVERY_MS),
      window.setInterval(() => {
        if (this.selected.size === 0 || this.picker.preset === 'custom') return
        if (this.pollDue(this.historyLoadedAt, this.historyIsLive())) this.historyReload.schedule()
      }, HISTORY_EVERY_MS),
    )
  }

  private pollDue(loadedAt: number, live: boolean): boolean {
    return !live || Date.now() - loadedAt >= LIVE_POLL_EVERY_MS
  }

  /** The socket is up and every shown tracker's history is followed on it. */
  private historyIsLive(): boolean {
    if (this.live.state !== 'live') return false
    for (const id of this.selected) if (!this.historyFeeds.has(id)) return false
    return true
  }

  /** Follows the history of the shown trackers (up to MAX_LIVE_HISTORIES), and no other. */
  private syncHistoryFeeds(): void {
    const wanted = new Set([...this.selected].slice(0, MAX_LIVE_HISTORIES))
    for (const [id, stop] of this.historyFeeds) {
      if (wanted.has(id)) continue
      stop()
      this.historyFeeds.delete(id)
    }
    for (const id of this.historyRefused) if (!this.selected.has(id)) this.historyRefused.delete(id)
    for (const id of wanted) {
      if (this.historyFeeds.has(id) || this.historyRefused.has(id)) continue
      const stop = subscribeHistory(
        this.live,
        id,
        (change) => this.historyChanged(change),
        (errors) => {
          this.historyFeeds.delete(id)
          this.historyRefused.add(id)
          console.warn(`live history of ${id} refused: polling`, errors)
        },
      )
      this.historyFeeds.set(id, stop)
    }
  }

  /** A tracker's new state, straight from the event; one the page does not know yet reloads the list. */
  private trackerUpdated(tracker: Tracker): void {
    const index = this.trackers.findIndex((t) => t.id === tracker.id)
    if (index < 0) {
      // New: its place in the list is the API's order.
      this.trackersReload.schedule()
      return
    }
    this.trackers[index] = tracker
    this.trackersRender.schedule()
    // A list being fetched may predate this event: fetch once more after it.
    if (this.trackersInFlight > 0) this.trackersReload.schedule()
  }

  /** Reloads the shown history when the changed window is in the shown range. */
  private historyChanged(change: HistoryChange): void {
    if (!this.selected.has(change.trackerId)) return
    const range = this.picker.current()
    if (!range) return
    if (!change.refetch && change.from && change.to) {
      const from = Date.parse(change.from)
      const to = Date.parse(change.to)
      if (to <= range.from.getTime() || from >= range.to.getTime()) return
    }
    this.historyReload.schedule()
  }

  /**
   * The shown range again (the page draws whole ranges; a relative one has moved on since), held
   * back while a load runs or the user plays the track back.
   */
  private async reloadHistory(): Promise<void> {
    if (this.selected.size === 0) return
    if (this.historyLoading || this.panel.playingBack) {
      this.historyPending = true
      return
    }
    this.historyPending = false
    await this.showHistory(this.fitPending, true)
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
    this.trackersInFlight++
    const startedAt = Date.now()
    try {
      const trackers = await listTrackers()
      // An older load answering after a newer one has nothing to add.
      if (startedAt < this.trackersLoadedAt) return
      this.trackers = trackers
      this.trackersLoadedAt = startedAt
      for (const id of this.selected) if (!this.trackers.some((t) => t.id === id)) this.selected.delete(id)
      this.syncHistoryFeeds()
      this.showTrackers()
    } catch (error) {
      this.handleError(error)
    } finally {
      this.trackersInFlight--
    }
  }

  private showTrackers(): void {
    this.list.update(this.trackers)
    this.manage.showTrackers(this.trackers)
    this.map.showOverview(
      this.trackers,
      (id) => this.colourOf(id),
      this.firstOverview && this.selected.size === 0,
    )
    this.firstOverview = false
  }

  /**
   * Loads and draws the selected trackers' history over the chosen range; `fit` zooms to it. A
   * `reload` (an event, a poll) keeps what is shown until the new answer is there.
   */
  async showHistory(fit: boolean, reload = false): Promise<void> {
    const generation = ++this.generation
    if (!reload) this.fitPending = fit
    this.syncHistoryFeeds()
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
      this.historyLoading = false
      return
    }
    // The page's own User Timing of what the user asked for (the benchmark reads it); reloads keep
    // what is shown until their answer is there.
    if (!reload) {
      performance.clearMarks()
      performance.clearMeasures()
      performance.mark('history-requested')
      this.mapElement.dataset.state = 'loading'
      this.panel.show(
        [],
        range,
        `Loading ${chosen.length === 1 ? chosen[0]!.name : `${chosen.length} trackers`}…`,
      )
    }
    this.historyLoading = true
    const startedAt = Date.now()
    try {
      const histories = await loadHistories(new Map(chosen.map((t) => [t.id, historyRequests(t.id, range)])))
      if (generation !== this.generation) return
      if (!reload) performance.mark('history-fetched')
      const tracks: DrawnTrack[] = histories.map((history, index) => ({
        tracker: chosen[index]!,
        colour: this.colourOf(history.trackerId),
        points: history.points,
      }))
      this.map.setOverviewVisible(false)
      const drawn = this.map.showHistory(tracks)
      if (fit) this.map.fitToTracks()
      this.fitPending = false
      this.historyLoadedAt = startedAt
      const cut = histories.filter((h) => h.cut).map((h) => chosen.find((t) => t.id === h.trackerId)!.name)
      this.panel.show(tracks, range, undefined, reload)
      if (cut.length > 0) {
        this.panel.warn(
          `Cut: ${cut.join(', ')} had more than ${MAX_POINTS_PER_TRACKER} points in this range; the oldest ${MAX_POINTS_PER_TRACKER} are shown. Choose a shorter range for the rest.`,
        )
      }
      await nextPaint()
      if (generation !== this.generation) return
      if (!reload) {
        performance.mark('history-drawn')
        performance.measure('history', 'history-requested', 'history-drawn')
        performance.measure('history-fetch', 'history-requested', 'history-fetched')
      }
      Object.assign(this.mapElement.dataset, { state: 'drawn', points: String(drawn) })
    } catch (error) {
      if (generation !== this.generation) return
      if (!reload) {
        this.mapElement.dataset.state = 'error'
        this.panel.show([], range, 'The history could not be loaded.')
      }
      this.handleError(error)
    } finally {
      if (generation === this.generation) {
        this.historyLoading = false
        if (this.historyPending) this.historyReload.schedule()
      }
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
    this.live.stop()
    this.alerts.stop()
    this.historyFeeds.clear()
    for (const work of [this.trackersReload, this.trackersRender, this.historyReload]) work.cancel()
    for (const timer of this.timers) window.clearInterval(timer)
    this.timers = []
  }
}
