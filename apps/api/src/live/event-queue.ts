/**
 * One subscription's pending events, read as an async iterator (what a GraphQL subscribe resolver
 * returns). Events with the same key replace the one waiting (a tracker's newer state supersedes
 * the older, or `merge` joins them); past `max` waiting events the queue is replaced by `overflow()`, so a client that
 * reads too slowly is told to refetch instead of holding memory without bound. `return()` (the
 * client stopped, or the socket closed) ends it and calls `onEnd` once.
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  readonly #waiting = new Map<unknown, T>()
  readonly #max: number
  readonly #overflow: () => T
  readonly #onEnd: () => void
  readonly #merge: ((waiting: T, next: T) => T) | undefined
  #nextKey = 0
  #wake: ((result: IteratorResult<T>) => void) | undefined
  #ended = false

  constructor(options: {
    max: number
    overflow: () => T
    onEnd: () => void
    /** How an event joins a waiting one with the same key (default: replaces it). */
    merge?: (waiting: T, next: T) => T
  }) {
    this.#max = options.max
    this.#merge = options.merge
    this.#overflow = options.overflow
    this.#onEnd = options.onEnd
  }

  get ended(): boolean {
    return this.#ended
  }

  /** Queues an event; `key` (optional) makes it replace a waiting event with the same key. */
  push(event: T, key?: unknown): void {
    if (this.#ended) return
    if (this.#wake) {
      const wake = this.#wake
      this.#wake = undefined
      wake({ value: event, done: false })
      return
    }
    const slot = key ?? `#${this.#nextKey++}`
    if (!this.#waiting.has(slot) && this.#waiting.size >= this.#max) {
      this.#waiting.clear()
      this.#waiting.set('#overflow', this.#overflow())
      return
    }
    const waiting = this.#waiting.get(slot)
    this.#waiting.set(slot, waiting !== undefined && this.#merge ? this.#merge(waiting, event) : event)
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#ended) return Promise.resolve({ value: undefined, done: true })
    const first = this.#waiting.entries().next()
    if (!first.done) {
      const [slot, event] = first.value
      this.#waiting.delete(slot)
      return Promise.resolve({ value: event, done: false })
    }
    return new Promise((resolve) => {
      this.#wake = resolve
    })
  }

  return(): Promise<IteratorResult<T>> {
    if (!this.#ended) {
      this.#ended = true
      this.#waiting.clear()
      this.#wake?.({ value: undefined, done: true })
      this.#wake = undefined
      this.#onEnd()
    }
    return Promise.resolve({ value: undefined, done: true })
  }

  throw(error?: unknown): Promise<IteratorResult<T>> {
    void this.return()
    return Promise.reject(error)
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}
