import L from 'leaflet'
import { alertHeadline, deliveryText, formatInterval, lateText } from '../alerts/alert-format.ts'
import { type Alert, createCirclePlace, listAlerts, listPlaces, type Place } from '../api/alert-queries.ts'
import { ApiError } from '../api/client.ts'
import { listTrackers } from '../api/queries.ts'
import type { Session, WebConfig } from '../api/session.ts'
import { formatMeters } from '../format.ts'
import { addBasemap } from '../map/basemap.ts'
import { PlacesLayer } from '../map/places-layer.ts'
import { h } from './dom.ts'

/** While the view is shown, alerts are fetched again this often (they are not pushed live). */
const REFRESH_EVERY_MS = 60_000

const KIND_COLOUR: Record<Alert['kind'], string> = {
  ENTER: '#1a7f37',
  LEAVE: '#cf222e',
  NOT_SEEN: '#9a6700',
  BATTERY: '#8250df',
}

export interface AlertsViewOptions {
  config: WebConfig
  session: Session
  canWrite: boolean
  /** Errors the view does not explain in place (unreachable API, ended session). */
  onError(error: unknown): void
}

/**
 * The alerts: recent alerts newest first (what happened, to which tracker, where, when as the
 * interval the reports allow in the browser's zone, how late it was learnt, cancelled ones marked,
 * each delivery's state), and the places drawn on a map of their own, labelled.
 */
export class AlertsView {
  readonly element: HTMLElement
  private readonly mapElement = h('div', {
    id: 'alerts-map',
    dataset: { state: 'empty', places: '0' },
    attrs: { role: 'region', 'aria-label': 'Places map' },
  })
  private readonly trackerFilter = h(
    'select',
    { id: 'alert-tracker' },
    h('option', { value: '' }, 'All trackers'),
  )
  private readonly showCancelled = h('input', { type: 'checkbox', id: 'alert-cancelled', checked: true })
  private readonly status = h('p', { id: 'alerts-status', className: 'meta', attrs: { role: 'status' } })
  private readonly list = h('ol', { className: 'alerts', attrs: { 'aria-label': 'Alerts' } })
  private readonly more = h('button', { type: 'button', id: 'alerts-more' }, 'Older alerts')
  private readonly placeList = h('ul', { className: 'places', attrs: { 'aria-label': 'Places' } })
  private readonly placeStatus = h('p', { id: 'place-status', attrs: { role: 'status' } })
  private map: L.Map | null = null
  private places: PlacesLayer | null = null
  private readonly markers = L.layerGroup()
  private alerts: Alert[] = []
  private endCursor: string | null = null
  private generation = 0
  private timer: number | undefined
  private visible = false
  /** The centre picked on the map for a new place, and its preview. */
  private pickedCentre: L.LatLng | null = null
  private preview: L.Circle | null = null
  private readonly radius = h('input', {
    type: 'number',
    id: 'place-radius',
    min: '10',
    max: '100000',
    step: '10',
    value: '200',
    required: true,
  })

  private readonly options: AlertsViewOptions

  constructor(options: AlertsViewOptions) {
    this.options = options
    const refresh = h('button', { type: 'button', id: 'alerts-refresh' }, 'Refresh')
    refresh.addEventListener('click', () => void this.load())
    this.trackerFilter.addEventListener('change', () => void this.load())
    this.showCancelled.addEventListener('change', () => void this.load())
    this.more.hidden = true
    this.more.addEventListener('click', () => void this.load(true))
    this.element = h('div', { className: 'alerts-tab' }, [
      h('aside', { className: 'sidebar' }, [
        h('section', { attrs: { 'aria-labelledby': 'alerts-title' } }, [
          h('h2', { id: 'alerts-title' }, 'Alerts'),
          h('div', { className: 'filters' }, [
            h('label', { htmlFor: 'alert-tracker' }, 'Tracker'),
            this.trackerFilter,
            h('label', { htmlFor: 'alert-cancelled' }, 'Show cancelled'),
            this.showCancelled,
          ]),
          h('div', { className: 'row' }, refresh),
          this.status,
          this.list,
          this.more,
        ]),
        h('section', { attrs: { 'aria-labelledby': 'places-title' } }, [
          h('h2', { id: 'places-title' }, 'Places'),
          this.placeList,
          options.canWrite ? this.placeForm() : null,
        ]),
      ]),
      this.mapElement,
    ])
  }

