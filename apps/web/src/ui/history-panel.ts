import { formatTime } from '../format.ts'
import type { TimeRange } from '../history/ranges.ts'
import type { DrawnTrack } from '../map/map-view.ts'
import { h } from './dom.ts'

/** Rows the list of points renders at most: the map shows them all, a table of thousands helps nobody. */
const LIST_LIMIT = 1_000

export interface HistoryPanelActions {
  fit(): void
  openPoint(trackerId: string, pointId: string): void
  playback(time: number | null): void
}

/** What the map shows: counts by resolution, a cut warning, fit, playback, downloads, the list of points. */
export class HistoryPanel {
  readonly element: HTMLElement
  private readonly summary = h('p', {
    className: 'summary',
    id: 'history-summary',
    attrs: { role: 'status' },
  })
  private readonly legend = h('p', { className: 'legend' }, [
    h('span', { className: 'dot hourly', attrs: { 'aria-hidden': 'true' } }),
    ' hourly point  ',
    h('span', { className: 'dot daily', attrs: { 'aria-hidden': 'true' } }),
    ' daily point',
  ])
  private readonly fit = h('button', { type: 'button', id: 'fit' }, 'Fit to track')
  private readonly slider = h('input', {
    type: 'range',
    id: 'playback',
    min: '0',
    max: '1000',
    value: '1000',
  })
  private readonly sliderTime = h('output', { htmlFor: 'playback' })
  private readonly play = h('button', { type: 'button', id: 'play' }, 'Play')
  private readonly downloads = h('p', { className: 'downloads' })
  private readonly pointList = h('details', { className: 'point-list' })
  private readonly controls = h('div', { className: 'history-controls' }, [
    this.legend,
    h('div', { className: 'row' }, [this.fit]),
    h('div', { className: 'playback' }, [
      h('label', { htmlFor: 'playback' }, 'Play back'),
      this.slider,
      this.play,
      this.sliderTime,
    ]),
    this.downloads,
    this.pointList,
  ])
  private tracks: DrawnTrack[] = []
  private range: TimeRange | null = null
  private timer: number | undefined

  private readonly actions: HistoryPanelActions

  constructor(actions: HistoryPanelActions) {
    this.actions = actions
    this.element = h(
      'section',
      { className: 'history-panel', attrs: { 'aria-labelledby': 'history-title' } },
      [
        h('h2', { id: 'history-title' }, 'History'),
        this.summary,
        this.legend,
        h('div', { className: 'row' }, [this.fit]),
        h('div', { className: 'playback' }, [
          h('label', { htmlFor: 'playback' }, 'Play back'),
          this.slider,
          this.play,
          this.sliderTime,
        ]),
        this.downloads,
        this.pointList,
      ],
    )
    this.fit.addEventListener('click', () => this.actions.fit())
    this.slider.addEventListener('input', () => {
      this.stop()
      this.applySlider()
    })
    this.play.addEventListener('click', () => (this.timer === undefined ? this.start() : this.stop()))
    this.pointList.addEventListener('toggle', () => this.renderList())
    this.show([], null, 'Pick one or more trackers to see their history.')
  }

  /** The user is looking at a moment of the track (playing, or the slider moved back): not to be reset. */
  get playingBack(): boolean {
    return this.timer !== undefined || Number(this.slider.value) < Number(this.slider.max)
  }

  /** `keepList`: a reload of what is shown leaves the list of points open if it was. */
  show(tracks: DrawnTrack[], range: TimeRange | null, message?: string, keepList = false): void {
    const reopen = keepList && this.pointList.open
    this.stop()
    this.tracks = tracks
    this.range = range
    this.slider.value = this.slider.max
    this.sliderTime.textContent = ''
    const points = tracks.flatMap((t) => t.points)
    const hourly = points.filter((p) => p.resolution === 'HOUR').length
    const hasPoints = points.length > 0
    this.summary.textContent =
      message ??
      (hasPoints
        ? `${points.length} points: ${hourly} hourly, ${points.length - hourly} daily (${range?.label ?? ''}).`
        : 'No reports in this range for the selected trackers. Try a longer range.')
    this.controls.hidden = !hasPoints
    this.renderDownloads()
    this.pointList.open = false
    this.pointList.replaceChildren(h('summary', {}, `List of points (${points.length})`))
    if (reopen && hasPoints) {
      this.pointList.open = true
      this.renderList()
    }
  }

