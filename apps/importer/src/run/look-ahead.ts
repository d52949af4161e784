type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown }

const END: unique symbol = Symbol('end of source')

// Every promise kept ahead is settled at once: a failure waits, handled, for its turn in order
// instead of surfacing as an unhandled rejection while the consumer is busy with earlier items.
const settle = <T>(promise: Promise<T>): Promise<Settled<T>> =>
  promise.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  )

/**
 * Yields `prepare(item)` for every item of `source`, in source order, while the consumer works on
 * earlier results: besides the result the consumer holds, up to `depth` further items are pulled
 * and being prepared. So a source that waits (the network), a `prepare` that runs elsewhere (worker
 * threads) and a consumer that writes (the database) overlap, and memory stays bounded by
 * `depth + 1` items.
 *
 * Pulls stay one after the other, as an async generator expects. A failure, of the source or of one
 * item's `prepare`, reaches the consumer in its place: after every result before it. When the
 * consumer stops (break, throw, or the end), the work still in flight is awaited and dropped, never
 * left running behind the caller's back, and the source is closed.
 */
export async function* lookAhead<T, U>(
  source: AsyncIterable<T>,
  prepare: (item: T) => Promise<U>,
  depth: number,
): AsyncGenerator<U, void, undefined> {
  if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`depth must be >= 1, got ${depth}`)
  const iterator = source[Symbol.asyncIterator]()
  const ahead: Promise<Settled<U | typeof END>>[] = []
  // Set once the source said done or failed (or the consumer left): no further next() calls.
  let ended = false
  // Set once the consumer left: an item still arriving is not prepared.
  let closed = false
  let lastPull: Promise<unknown> = Promise.resolve()

  const pull = async (): Promise<IteratorResult<T>> => {
    if (ended) return { done: true, value: undefined }
    try {
      const result = await iterator.next()
      if (result.done) ended = true
      return result
    } catch (error) {
      ended = true
      throw error
    }
  }
  const fill = () => {
    while (!ended && ahead.length < depth) {
      // Each pull starts after the previous one has settled.
      const pulled = lastPull.then(pull)
      lastPull = pulled.catch(() => {})
      ahead.push(
        settle(
          pulled.then((result): Promise<U | typeof END> | typeof END =>
            result.done || closed ? END : prepare(result.value),
          ),
        ),
      )
    }
  }

  try {
    for (;;) {
      fill()
      const next = ahead.shift()
      if (!next) return
      // The slot just taken is refilled before waiting, so the source keeps `depth` items ahead.
      fill()
      const settled = await next
      if (!settled.ok) throw settled.error
      if (settled.value === END) return
      yield settled.value
    }
  } finally {
    ended = true
    closed = true
    await Promise.all(ahead)
    await iterator.return?.()
  }
}