  /** Shown: the map is made on the first showing (Leaflet needs a laid-out container), data refreshed. */
  show(): void {
    this.visible = true
    if (!this.map) {
      this.map = L.map(this.mapElement, { worldCopyJump: true, keyboard: true, zoomSnap: 0.25 }).fitBounds([
        [35, -11],
        [60, 30],
      ])
      addBasemap(this.map, this.options.config, L.canvas({ padding: 0.3 }))
      this.places = new PlacesLayer(this.map)
      this.markers.addTo(this.map)
      this.map.on('click', (event: L.LeafletMouseEvent) => this.pickCentre(event.latlng))
    } else {
      this.map.invalidateSize()
    }
    void this.load()
    window.clearInterval(this.timer)
    this.timer = window.setInterval(() => void this.load(), REFRESH_EVERY_MS)
  }

  hide(): void {
    this.visible = false
    window.clearInterval(this.timer)
  }

  stop(): void {
    this.hide()
    this.generation++
  }

  /** The first page again (or the next one, `more`), with the places and the trackers to filter by. */
  private async load(more = false): Promise<void> {
    const generation = ++this.generation
    this.status.textContent = 'Loading alerts…'
    try {
      const [page, places, trackers] = await Promise.all([
        listAlerts({
          trackerId: this.trackerFilter.value || null,
          includeCancelled: this.showCancelled.checked,
          after: more ? this.endCursor : null,
        }),
        more ? Promise.resolve(null) : listPlaces(),
        more ? Promise.resolve(null) : listTrackers(),
      ])
      if (generation !== this.generation || !this.visible) return
      this.alerts = more ? [...this.alerts, ...page.alerts] : page.alerts
      this.endCursor = page.endCursor
      this.more.hidden = !page.hasNextPage
      if (trackers) this.showTrackerChoices(trackers)
      if (places) this.showPlaces(places)
      this.renderAlerts()
    } catch (error) {
      if (generation !== this.generation) return
      this.status.textContent = 'The alerts could not be loaded.'
      this.options.onError(error)
    }
  }

  private showTrackerChoices(trackers: { id: string; name: string }[]): void {
    const chosen = this.trackerFilter.value
    this.trackerFilter.replaceChildren(
      h('option', { value: '' }, 'All trackers'),
      ...trackers.map((t) => h('option', { value: t.id, selected: t.id === chosen }, t.name)),
    )
  }

  private showPlaces(places: Place[]): void {
    const firstTime = this.mapElement.dataset.state === 'empty'
    const drawn = this.places!.show(places)
    Object.assign(this.mapElement.dataset, { state: 'drawn', places: String(drawn) })
    if (firstTime) this.places!.fitAll(this.map!)
    this.placeList.replaceChildren(
      ...places.map((place) => {
        const button = h('button', { type: 'button', className: 'link' }, place.name)
        button.addEventListener('click', () => this.places!.focus(this.map!, place.id))
        const size =
          place.shape === 'CIRCLE'
            ? `circle, ${formatMeters(place.radiusM)} radius`
            : `polygon, ${place.polygon?.[0]?.length ? place.polygon[0].length - 1 : 0} corners`
        const whose = place.trackerIds === null ? 'every tracker' : `${place.trackerIds.length} tracker(s)`
        return h('li', { className: 'place', dataset: { placeId: place.id } }, [
          button,
          h('span', { className: 'meta' }, ` ${size}; for ${whose}`),
        ])
      }),
    )
    if (places.length === 0) this.placeList.append(h('li', { className: 'empty' }, 'No places yet.'))
  }

  private renderAlerts(): void {
    this.markers.clearLayers()
    const cancelled = this.alerts.filter((a) => a.cancelled).length
    this.status.textContent =
      this.alerts.length === 0
        ? 'No alerts.'
        : `${this.alerts.length} alert${this.alerts.length === 1 ? '' : 's'}${cancelled ? `, ${cancelled} cancelled` : ''}; newest first, times in your zone.`
    this.list.replaceChildren(...this.alerts.map((alert) => this.alertItem(alert)))
  }

