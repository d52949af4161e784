import { ENDPOINT_REQUEST_OUTCOMES, type EndpointRequestOutcome } from '@tracker/findmy'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { ImportResult } from '../run/run-import.ts'

/** Prometheus metrics of the importer, on its own registry (apps may share one process). */
export class ImporterMetrics {
  readonly registry = new Registry()
  readonly #runs = new Counter({
    name: 'tracker_import_runs_total',
    help: 'Import runs by outcome (not_started: the lock backend was unreachable; skipped_locked: another run held the lock)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  })
  readonly #reports = new Counter({
    name: 'tracker_import_reports_total',
    help: 'Reports handled by import runs, by fate (inserted, duplicate, rejected_<reason>)',
    labelNames: ['fate'] as const,
    registers: [this.registry],
  })
  readonly #duration = new Histogram({
    name: 'tracker_import_run_duration_seconds',
    help: 'Duration of import runs',
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry],
  })
  readonly #coverageGaps = new Counter({
    name: 'tracker_import_coverage_gaps_total',
    help: 'Coverage gaps found: a key answered as fully as the endpoint gives, its oldest report newer than the newest stored (reports between may be lost)',
    registers: [this.registry],
  })
  readonly #coverageGapSeconds = new Counter({
    name: 'tracker_import_coverage_gap_seconds_total',
    help: 'Total length of the coverage gaps found, in seconds',
    registers: [this.registry],
  })
  readonly #p224Backend = new Gauge({
    name: 'tracker_import_p224_backend',
    help: "The P-224 backend decryption uses: 1 for the one in use (libcrypto: the system's OpenSSL through koffi; node: Node's crypto)",
    labelNames: ['backend'] as const,
    registers: [this.registry],
  })
  readonly #lastSuccess = new Gauge({
    name: 'tracker_import_last_success_timestamp_seconds',
    help: 'Unix time of the last successful import run',
    registers: [this.registry],
  })

  readonly #endpointRequests = new Counter({
    name: 'tracker_import_endpoint_requests_total',
    help: 'Requests to the report endpoint by outcome (ok, partial: first id only, empty: 200 without reports, unauthorized, server_error, timeout, failed)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  })

  readonly #alertEvents = new Counter({
    name: 'tracker_alert_events_total',
    help: 'Alert events decided by the evaluator, by change (created; refined: moved by a late report, not re-sent; cancelled: undone by a late report)',
    labelNames: ['change'] as const,
    registers: [this.registry],
  })

  constructor() {
    // Every outcome from the start, so a rate over it is defined before the first failure.
    for (const outcome of ENDPOINT_REQUEST_OUTCOMES) this.#endpointRequests.inc({ outcome }, 0)
  }

  recordAlertEvaluation(counts: { created: number; refined: number; cancelled: number }): void {
    for (const change of ['created', 'refined', 'cancelled'] as const)
      if (counts[change] > 0) this.#alertEvents.inc({ change }, counts[change])
  }

  recordEndpointRequest(outcome: EndpointRequestOutcome): void {
    this.#endpointRequests.inc({ outcome })
  }

  setP224Backend(name: 'libcrypto' | 'node'): void {
    this.#p224Backend.set({ backend: 'libcrypto' }, name === 'libcrypto' ? 1 : 0)
    this.#p224Backend.set({ backend: 'node' }, name === 'node' ? 1 : 0)
  }

  recordRun(result: ImportResult): void {
    this.#runs.inc({ outcome: result.outcome })
    if (result.outcome === 'skipped_locked' || result.outcome === 'not_started') return
    this.#duration.observe(result.durationMs / 1000)
    if (result.outcome === 'succeeded') this.#lastSuccess.set(Date.now() / 1000)
    const totals = result.totals
    if (!totals) return
    this.#reports.inc({ fate: 'inserted' }, totals.reportsInserted)
    this.#reports.inc({ fate: 'duplicate' }, totals.reportsDuplicate)
    this.#coverageGaps.inc(totals.coverageGaps)
    this.#coverageGapSeconds.inc(totals.coverageGapMs / 1000)
    for (const [reason, n] of Object.entries(totals.rejected))
      this.#reports.inc({ fate: `rejected_${reason}` }, n)
  }
}
