import type { HistoryObserver, RefreshEvent, RefreshObject, RefreshOutcomeLabel } from '@tracker/history'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

const OBJECTS: RefreshObject[] = ['location_history', 'location_history_hourly', 'location_history_daily']

/**
 * The refresher's Prometheus metrics, on a registry of its own: several apps may share one process
 * (the one-command demo), and the global default registry would mix them up.
 */
export class RefresherMetrics implements HistoryObserver {
  readonly registry = new Registry()

  readonly refreshes = new Counter({
    name: 'tracker_refresher_refreshes_total',
    help: 'Refreshes by object and outcome (refreshed, skipped_concurrent, skipped_outside_safe_window, failed, cancelled)',
    labelNames: ['object', 'outcome'] as const,
    registers: [this.registry],
  })

  readonly refreshDuration = new Histogram({
    name: 'tracker_refresher_refresh_duration_seconds',
    help: 'Duration of refresh statements by object',
    labelNames: ['object'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 1200],
    registers: [this.registry],
  })

  readonly lastSuccess = new Gauge({
    name: 'tracker_refresher_last_success_timestamp_seconds',
    help: 'Unix time of the last successful refresh of each object (by this replica)',
    labelNames: ['object'] as const,
    registers: [this.registry],
  })

  readonly historyRows = new Counter({
    name: 'tracker_refresher_location_history_rows_total',
    help: 'location_history rows written (new or changed) and removed by its upkeep',
    labelNames: ['change'] as const,
    registers: [this.registry],
  })

  readonly historyLosing = new Gauge({
    name: 'tracker_refresher_daily_history_losing',
    help: "1 while the daily aggregate's watermark lies behind the safe refresh horizon: raw reports of days never materialized are being dropped",
    registers: [this.registry],
  })

  readonly notificationsReceived = new Counter({
    name: 'tracker_refresher_notifications_received_total',
    help: 'Notifications received on refresh_location_history',
    registers: [this.registry],
  })

  readonly notificationsCoalesced = new Counter({
    name: 'tracker_refresher_notifications_coalesced_total',
    help: 'Refresh requests merged into a refresh that was already waiting to run',
    registers: [this.registry],
  })

  readonly refreshRequests = new Counter({
    name: 'tracker_refresher_refresh_requests_total',
    help: "Refresh requests (the API's refreshLocationHistoryAggregates) this replica served, by answer (refreshed, busy, unavailable, cancelled, failed)",
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  })

  readonly listenerConnected = new Gauge({
    name: 'tracker_refresher_listener_connected',
    help: '1 while the LISTEN connection is up',
    registers: [this.registry],
  })

  readonly listenerReconnects = new Counter({
    name: 'tracker_refresher_listener_reconnects_total',
    help: 'Times the LISTEN connection was re-established after a loss',
    registers: [this.registry],
  })

  readonly periodicCycles = new Counter({
    name: 'tracker_refresher_periodic_cycles_total',
    help: 'Periodic refresh checks by outcome (refreshed, not_due, locked_elsewhere, lock_unavailable, failed, cancelled)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  })

  constructor() {
    // Zero series exist from the start, so rate() and alerts work before the first event.
    for (const object of OBJECTS) {
      for (const outcome of ['refreshed', 'failed'] satisfies RefreshOutcomeLabel[]) {
        this.refreshes.inc({ object, outcome }, 0)
      }
    }
    for (const outcome of ['refreshed', 'failed']) this.refreshRequests.inc({ outcome }, 0)
    this.listenerConnected.set(0)
    this.historyRows.inc({ change: 'written' }, 0)
    this.historyRows.inc({ change: 'removed' }, 0)
    this.historyLosing.set(0)
  }

  /** The history engine's statements, as they finish. */
  onRefresh(event: RefreshEvent): void {
    const { object, outcome, durationMs } = event
    this.refreshes.inc({ object, outcome })
    if (outcome === 'refreshed' || outcome === 'skipped_concurrent') {
      this.refreshDuration.observe({ object }, durationMs / 1000)
    }
    if (outcome === 'refreshed') this.lastSuccess.set({ object }, event.finishedAt.getTime() / 1000)
    if (event.rows) {
      this.historyRows.inc({ change: 'written' }, event.rows.written)
      this.historyRows.inc({ change: 'removed' }, event.rows.removed)
    }
  }
}