  private alertItem(alert: Alert): HTMLElement {
    const headline = alertHeadline(alert)
    const swatch = h('span', { className: 'swatch', attrs: { 'aria-hidden': 'true' } })
    swatch.style.background = KIND_COLOUR[alert.kind]
    let marker: L.CircleMarker | null = null
    if (alert.location) {
      marker = L.circleMarker([alert.location.latitude, alert.location.longitude], {
        radius: 6,
        color: '#fff',
        weight: 2,
        fillColor: KIND_COLOUR[alert.kind],
        fillOpacity: alert.cancelled ? 0.35 : 1,
      })
        .bindTooltip(headline)
        .addTo(this.markers)
    }
    const show = h('button', { type: 'button', className: 'link' }, 'Show on map')
    show.hidden = !marker && !alert.place
    show.addEventListener('click', () => {
      if (alert.place) this.places?.focus(this.map!, alert.place.id)
      if (marker) {
        if (!alert.place) this.map!.setView(marker.getLatLng(), Math.max(this.map!.getZoom(), 13))
        marker.openTooltip()
      }
    })
    const deliveries =
      alert.deliveries.length > 0
        ? h(
            'ul',
            { className: 'deliveries', attrs: { 'aria-label': 'Deliveries' } },
            alert.deliveries.map((d) =>
              h(
                'li',
                { className: `delivery delivery-${d.status.toLowerCase()}`, dataset: { status: d.status } },
                deliveryText(d),
              ),
            ),
          )
        : h('p', { className: 'meta' }, 'Not delivered: its rule has no channel, or is muted.')
    return h(
      'li',
      {
        className: alert.cancelled ? 'alert cancelled' : 'alert',
        dataset: { alertId: alert.id, kind: alert.kind, cancelled: String(alert.cancelled) },
      },
      [
        h('div', { className: 'alert-title' }, [
          swatch,
          h('strong', { className: 'alert-headline' }, headline),
          alert.cancelled ? h('span', { className: 'badge' }, 'Cancelled') : null,
          alert.refined
            ? h('span', { className: 'badge', title: 'A late report moved when it happened' }, 'Refined')
            : null,
        ]),
        h('p', { className: 'alert-when' }, [
          h(
            'time',
            {
              dateTime: alert.occurredBefore,
              title: `Learnt ${new Date(alert.detectedAt).toLocaleString()}`,
            },
            formatInterval(alert.occurredAfter, alert.occurredBefore),
          ),
          '; ',
          h('span', { className: 'alert-late' }, lateText(alert.lateBySeconds)),
        ]),
        alert.cancelled
          ? h(
              'p',
              { className: 'cancel-reason' },
              `Cancelled: ${alert.cancelReason ?? 'a later report undid it'}`,
            )
          : null,
        h('p', { className: 'meta' }, `Rule: ${alert.rule.name}`),
        deliveries,
        show,
      ],
    )
  }

  /** Adding a circle: a name, a radius, and a click on the map for its centre. */
  private placeForm(): HTMLElement {
    const name = h('input', { type: 'text', id: 'place-name', maxLength: 200, required: true })
    const button = h('button', { type: 'submit' }, 'Add place')
    this.radius.addEventListener('input', () => this.preview?.setRadius(Number(this.radius.value) || 0))
    const form = h('form', { className: 'upload', attrs: { 'aria-labelledby': 'add-place-title' } }, [
      h('h3', { id: 'add-place-title' }, 'Add a place'),
      h('label', { htmlFor: 'place-name' }, 'Name'),
      name,
      h('label', { htmlFor: 'place-radius' }, 'Radius (metres, 10 to 100,000)'),
      this.radius,
      h('p', { className: 'help' }, 'Click the map where its centre is.'),
      button,
      this.placeStatus,
    ])
    form.addEventListener('submit', async (event) => {
      event.preventDefault()
      if (!this.pickedCentre) {
        this.placeStatus.className = 'error'
        this.placeStatus.textContent = 'Click the map to choose the centre first.'
        return
      }
      button.disabled = true
      this.placeStatus.className = ''
      this.placeStatus.textContent = 'Adding…'
      try {
        const place = await createCirclePlace({
          name: name.value,
          latitude: this.pickedCentre.lat,
          longitude: L.Util.wrapNum(this.pickedCentre.lng, [-180, 180], true),
          radiusM: Number(this.radius.value),
          // A token limited to trackers may only add places for its own.
          trackerIds: this.options.session.token.trackerIds,
        })
        this.placeStatus.textContent = `Added ${place.name}.`
        name.value = ''
        this.pickedCentre = null
        this.preview?.remove()
        this.preview = null
        await this.load()
      } catch (error) {
        this.placeStatus.className = 'error'
        if (error instanceof ApiError) this.placeStatus.textContent = error.message
        else this.options.onError(error)
      } finally {
        button.disabled = false
      }
    })
    return form
  }

  private pickCentre(at: L.LatLng): void {
    if (!this.options.canWrite || !this.map) return
    this.pickedCentre = at
    this.preview?.remove()
    this.preview = L.circle(at, {
      radius: Number(this.radius.value) || 0,
      dashArray: '4 4',
      weight: 2,
    }).addTo(this.map)
    this.placeStatus.className = ''
    this.placeStatus.textContent = `Centre: ${at.lat.toFixed(5)}, ${L.Util.wrapNum(at.lng, [-180, 180], true).toFixed(5)}`
  }
}
