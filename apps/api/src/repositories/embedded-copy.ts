import type { EmbeddedDatabase } from '@tracker/db'

/**
 * COPY … TO a device of the embedded engine's file system that appends what COPY writes to one
 * buffer, kept and reused. The engine's own '/dev/blob' keeps a fresh copy of every write (COPY
 * writes a row or so at a time) and hands them over as a Blob, read back through a stream: 200,000
 * reports took 1.3-1.8 s of CPU through it, 0.9-1.2 s through this device, and after eight rounds
 * the process's RSS was 90-100 MB higher (memory outside the heap, let go late).
 */
class CopySink {
  #buffer = new Uint8Array(INITIAL_BYTES)
  #length = 0
  readonly #decoder = new TextDecoder()

  reset() {
    this.#length = 0
  }

  write(data: Uint8Array, offset: number, length: number): number {
    const end = this.#length + length
    if (end > this.#buffer.length) {
      const bigger = new Uint8Array(Math.max(this.#buffer.length * 2, end))
      bigger.set(this.#buffer.subarray(0, this.#length))
      this.#buffer = bigger
    }
    this.#buffer.set(data.subarray(offset, offset + length), this.#length)
    this.#length = end
    return length
  }

  /**
   * What was written since reset, as UTF-8 text in pieces of whole lines of about TEXT_BYTES each
   * (a line longer than that is a piece of its own); a buffer grown past KEEP_BYTES is let go.
   * Pieces, not one string: a string over V8's large-object threshold (128 KiB; a page of 1,000
   * reports is 230 KB) goes straight to the old generation, freed only by a full collection.
   */
  take(): string[] {
    const texts: string[] = []
    const buffer = this.#buffer
    let start = 0
    while (start < this.#length) {
      let end = Math.min(start + TEXT_BYTES, this.#length)
      if (end < this.#length) {
        // A line ends in "\n" (byte 10, never inside a multi-byte UTF-8 character).
        const before = buffer.lastIndexOf(NEWLINE, end - 1)
        const after = before >= start ? before : buffer.indexOf(NEWLINE, end)
        end = after < 0 || after >= this.#length ? this.#length : after + 1
      }
      texts.push(this.#decoder.decode(buffer.subarray(start, end)))
      start = end
    }
    this.#length = 0
    if (this.#buffer.length > KEEP_BYTES) this.#buffer = new Uint8Array(INITIAL_BYTES)
    return texts
  }
}

const INITIAL_BYTES = 1 << 20
const KEEP_BYTES = 8 << 20
const TEXT_BYTES = 32 << 10
const NEWLINE = 10
/** pglite's own '/dev/blob' is device (64, 0); ours is the next free one. */
const DEVICE_MAJOR = 64

interface EmscriptenDevices {
  makedev(major: number, minor: number): number
  registerDevice(dev: number, ops: Record<string, unknown>): void
  mkdev(path: string, dev: number): void
  devices: Record<number, unknown>
  analyzePath(path: string): { exists: boolean }
}

const sinks = new WeakMap<object, { path: string; sink: CopySink }>()

function sinkOf(database: EmbeddedDatabase): { path: string; sink: CopySink } {
  let found = sinks.get(database.engine)
  if (!found) {
    const fs = database.engine.Module.FS as unknown as EmscriptenDevices
    const sink = new CopySink()
    let minor = 1
    while (fs.devices[fs.makedev(DEVICE_MAJOR, minor)]) minor++
    let path = '/dev/tracker-copy'
    for (let n = 2; fs.analyzePath(path).exists; n++) path = `/dev/tracker-copy-${n}`
    const dev = fs.makedev(DEVICE_MAJOR, minor)
    fs.registerDevice(dev, {
      open: () => {},
      close: () => {},
      read: () => 0,
      llseek: (_stream: unknown, offset: number) => offset,
      write: (_stream: unknown, data: Uint8Array, offset: number, length: number) =>
        sink.write(data, offset, length),
    })
    fs.mkdev(path, dev)
    found = { path, sink }
    sinks.set(database.engine, found)
  }
  return found
}

/**
 * COPY (statement) TO the engine's copy device in COPY's text format (UTF-8), holding the engine's
 * mutex as every statement does; its output as text, in pieces of whole lines (CopySink.take).
 */
export async function copyText(database: EmbeddedDatabase, statement: string): Promise<string[]> {
  return database.engineMutex.run(async () => {
    const { path, sink } = sinkOf(database)
    sink.reset()
    try {
      await database.engine.query(`COPY (${statement}) TO '${path}' WITH (FORMAT text, ENCODING 'UTF8')`)
      return sink.take()
    } finally {
      sink.reset()
    }
  })
}
