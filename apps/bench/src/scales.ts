import type { Scale } from './results.ts'

/** How much each figure does. The simulator yields about 593 reports per tracker over 7 days (96 a day, minus gaps). */
export interface ScaleSettings {
  import: {
    /** Trackers the simulator serves; the report count follows (about 593 each). */
    trackers: number
    reportsPerDay: number
    insertBatchSize: number
    /** Rounds of (first import, steady-state import, bare insert), each on fresh databases. */
    rounds: number
  }
  decrypt: { count: number; repeats: number }
  api: { connections: number; durationS: number; warmupS: number; rounds: number }
  freshness: { trackers: number; samples: number }
  scaling: {
    sizes: number[]
    /** Freshness samples per kind (recent, late) and per path (refresher, direct) at each size. */
    samples: Record<number, number>
    /** Changes of each kind (recent, late) whose upkeep is timed at each size. */
    changes: Record<number, number>
    /** Full refreshes of the baseline view timed at each size (about 2 minutes each at 10 000 trackers). */
    fullRefreshes: Record<number, number>
    /** Wall-clock budget for the whole scaling figure; a size whose estimate does not fit is skipped (said so). */
    budgetS: number | null
  }
  /** Moving trackers polled over simulated days by the schedule and by the adaptive mode. */
  fetching: {
    trackers: number
    days: number
    reportsPerDay: number
    latestPerKey: number
    budgetPerHour: number
  }
  /** Trackers with a year of daily and a day of hourly history, drawn in headless Chromium. */
  web: { trackers: number; rounds: number }
  /**
   * Exports through the API against a bare COPY of the same rows: `reports.trackers` x
   * `reports.perTracker` raw reports over the last `reports.days` days, and a year of daily
   * history of `history.trackers` trackers, in each of `formats`.
   */
  export: {
    reports: { trackers: number; perTracker: number; days: number }
    history: { trackers: number }
    formats: ('csv' | 'geojson' | 'gpx' | 'kml')[]
    rounds: number
  }
  /** Changes (one at a time, round-robin over `trackers`) timed to the bridge's MQTT message. */
  mqtt: { trackers: number; samples: number }
  /** Changes (one at a time, round-robin over `trackers`) timed to trackerUpdated with `subscribers` sockets open. */
  live: { trackers: number; samples: number; subscribers: number }
}

export const SCALE_SETTINGS: Record<Scale, ScaleSettings> = {
  // A smoke test that still gives every figure: about 3 minutes on 2 cores.
  small: {
    import: { trackers: 34, reportsPerDay: 96, insertBatchSize: 2000, rounds: 1 },
    decrypt: { count: 4_000, repeats: 2 },
    api: { connections: 10, durationS: 3, warmupS: 1, rounds: 2 },
    freshness: { trackers: 10, samples: 8 },
    scaling: {
      sizes: [100, 1_000],
      samples: { 100: 5, 1000: 3 },
      changes: { 100: 5, 1000: 3 },
      fullRefreshes: { 100: 3, 1000: 1 },
      budgetS: null,
    },
    fetching: { trackers: 20, days: 2, reportsPerDay: 96, latestPerKey: 16, budgetPerHour: 6 },
    web: { trackers: 10, rounds: 3 },
    export: {
      reports: { trackers: 20, perTracker: 1_000, days: 3 },
      history: { trackers: 20 },
      formats: ['csv', 'geojson', 'gpx', 'kml'],
      rounds: 2,
    },
    mqtt: { trackers: 10, samples: 50 },
    live: { trackers: 10, samples: 50, subscribers: 50 },
  },
  medium: {
    import: { trackers: 340, reportsPerDay: 96, insertBatchSize: 2000, rounds: 1 },
    decrypt: { count: 20_000, repeats: 3 },
    api: { connections: 10, durationS: 10, warmupS: 2, rounds: 3 },
    freshness: { trackers: 10, samples: 20 },
    scaling: {
      sizes: [100, 1_000, 10_000],
      samples: { 100: 10, 1000: 10, 10000: 5 },
      changes: { 100: 10, 1000: 10, 10000: 5 },
      fullRefreshes: { 100: 5, 1000: 3, 10000: 1 },
      budgetS: 8 * 60,
    },
    fetching: { trackers: 100, days: 7, reportsPerDay: 96, latestPerKey: 16, budgetPerHour: 6 },
    web: { trackers: 50, rounds: 5 },
    export: {
      reports: { trackers: 200, perTracker: 1_000, days: 3 },
      history: { trackers: 200 },
      formats: ['csv', 'geojson', 'gpx', 'kml'],
      rounds: 2,
    },
    mqtt: { trackers: 100, samples: 200 },
    live: { trackers: 100, samples: 200, subscribers: 200 },
  },
  // The figures: a 1M-report import and 10 000 trackers with a year of history. Takes long.
  large: {
    import: { trackers: 1_690, reportsPerDay: 96, insertBatchSize: 2000, rounds: 1 },
    decrypt: { count: 100_000, repeats: 3 },
    api: { connections: 10, durationS: 20, warmupS: 3, rounds: 3 },
    freshness: { trackers: 10, samples: 30 },
    scaling: {
      sizes: [100, 1_000, 10_000],
      samples: { 100: 20, 1000: 20, 10000: 20 },
      changes: { 100: 20, 1000: 20, 10000: 20 },
      fullRefreshes: { 100: 10, 1000: 5, 10000: 2 },
      budgetS: null,
    },
    // The figure: 100 moving trackers over a simulated week, the latest 16 reports per key.
    fetching: { trackers: 100, days: 7, reportsPerDay: 96, latestPerKey: 16, budgetPerHour: 6 },
    web: { trackers: 50, rounds: 5 },
    // The figure: 1M raw reports (1,000 trackers x 1,000 over 3 days) and a year of daily
    // history for 1,000 trackers.
    export: {
      reports: { trackers: 1_000, perTracker: 1_000, days: 3 },
      history: { trackers: 1_000 },
      formats: ['csv', 'geojson', 'gpx', 'kml'],
      // Medians of three: one round's ratio moved by 0.1 between two runs on the same quiet machine.
      rounds: 3,
    },
    mqtt: { trackers: 1_000, samples: 300 },
    live: { trackers: 1_000, samples: 300, subscribers: 1_000 },
  },
}