  /** A warning under the summary (a range cut to the page's limit). */
  warn(message: string): void {
    this.summary.append(h('span', { className: 'warning', id: 'history-cut' }, ` ${message}`))
  }

  /** Downloads of what is on screen, in every export format (GET /export/history.*). */
  private renderDownloads(): void {
    if (!this.range || this.tracks.length === 0) {
      this.downloads.replaceChildren()
      return
    }
    const params = new URLSearchParams()
    for (const track of this.tracks) params.append('trackerId', track.tracker.id)
    params.set('from', this.range.from.toISOString())
    params.set('to', this.range.to.toISOString())
    params.set('bucketSize', '1 hour')
    this.downloads.replaceChildren(
      'Download: ',
      ...['gpx', 'geojson', 'kml', 'csv'].flatMap((format, index) => [
        index > 0 ? ' · ' : '',
        h('a', { href: `/export/history.${format}?${params}`, download: '' }, format.toUpperCase()),
      ]),
    )
  }

  private renderList(): void {
    if (!this.pointList.open || this.pointList.querySelector('table')) return
    const rows = this.tracks.flatMap((track) => track.points.map((point) => ({ track, point })))
    const several = this.tracks.length > 1
    const table = h('table', {}, [
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          [several ? 'Tracker' : null, 'Time', 'City', '']
            .filter((t) => t !== null)
            .map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h(
        'tbody',
        {},
        rows.slice(0, LIST_LIMIT).map(({ track, point }) =>
          h(
            'tr',
            { dataset: { pointId: point.id, trackerId: track.tracker.id, timestamp: point.timestamp } },
            [
              several ? h('td', {}, track.tracker.name) : null,
              h('td', {}, [
                formatTime(point.timestamp, point.resolution),
                h('span', { className: 'help' }, point.resolution === 'HOUR' ? ' hourly' : ' daily'),
              ]),
              h('td', {}, point.nearestCity ?? ''),
              h('td', {}, [
                h(
                  'button',
                  {
                    type: 'button',
                    on: { click: () => this.actions.openPoint(track.tracker.id, point.id) },
                    attrs: {
                      'aria-label': `Show the point of ${formatTime(point.timestamp, point.resolution)} on the map`,
                    },
                  },
                  'Show',
                ),
              ]),
            ],
          ),
        ),
      ),
    ])
    this.pointList.append(table)
    if (rows.length > LIST_LIMIT)
      this.pointList.append(h('p', {}, `The first ${LIST_LIMIT} of ${rows.length} points.`))
  }

  private bounds(): [number, number] | null {
    // Each track is oldest first: its first and last points bound it.
    let first = Number.POSITIVE_INFINITY
    let last = Number.NEGATIVE_INFINITY
    for (const { points } of this.tracks) {
      if (points.length === 0) continue
      first = Math.min(first, Date.parse(points[0]!.timestamp))
      last = Math.max(last, Date.parse(points.at(-1)!.timestamp))
    }
    return Number.isFinite(first) ? [first, last] : null
  }

  private applySlider(): void {
    const bounds = this.bounds()
    if (!bounds) return
    const fraction = Number(this.slider.value) / Number(this.slider.max)
    if (fraction >= 1) {
      this.sliderTime.textContent = ''
      this.actions.playback(null)
      return
    }
    const time = bounds[0] + fraction * (bounds[1] - bounds[0])
    this.sliderTime.textContent = formatTime(new Date(time).toISOString())
    this.actions.playback(time)
  }

  private start(): void {
    if (Number(this.slider.value) >= Number(this.slider.max)) this.slider.value = '0'
    this.play.textContent = 'Pause'
    this.timer = window.setInterval(() => {
      const next = Math.min(Number(this.slider.max), Number(this.slider.value) + 5)
      this.slider.value = String(next)
      this.applySlider()
      if (next >= Number(this.slider.max)) this.stop()
    }, 50)
  }

  private stop(): void {
    if (this.timer !== undefined) window.clearInterval(this.timer)
    this.timer = undefined
    this.play.textContent = 'Play'
  }
}
