import { createReadStream } from 'node:fs'
import { type FileHandle, open } from 'node:fs/promises'

/**
 * A small streaming reader and writer of POSIX ustar archives: enough for a data directory (regular
 * files and directories, paths up to 255 bytes, files up to 8 GiB), without a dependency. Files are
 * streamed, never held in memory whole, so a large data directory costs no more memory than a small one.
 */

const BLOCK = 512
const MAX_SIZE = 8 ** 11 - 1

export interface TarEntry {
  /** Relative, "/"-separated; directories without a trailing slash. */
  path: string
  type: 'file' | 'directory'
  mode: number
  size: number
  mtime: Date
}

function writeString(header: Buffer, value: string, offset: number, length: number): void {
  const bytes = Buffer.from(value, 'utf8')
  if (bytes.length > length) throw new Error(`tar: "${value}" does not fit ${length} bytes`)
  bytes.copy(header, offset)
}

function writeOctal(header: Buffer, value: number, offset: number, length: number): void {
  writeString(header, `${value.toString(8).padStart(length - 1, '0')}\0`, offset, length)
}

/** ustar splits a long path into a prefix (up to 155 bytes) and a name (up to 100) at a slash. */
function splitPath(path: string): { prefix: string; name: string } {
  if (Buffer.byteLength(path) <= 100) return { prefix: '', name: path }
  for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
    const prefix = path.slice(0, i)
    const name = path.slice(i + 1)
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return { prefix, name }
  }
  throw new Error(`tar: the path ${path} is too long for a ustar archive`)
}

export function tarHeader(entry: TarEntry): Buffer {
  if (entry.size > MAX_SIZE) throw new Error(`tar: ${entry.path} is larger than 8 GiB`)
  const header = Buffer.alloc(BLOCK)
  const { prefix, name } = splitPath(entry.type === 'directory' ? `${entry.path}/` : entry.path)
  writeString(header, name, 0, 100)
  writeOctal(header, entry.mode & 0o7777, 100, 8)
  writeOctal(header, 0, 108, 8)
  writeOctal(header, 0, 116, 8)
  writeOctal(header, entry.type === 'file' ? entry.size : 0, 124, 12)
  writeOctal(header, Math.floor(entry.mtime.getTime() / 1000), 136, 12)
  header.fill(0x20, 148, 156)
  header[156] = entry.type === 'file' ? 0x30 : 0x35
  writeString(header, 'ustar\0', 257, 6)
  writeString(header, '00', 263, 2)
  writeString(header, prefix, 345, 155)
  let sum = 0
  for (const byte of header) sum += byte
  writeString(header, `${sum.toString(8).padStart(6, '0')}\0 `, 148, 8)
  return header
}

const padding = (size: number) => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK)

/** The bytes of an archive: each entry's header, then its file's content (read from `source`). */
export async function* tarStream(
  entries: AsyncIterable<TarEntry & { source?: string; content?: Buffer }>,
): AsyncGenerator<Buffer> {
  for await (const entry of entries) {
    yield tarHeader(entry)
    if (entry.type !== 'file') continue
    let written = 0
    if (entry.content) {
      written = entry.content.length
      yield entry.content
    } else if (entry.source) {
      for await (const chunk of createReadStream(entry.source)) {
        written += (chunk as Buffer).length
        yield chunk as Buffer
      }
    }
    // A file that changed size while being read would corrupt the archive: nothing may write to
    // the data directory while it is archived (its lock is held).
    if (written !== entry.size) throw new Error(`tar: ${entry.path} changed while it was archived`)
    yield padding(entry.size)
  }
  yield Buffer.alloc(BLOCK * 2)
}

function readString(header: Buffer, offset: number, length: number): string {
  const field = header.subarray(offset, offset + length)
  const end = field.indexOf(0)
  return field.subarray(0, end === -1 ? length : end).toString('utf8')
}

function readOctal(header: Buffer, offset: number, length: number): number {
  const text = readString(header, offset, length).trim()
  return text ? Number.parseInt(text, 8) : 0
}

/** Pulls exactly `n` bytes at a time out of a stream of chunks. */
class ChunkReader {
  readonly #chunks: AsyncIterator<Buffer>
  #buffer: Buffer = Buffer.alloc(0)
  constructor(source: AsyncIterable<Buffer>) {
    this.#chunks = source[Symbol.asyncIterator]()
  }

  /** Up to `n` bytes (fewer only at the end of the stream). */
  async read(n: number): Promise<Buffer> {
    while (this.#buffer.length < n) {
      const next = await this.#chunks.next()
      if (next.done) break
      this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, next.value]) : next.value
    }
    const out = this.#buffer.subarray(0, n)
    this.#buffer = this.#buffer.subarray(out.length)
    return out
  }

  /** What is at hand, up to `max` bytes, without gathering more (empty only at the end). */
  async readSome(max: number): Promise<Buffer> {
    if (this.#buffer.length === 0) {
      const next = await this.#chunks.next()
      if (next.done) return Buffer.alloc(0)
      this.#buffer = next.value
    }
    const out = this.#buffer.subarray(0, max)
    this.#buffer = this.#buffer.subarray(out.length)
    return out
  }
}

export interface TarReadEntry extends TarEntry {
  /** The file's content, in pieces; must be consumed (or skipped) before the next entry. */
  chunks(): AsyncGenerator<Buffer>
}

/** The entries of an archive, in order. Refuses paths that would leave the target directory. */
export async function* readTar(source: AsyncIterable<Buffer>): AsyncGenerator<TarReadEntry> {
  const reader = new ChunkReader(source)
  for (;;) {
    const header = await reader.read(BLOCK)
    if (header.length < BLOCK) throw new Error('tar: the archive ends in the middle of an entry (truncated?)')
    if (header.every((byte) => byte === 0)) return
    let sum = 0
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!
    if (sum !== readOctal(header, 148, 8))
      throw new Error('tar: a header checksum is wrong (not a backup, or damaged)')
    const prefix = readString(header, 345, 155)
    const name = readString(header, 0, 100)
    const path = (prefix ? `${prefix}/${name}` : name).replace(/\/+$/, '')
    if (!path || path.startsWith('/') || path.split('/').some((part) => part === '..' || part === '')) {
      throw new Error(`tar: refusing the entry "${path}" (outside the target directory)`)
    }
    const typeflag = String.fromCharCode(header[156]!)
    const type = typeflag === '5' ? 'directory' : typeflag === '0' || typeflag === '\0' ? 'file' : null
    if (!type) throw new Error(`tar: ${path} is neither a file nor a directory (type ${typeflag})`)
    const size = type === 'file' ? readOctal(header, 124, 12) : 0
    let consumed = false
    const entry: TarReadEntry = {
      path,
      type,
      mode: readOctal(header, 100, 8),
      size,
      mtime: new Date(readOctal(header, 136, 12) * 1000),
      async *chunks() {
        consumed = true
        for (let left = size; left > 0; ) {
          const piece = await reader.readSome(left)
          if (piece.length === 0) throw new Error(`tar: the archive ends inside ${path} (truncated?)`)
          left -= piece.length
          yield piece
        }
        await reader.read(padding(size).length)
      },
    }
    yield entry
    if (!consumed) for await (const _ of entry.chunks());
  }
}

/** Writes an entry's content to `path`, streaming. */
export async function writeEntryTo(entry: TarReadEntry, path: string): Promise<void> {
  const handle: FileHandle = await open(path, 'w', entry.mode & 0o777 || 0o600)
  try {
    for await (const chunk of entry.chunks()) await handle.write(chunk)
  } finally {
    await handle.close()
  }
}
