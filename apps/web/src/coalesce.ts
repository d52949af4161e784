/**
 * Many requests for the same work become one run: the first request starts a timer, the requests
 * until it fires ride along, and requests while the work runs make it run once more afterwards (so
 * the last request is always answered by a run that started after it). An import that touches a
 * thousand trackers sends a thousand events; the page reloads once.
 */
export interface Coalesced {
  schedule(): void
  cancel(): void
}

export function coalesce(task: () => Promise<void> | void, delayMs: number): Coalesced {
  let timer: ReturnType<typeof setTimeout> | undefined
  let running = false
  let again = false
  let cancelled = false
  const run = async () => {
    timer = undefined
    running = true
    try {
      await task()
    } finally {
      running = false
      if (again && !cancelled) {
        again = false
        schedule()
      }
    }
  }
  function schedule(): void {
    cancelled = false
    if (running) again = true
    else timer ??= setTimeout(() => void run(), delayMs)
  }
  return {
    schedule,
    cancel() {
      cancelled = true
      again = false
      clearTimeout(timer)
      timer = undefined
    },
  }
}
